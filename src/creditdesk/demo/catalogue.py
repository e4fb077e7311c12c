"""The demo's plans: the catalogue, and a plan sized to the org past the catalogue's sizes."""

from __future__ import annotations

from ..models import Plan

# Small teams use the catalogue plans; past these sizes the org gets a plan sized to it, so
# the story (a forfeit, then rollover drained, then recharges) reads the same at any scale.
TEAM_MAX_MEMBERS = 30
BUSINESS_MAX_MEMBERS = 120
ENTERPRISE_CREDITS_PER_MEMBER = 4_000


def round_to(value: float, step: int) -> int:
    """`value` to the nearest multiple of `step`, and at least one step."""
    return max(step, round(value / step) * step)


def catalogue(members: int) -> tuple[list[Plan], str, str]:
    """Every plan, the org's plan, and the one its owner has scheduled next (the same
    allowance billed yearly, which costs less)."""
    plans = [
        Plan(id="free", name="Free", base_credits_per_month=1_000, rollover_cap=0,
             billing_period="monthly", price_cents=0),
        Plan(id="starter", name="Starter", base_credits_per_month=20_000, rollover_cap=10_000,
             billing_period="monthly", price_cents=9_900),
        Plan(id="starter-annual", name="Starter (annual)", base_credits_per_month=20_000,
             rollover_cap=10_000, billing_period="annual", price_cents=99_000),
        Plan(id="team", name="Team", base_credits_per_month=100_000, rollover_cap=50_000,
             billing_period="monthly", price_cents=49_900),
        Plan(id="team-annual", name="Team (annual)", base_credits_per_month=100_000,
             rollover_cap=50_000, billing_period="annual", price_cents=499_000),
        Plan(id="business", name="Business", base_credits_per_month=400_000,
             rollover_cap=200_000, billing_period="monthly", price_cents=189_900),
        Plan(id="business-annual", name="Business (annual)", base_credits_per_month=400_000,
             rollover_cap=200_000, billing_period="annual", price_cents=1_899_000),
    ]
    if members <= TEAM_MAX_MEMBERS:
        return plans, "team", "team-annual"
    if members <= BUSINESS_MAX_MEMBERS:
        return plans, "business", "business-annual"
    base = round_to(members * ENTERPRISE_CREDITS_PER_MEMBER, 10_000)
    monthly_cents = round_to(base / 2 * 0.95, 100)  # 200 credits = $1, a 5% volume discount
    seats = f"{members:,} seats"
    plans.append(Plan(id="enterprise", name=f"Enterprise ({seats})", base_credits_per_month=base,
                      rollover_cap=base // 2, billing_period="monthly",
                      price_cents=monthly_cents))
    plans.append(Plan(id="enterprise-annual", name=f"Enterprise annual ({seats})",
                      base_credits_per_month=base, rollover_cap=base // 2,
                      billing_period="annual", price_cents=monthly_cents * 10))
    return plans, "enterprise", "enterprise-annual"
