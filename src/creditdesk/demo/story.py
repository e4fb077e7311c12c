"""The owner's deliberate acts in the demo's history, each at its instant: a declined card,
auto-recharge, a failed renewal, annual billing scheduled, and the members at their limits.

Each act is a function of the builder (`builder.Builder`), run when the usage written around
it reaches its instant; usage flows on around them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..errors import PaymentDeclined
from .catalogue import round_to

if TYPE_CHECKING:
    from .builder import Builder

Act = Callable[[], None]


def script(b: Builder) -> list[tuple[datetime, Act]]:
    """The owner's acts in time order."""
    span = b.now - b.start
    base = b.org_plan.base_credits_per_month
    pack = round_to(base / 2, 200)
    recharge = round_to(base * 0.2, 200)
    threshold = round_to(base * 0.25, 200)
    cap_cents = recharge // 2 * 3  # room for three recharges a period
    owner, org = b.owner_session, b.org_id

    def declined_then_paid() -> None:
        # The card is declined once (a failed invoice), the owner fixes it in the portal
        # and retries the same request a few minutes later.
        key = b.key("demo-purchase")
        # Any period close due by now bills before the card fails, not during it.
        owner.balance(org)
        b.payments.decline(org, True)
        # Declined on purpose: the failed invoice is what this step is for.
        with suppress(PaymentDeclined):
            owner.purchase_credits(org, pack, idempotency_key=key)
        b.payments.decline(org, False)
        b.at(b.clock() + timedelta(minutes=7))
        owner.purchase_credits(org, pack, idempotency_key=key)

    def renewal_declined() -> None:
        # The card fails again at the last renewal: the subscription invoice is failed,
        # the org is past due (a payment_failed alert), and the owner can pay it now.
        b.payments.decline(org, True)
        owner.balance(org)      # the close bills the new period
        b.payments.decline(org, False)

    def enable_recharge() -> None:
        owner.configure_auto_recharge(org, enabled=True, threshold=threshold,
                                      amount=recharge, monthly_cap_cents=cap_cents)

    def schedule_annual_billing() -> None:
        owner.change_plan(org, b.next_plan)

    hours = timedelta(hours=1)
    acts = [
        (_working_hour(b.start + span * 0.4), declined_then_paid),
        (_working_hour(b.start + span * 0.45), enable_recharge),
        (b.boundaries[b.months], renewal_declined),
        (b.now - timedelta(days=2), schedule_annual_billing),
        (b.now - 4 * hours, lambda: bring_dana_near_her_limit(b)),
        (b.now - 2 * hours, lambda: stop_eli_at_his_limit(b)),
        (b.now - hours, lambda: keep_autopilot_running(b)),
    ]
    return sorted(acts, key=lambda item: item[0])


def _working_hour(instant: datetime) -> datetime:
    return instant.replace(hour=10, minute=30, second=0, microsecond=0)


def bring_dana_near_her_limit(b: Builder) -> None:
    dana = b.people[3].user_id
    usage = b.sessions[3].my_usage(b.org_id)
    if usage.used_this_period > usage.limit * 95 // 100:
        # She outgrew her limit; the owner raised it so she can finish the period.
        b.owner_session.set_member_limit(
            b.org_id, dana, round_to(usage.used_this_period * 10 / 9 + 250, 500))
    else:
        work_until(b, 3, usage.limit * 9 // 10, timedelta(minutes=10))


def stop_eli_at_his_limit(b: Builder) -> None:
    work_until(b, 4, b.sessions[4].my_usage(b.org_id).limit, timedelta(minutes=5))


def work_until(b: Builder, who: int, used: int, pace: timedelta, runs: int = 10) -> None:
    """The person's usual runs, `pace` apart, until their period use reaches `used`
    (the last run takes what is left)."""
    person, session = b.people[who], b.sessions[who]
    left = used - session.my_usage(b.org_id).used_this_period
    for run in range(runs):
        if left <= 0:
            return
        credits = left if run == runs - 1 else min(left, person.next_run(b.rng))
        if not b.record(who, credits, person.next_campaign(b.rng)):
            return
        left -= credits
        b.at(b.clock() + pace)


def keep_autopilot_running(b: Builder) -> None:
    # The first screen should show work flowing: an owner would have topped up by now.
    base = b.org_plan.base_credits_per_month
    balance = b.owner_session.balance(b.org_id)
    if balance.autopilot != "running" or balance.total < base // 5:
        b.owner_session.purchase_credits(b.org_id, round_to(base / 2, 200),
                                         idempotency_key=b.key("demo-purchase"))
