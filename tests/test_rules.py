"""Table tests and properties for the pure rules in creditdesk.rules (billing-rules.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditdesk import rules
from creditdesk.errors import InvalidRequest, PermissionDenied
from creditdesk.models import MAX_CENTS, MAX_CREDITS


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


# --- debits: base first, then rollover, then purchased, all or nothing ---------------------

@pytest.mark.parametrize(("buckets", "credits", "expected"), [
    ((1000, 500, 400), 1, (1, 0, 0)),
    ((1000, 500, 400), 1000, (1000, 0, 0)),
    ((1000, 500, 400), 1001, (1000, 1, 0)),
    ((1000, 500, 400), 1500, (1000, 500, 0)),
    ((1000, 500, 400), 1501, (1000, 500, 1)),
    ((1000, 500, 400), 1900, (1000, 500, 400)),
    ((1000, 500, 400), 1901, None),
    ((0, 500, 400), 600, (0, 500, 100)),
    ((0, 0, 400), 400, (0, 0, 400)),
    ((300, 0, 400), 500, (300, 0, 200)),
    ((0, 0, 0), 1, None),
    ((MAX_CREDITS, 0, 0), MAX_CREDITS, (MAX_CREDITS, 0, 0)),
])
def test_split_debit_order_and_all_or_nothing(buckets, credits, expected) -> None:
    assert rules.split_debit(*buckets, credits) == expected


buckets_st = st.tuples(*(st.integers(0, MAX_CREDITS) for _ in range(3)))


@given(buckets_st, st.integers(1, 3 * MAX_CREDITS))
def test_split_debit_properties(buckets, credits) -> None:
    base, rollover, purchased = buckets
    split = rules.split_debit(base, rollover, purchased, credits)
    if credits > base + rollover + purchased:
        assert split is None
        return
    b, r, p = split
    assert b + r + p == credits
    assert 0 <= b <= base and 0 <= r <= rollover and 0 <= p <= purchased
    # A later bucket is touched only once every earlier one is empty.
    assert r == 0 or b == base
    assert p == 0 or r == rollover


@pytest.mark.parametrize(("used", "credits", "limit", "refused"), [
    (0, 100, None, False),
    (0, 100, 100, False),
    (0, 101, 100, True),
    (99, 1, 100, False),
    (100, 1, 100, True),
    (150, 1, 100, True),   # a limit set below what was already used stops the member
    (0, 1, 0, True),
])
def test_exceeds_limit(used, credits, limit, refused) -> None:
    assert rules.exceeds_limit(used, credits, limit) is refused


# --- periods: monthly, anchored at plan start, clamped at month end -------------------------

@pytest.mark.parametrize(("anchor", "months", "expected"), [
    (at(2027, 1, 31, 10, 30), 1, at(2027, 2, 28, 10, 30)),
    (at(2028, 1, 31, 10, 30), 1, at(2028, 2, 29, 10, 30)),   # leap year
    (at(2027, 1, 31, 10, 30), 2, at(2027, 3, 31, 10, 30)),   # back to the 31st, not Mar 28
    (at(2027, 1, 31, 10, 30), 3, at(2027, 4, 30, 10, 30)),
    (at(2027, 1, 31, 10, 30), 12, at(2028, 1, 31, 10, 30)),
    (at(2027, 1, 31, 10, 30), 13, at(2028, 2, 29, 10, 30)),
    (at(2026, 1, 15, 9), 0, at(2026, 1, 15, 9)),
    (at(2026, 11, 30), 3, at(2027, 2, 28)),
    (at(2026, 12, 31, 23, 59), 1, at(2027, 1, 31, 23, 59)),
    (at(2026, 3, 29), 11, at(2027, 2, 28)),
    (at(2028, 2, 29), 12, at(2029, 2, 28)),
    (at(2028, 2, 29), 48, at(2032, 2, 29)),
])
def test_add_months_clamps_to_month_end(anchor, months, expected) -> None:
    assert rules.add_months(anchor, months) == expected
    assert rules.period_start(anchor, months) == expected


def test_period_start_counts_from_the_anchor_not_the_previous_period() -> None:
    anchor = at(2027, 1, 31, 8)
    starts = [rules.period_start(anchor, i) for i in range(5)]
    assert starts == [at(2027, 1, 31, 8), at(2027, 2, 28, 8), at(2027, 3, 31, 8),
                      at(2027, 4, 30, 8), at(2027, 5, 31, 8)]


@pytest.mark.parametrize(("now", "index"), [
    (at(2027, 1, 31, 10), 0),
    (at(2027, 2, 28, 9, 59), 0),
    (at(2027, 2, 28, 10), 1),          # period_end is exclusive: the boundary starts the next
    (at(2027, 3, 31, 9, 59), 1),
    (at(2027, 3, 31, 10), 2),
    (at(2027, 4, 30, 10), 3),
    (at(2028, 1, 31, 10), 12),
    (at(2026, 12, 1), 0),              # before the anchor
])
def test_period_index_at(now, index) -> None:
    assert rules.period_index_at(at(2027, 1, 31, 10), now) == index


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1),
                    timezones=st.just(UTC)),
       st.integers(0, 500), st.integers(0, 60 * 24 * 31))
def test_period_index_brackets_now(anchor, months, minutes) -> None:
    now = rules.period_start(anchor, months) + timedelta(minutes=minutes)
    index = rules.period_index_at(anchor, now)
    assert rules.period_start(anchor, index) <= now < rules.period_start(anchor, index + 1)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1),
                    timezones=st.just(UTC)), st.integers(0, 300))
def test_period_starts_keep_day_and_time(anchor, months) -> None:
    start = rules.period_start(anchor, months)
    assert (start.hour, start.minute, start.second, start.microsecond) == (
        anchor.hour, anchor.minute, anchor.second, anchor.microsecond)
    assert start.day == anchor.day or start.day < anchor.day and (
        (start + timedelta(days=1)).month != start.month)   # clamped to the month's last day
    assert rules.period_start(anchor, months + 1) > start


def test_period_start_keeps_the_timezone_aware() -> None:
    start = rules.period_start(datetime(2026, 5, 31, 12, tzinfo=timezone.utc), 1)
    assert start.utcoffset() == timedelta(0)


# --- period close: carry, capped rollover, forfeit, new grant --------------------------------

@pytest.mark.parametrize(("base", "rollover", "cap", "grant", "expected"), [
    (800, 0, 500, 1000, (1000, 500, 300)),     # capped, the rest forfeited
    (300, 0, 500, 1000, (1000, 300, 0)),       # cap partly used
    (300, 100, 500, 1000, (1000, 400, 0)),
    (1000, 500, 500, 1000, (1000, 500, 1000)),  # rollover is capped at every close
    (0, 500, 500, 1000, (1000, 500, 0)),
    (0, 0, 500, 1000, (1000, 0, 0)),
    (700, 0, 0, 300, (300, 0, 700)),           # no rollover on this plan
    (400, 200, 5000, 2000, (2000, 600, 0)),
])
def test_close_period(base, rollover, cap, grant, expected) -> None:
    assert rules.close_period(base, rollover, cap, grant) == expected


@given(st.integers(0, MAX_CREDITS), st.integers(0, MAX_CREDITS), st.integers(0, MAX_CREDITS),
       st.integers(0, MAX_CREDITS))
def test_close_period_conserves_credits(base, rollover, cap, grant) -> None:
    new_base, kept, forfeited = rules.close_period(base, rollover, cap, grant)
    assert new_base == grant
    assert kept + forfeited == base + rollover
    assert 0 <= kept <= cap and forfeited >= 0
    assert forfeited == 0 or kept == cap


# --- billing: monthly every period, annual every twelfth, credits monthly for both ----------

@pytest.mark.parametrize(("index", "start", "period", "billed"), [
    (0, 0, "monthly", True), (1, 0, "monthly", True), (7, 3, "monthly", True),
    (2, 3, "monthly", False),
    (0, 0, "annual", True), (1, 0, "annual", False), (11, 0, "annual", False),
    (12, 0, "annual", True), (24, 0, "annual", True), (15, 3, "annual", True),
    (14, 3, "annual", False), (3, 3, "annual", True),
])
def test_is_billing_period(index, start, period, billed) -> None:
    assert rules.is_billing_period(index, start, period) is billed


@pytest.mark.parametrize(("index", "start", "period", "expected"), [
    (0, 0, "monthly", 1), (5, 0, "monthly", 6), (5, 5, "monthly", 6),
    (0, 0, "annual", 12), (11, 0, "annual", 12), (12, 0, "annual", 24),
    (4, 3, "annual", 15),
])
def test_next_billing_index(index, start, period, expected) -> None:
    assert rules.next_billing_index(index, start, period) == expected


# --- auto-recharge: as many amounts as needed, within the monthly cap ------------------------

@pytest.mark.parametrize(("balance_after", "threshold", "amount", "packs"), [
    (500, 500, 200, 0),      # at the threshold: nothing to buy
    (501, 500, 200, 0),
    (499, 500, 200, 1),
    (100, 500, 200, 2),
    (101, 500, 200, 2),
    (99, 500, 200, 3),
    (0, 500, 1000, 1),
    (-300, 500, 200, 4),     # the debit is bigger than the balance: cover it and reach 500
    (-1, 0, 200, 1),
    (0, 0, 200, 0),
])
def test_recharge_need(balance_after, threshold, amount, packs) -> None:
    assert rules.recharge_need(balance_after, threshold, amount) == packs


@given(st.integers(-MAX_CREDITS, MAX_CREDITS), st.integers(0, MAX_CREDITS),
       st.integers(1, 5000).map(lambda n: n * 200))
def test_recharge_need_is_the_fewest_packs(balance_after, threshold, amount) -> None:
    packs = rules.recharge_need(balance_after, threshold, amount)
    assert balance_after + packs * amount >= threshold
    assert packs == 0 or balance_after + (packs - 1) * amount < threshold


@pytest.mark.parametrize(("packs", "amount", "cap", "spent", "allowed"), [
    (3, 200, None, 10_000, 3),     # no cap
    (3, 200, 300, 0, 3),           # 3 x $1 = $3, exactly the cap
    (3, 200, 250, 0, 2),           # only whole amounts that keep spend at or under the cap
    (3, 200, 250, 100, 1),         # cap partly used
    (3, 200, 250, 200, 0),         # 50 cents left: not one more amount
    (3, 200, 250, 250, 0),
    (0, 200, 250, 0, 0),
    (5, 1000, 2000, 500, 3),       # $5 each, $15 of room
])
def test_recharge_allowed(packs, amount, cap, spent, allowed) -> None:
    assert rules.recharge_allowed(packs, amount, cap, spent) == allowed


# --- usage history buckets: UTC days, Monday weeks, months ------------------------------------

@pytest.mark.parametrize(("moment", "granularity", "start"), [
    (at(2026, 3, 4, 15, 30), "day", at(2026, 3, 4)),
    (at(2026, 3, 4, 15, 30), "week", at(2026, 3, 2)),      # Wednesday -> Monday
    (at(2026, 3, 2, 0, 0), "week", at(2026, 3, 2)),        # Monday stays
    (at(2026, 3, 8, 23, 59), "week", at(2026, 3, 2)),      # Sunday -> the Monday before
    (at(2026, 3, 1, 12), "week", at(2026, 2, 23)),         # across a month
    (at(2026, 1, 1, 12), "week", at(2025, 12, 29)),        # across a year
    (at(2026, 3, 31, 23, 59), "month", at(2026, 3, 1)),
    (at(2026, 3, 1), "month", at(2026, 3, 1)),
])
def test_bucket_start(moment, granularity, start) -> None:
    assert rules.bucket_start(moment, granularity) == start


# --- who can do what ---------------------------------------------------------------------------

ROLE_TABLE = {
    # action: (member, admin, owner) per billing-rules.md "Who can do what"
    "record_usage": (True, True, True),
    "view_own_usage": (True, True, True),
    "view_balance": (False, True, True),
    "view_usage_history": (False, True, True),
    "view_members": (False, True, True),
    "view_subscription": (False, True, True),
    "view_auto_recharge": (False, True, True),
    "view_ledger": (False, True, True),
    "purchase_credits": (False, False, True),
    "change_plan": (False, False, True),
    "manage_auto_recharge": (False, False, True),
    "set_member_limit": (False, False, True),
    "open_portal": (False, False, True),
    "view_invoices": (False, False, True),
    "pay_invoice": (False, False, True),
    "view_alerts": (False, True, True),
    "set_alerts": (False, False, True),
    "manage_webhooks": (False, False, True),
}


def test_permission_table_covers_every_action() -> None:
    assert set(rules.REQUIRED_ROLE) == set(ROLE_TABLE)


@pytest.mark.parametrize("action", sorted(ROLE_TABLE))
@pytest.mark.parametrize("role", ["member", "admin", "owner"])
def test_role_allows(action: str, role: str) -> None:
    allowed = ROLE_TABLE[action][("member", "admin", "owner").index(role)]
    assert rules.role_allows(role, action) is allowed
    if allowed:
        rules.require_role(role, action)
    else:
        with pytest.raises(PermissionDenied) as refused:
            rules.require_role(role, action)
        needed = "member" if ROLE_TABLE[action][0] else "admin" if ROLE_TABLE[action][1] \
            else "owner"
        assert refused.value.required_role == needed
        assert refused.value.code == "permission_denied"
        assert needed.lower() in str(refused.value).lower()


def test_roles_are_ordered() -> None:
    assert rules.ROLE_RANK["member"] < rules.ROLE_RANK["admin"] < rules.ROLE_RANK["owner"]


# --- validation of amounts from outside ---------------------------------------------------------

@pytest.mark.parametrize("value", ["10", 10.0, True, False, None, b"10", [10]])
def test_check_credits_refuses_wrong_types(value) -> None:
    with pytest.raises(InvalidRequest) as refused:
        rules.check_credits(value, "credits")
    assert refused.value.field == "credits"


@pytest.mark.parametrize(("value", "kwargs"), [
    (0, {}), (-1, {}), (-200, {"whole_dollars": True}), (MAX_CREDITS + 1, {}),
    (MAX_CREDITS + 200, {"whole_dollars": True}), (10**30, {}),
    (100, {"whole_dollars": True}), (201, {"whole_dollars": True}), (-1, {"allow_zero": True}),
])
def test_check_credits_refuses_bad_amounts(value, kwargs) -> None:
    with pytest.raises(InvalidRequest) as refused:
        rules.check_credits(value, "amount", **kwargs)
    assert refused.value.field == "amount"


@pytest.mark.parametrize(("value", "kwargs"), [
    (1, {}), (MAX_CREDITS, {}), (0, {"allow_zero": True}), (200, {"whole_dollars": True}),
    (MAX_CREDITS, {"whole_dollars": True}),
])
def test_check_credits_accepts_good_amounts(value, kwargs) -> None:
    assert rules.check_credits(value, "credits", **kwargs) == value


@pytest.mark.parametrize("value", ["100", 1.0, True, None, 0, -5, MAX_CENTS + 1])
def test_check_cents_refuses(value) -> None:
    with pytest.raises(InvalidRequest) as refused:
        rules.check_cents(value, "monthly_cap_cents")
    assert refused.value.field == "monthly_cap_cents"


@pytest.mark.parametrize("value", [1, MAX_CENTS])
def test_check_cents_accepts(value) -> None:
    assert rules.check_cents(value, "monthly_cap_cents") == value


@pytest.mark.parametrize("value", [None, 5, "", "   ", "x" * 201])
def test_check_text_refuses(value) -> None:
    with pytest.raises(InvalidRequest) as refused:
        rules.check_text(value, "campaign")
    assert refused.value.field == "campaign"


@pytest.mark.parametrize("value", ["2026-01-01T00:00:00+00:00", datetime(2026, 1, 1), None])
def test_check_instant_refuses(value) -> None:
    with pytest.raises(InvalidRequest) as refused:
        rules.check_instant(value, "start")
    assert refused.value.field == "start"


def test_check_instant_accepts_an_aware_datetime() -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    assert rules.check_instant(moment, "start") == moment
