"""Alerts in the engine (billing-rules.md, "Alerts"), on every store.

acme (team plan: 1,000 base a month, rollover cap 500, $49/month) starts with 1,000
credits; ann owns it, bob is an admin, cat a member."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from creditdesk.errors import (
    InsufficientCredits,
    InvalidRequest,
    MemberLimitReached,
    NotFound,
    PaymentDeclined,
    PermissionDenied,
)


def kinds(world, account="acme"):
    """(kind, threshold, user_id) of every alert, oldest first."""
    return [(a.kind, a.threshold, a.user_id)
            for a in reversed(world.session("ann").alerts(account, limit=1000))]


def spend(world, keys, credits, user="ann"):
    return world.session(user).record_usage("acme", credits, campaign="c",
                                            idempotency_key=keys())


# --- balance thresholds -------------------------------------------------------------------

def test_a_debit_raises_each_threshold_it_crosses_once(world, keys):
    ann = world.session("ann")
    ann.configure_alerts("acme", balance_below=[800, 500], member_usage_percent=[])
    spend(world, keys, 100)                       # 1,000 -> 900: nothing
    assert kinds(world) == []
    spend(world, keys, 150)                       # 900 -> 750: below 800
    assert kinds(world) == [("balance_below", 800, None)]
    spend(world, keys, 50)                        # still below 800: nothing more
    spend(world, keys, 400)                       # 700 -> 300: below 500
    assert kinds(world) == [("balance_below", 800, None), ("balance_below", 500, None)]
    latest = ann.alerts("acme")[0]
    assert latest.balance_after == 300 and latest.at == world.now()
    assert "500" in latest.message and "$" not in latest.message


def test_one_debit_across_two_thresholds_raises_both(world, keys):
    world.session("ann").configure_alerts("acme", balance_below=[900, 600],
                                          member_usage_percent=[])
    spend(world, keys, 500)
    assert kinds(world) == [("balance_below", 600, None), ("balance_below", 900, None)]


def test_a_threshold_re_arms_when_the_balance_is_back(world, keys):
    ann = world.session("ann")
    ann.configure_alerts("acme", balance_below=[800], member_usage_percent=[])
    spend(world, keys, 300)                       # 700: raised
    ann.purchase_credits("acme", 200, idempotency_key=keys())     # 900: re-armed
    spend(world, keys, 50)                        # 850: still above, nothing
    spend(world, keys, 100)                       # 750: raised again
    assert kinds(world) == [("balance_below", 800, None)] * 2


def test_reaching_exactly_the_threshold_is_not_below_it(world, keys):
    world.session("ann").configure_alerts("acme", balance_below=[800],
                                          member_usage_percent=[])
    spend(world, keys, 200)                       # exactly 800
    assert kinds(world) == []
    spend(world, keys, 1)
    assert kinds(world) == [("balance_below", 800, None)]


def test_a_threshold_above_todays_balance_raises_nothing_until_reached(world, keys):
    ann = world.session("ann")
    ann.configure_alerts("acme", balance_below=[2_000], member_usage_percent=[])
    spend(world, keys, 100)                       # 900, below 2,000 all along
    assert kinds(world) == []
    ann.purchase_credits("acme", 1_200, idempotency_key=keys())   # 2,100: armed now
    spend(world, keys, 200)                       # 1,900: crossed
    assert kinds(world) == [("balance_below", 2_000, None)]


def test_a_recharge_that_keeps_the_balance_above_raises_nothing(world, keys):
    ann = world.session("ann")
    ann.configure_auto_recharge("acme", enabled=True, threshold=900, amount=400)
    ann.configure_alerts("acme", balance_below=[900], member_usage_percent=[])
    receipt = spend(world, keys, 300)             # 1,000 + 400 - 300 = 1,100
    assert receipt.recharged == 400
    assert kinds(world) == []


def test_a_period_close_is_one_operation(world, keys):
    """Forfeit and grant together: 1,000 base becomes 300 on the starter plan (cap 0).
    200 is never gone below as a whole; 500 is, stamped at the boundary."""
    ann = world.session("ann")
    ann.change_plan("acme", "starter")
    ann.configure_alerts("acme", balance_below=[500, 200], member_usage_percent=[])
    boundary = ann.balance("acme").period_end
    world.advance(days=40)
    alerts = ann.alerts("acme")
    assert [(a.kind, a.threshold) for a in alerts] == [("balance_below", 500)]
    assert alerts[0].at == boundary and alerts[0].balance_after == 300


# --- member usage shares ------------------------------------------------------------------

def test_member_usage_once_per_member_per_period(world, keys):
    ann = world.session("ann")
    ann.set_member_limit("acme", "cat", 100)
    ann.configure_alerts("acme", balance_below=[], member_usage_percent=[80, 50])
    spend(world, keys, 49, "cat")
    assert kinds(world) == []
    spend(world, keys, 1, "cat")                  # 50 of 100: 50%
    spend(world, keys, 29, "cat")                 # 79%
    spend(world, keys, 1, "cat")                  # 80%
    spend(world, keys, 20, "cat")                 # 100%: nothing new
    assert kinds(world) == [("member_usage", 50, "cat"), ("member_usage", 80, "cat")]
    world.advance(days=31)                        # a new period: told again
    spend(world, keys, 100, "cat")                # 0 -> 100% in one debit: both
    assert kinds(world)[2:] == [("member_usage", 50, "cat"), ("member_usage", 80, "cat")]


def test_member_usage_is_not_raised_twice_in_a_period_after_a_limit_change(world, keys):
    ann = world.session("ann")
    ann.set_member_limit("acme", "cat", 100)
    ann.configure_alerts("acme", balance_below=[], member_usage_percent=[50])
    spend(world, keys, 50, "cat")
    ann.set_member_limit("acme", "cat", 200)      # 25% now
    spend(world, keys, 60, "cat")                 # 55% again: already told this period
    assert kinds(world) == [("member_usage", 50, "cat")]


def test_no_limit_never_raises_and_a_lowered_limit_raises_nothing_by_itself(world, keys):
    ann = world.session("ann")
    ann.configure_alerts("acme", balance_below=[], member_usage_percent=[50])
    spend(world, keys, 600, "bob")                # no limit
    assert kinds(world) == []
    ann.set_member_limit("acme", "bob", 100)      # already at 600%: nothing
    assert kinds(world) == []


# --- built-in kinds -----------------------------------------------------------------------

def test_autopilot_paused_on_running_to_paused_only(world, keys):
    ann = world.session("ann")
    spend(world, keys, 1_000)                     # balance 0: paused
    with pytest.raises(InsufficientCredits):
        spend(world, keys, 1)                     # still paused: nothing new
    assert kinds(world) == [("autopilot_paused", None, None)]
    ann.purchase_credits("acme", 200, idempotency_key=keys())     # running again
    with pytest.raises(InsufficientCredits):
        spend(world, keys, 300)                   # refused: paused again
    assert kinds(world) == [("autopilot_paused", None, None)] * 2


def test_member_limit_reached_once_per_period(world, keys):
    world.session("ann").set_member_limit("acme", "cat", 100)
    spend(world, keys, 100, "cat")
    for _ in range(3):
        with pytest.raises(MemberLimitReached):
            spend(world, keys, 1, "cat")
    assert kinds(world) == [("member_limit_reached", None, "cat")]
    world.advance(days=31)
    spend(world, keys, 100, "cat")
    with pytest.raises(MemberLimitReached):
        spend(world, keys, 1, "cat")
    assert kinds(world) == [("member_limit_reached", None, "cat")] * 2


def test_recharge_failed_when_auto_recharge_switches_itself_off(world, keys):
    ann = world.session("ann")
    ann.configure_auto_recharge("acme", enabled=True, threshold=900, amount=200)
    world.payments.decline("acme")
    spend(world, keys, 300)                       # covered by the old balance
    assert kinds(world) == [("recharge_failed", None, None)]
    assert not ann.auto_recharge("acme").enabled
    spend(world, keys, 300)                       # switched off: nothing is tried again
    assert kinds(world) == [("recharge_failed", None, None)]


def test_payment_failed_at_each_close_caught_up_at_its_boundary(world):
    ann = world.session("ann")
    world.payments.decline("acme")
    first_end = ann.balance("acme").period_end
    world.advance(days=95)                        # three closes at once
    alerts = list(reversed(ann.alerts("acme")))
    assert [a.kind for a in alerts] == ["payment_failed"] * 3
    assert alerts[0].at == first_end
    assert [a.at for a in alerts] == sorted({a.at for a in alerts})
    assert ann.subscription("acme").status == "past_due"


def test_a_declined_retry_of_an_invoice_raises_no_alert(world):
    ann = world.session("ann")
    world.payments.decline("acme")
    world.advance(days=31)
    failed = ann.invoices("acme")[0]
    before = kinds(world)
    with pytest.raises(PaymentDeclined):
        ann.pay_invoice("acme", failed.id, idempotency_key="retry")
    assert kinds(world) == before


# --- settings -----------------------------------------------------------------------------

def test_settings_are_sorted_deduplicated_and_admins_read_them(world):
    ann = world.session("ann")
    shown = ann.configure_alerts("acme", balance_below=[500, 100, 500, 300, 100, 200, 400],
                                 member_usage_percent=[90, 50, 90])
    assert shown.balance_below == [100, 200, 300, 400, 500]
    assert shown.member_usage_percent == [50, 90]
    assert world.session("bob").alert_settings("acme") == shown


@pytest.mark.parametrize("balance_below, shares, field", [
    (None, [], "balance_below"),
    ([], None, "member_usage_percent"),
    ([1, 2, 3, 4, 5, 6], [], "balance_below"),
    ([], [10, 20, 30, 40], "member_usage_percent"),
    ([0], [], "balance_below"),
    ([10**12 + 1], [], "balance_below"),
    ([], [101], "member_usage_percent"),
    ([], [0], "member_usage_percent"),
    (["100"], [], "balance_below"),
    ([True], [], "balance_below"),
    ([], [50.0], "member_usage_percent"),
    (500, [], "balance_below"),
])
def test_bad_settings_name_the_field_and_change_nothing(world, balance_below, shares, field):
    ann = world.session("ann")
    ann.configure_alerts("acme", balance_below=[700], member_usage_percent=[50])
    with pytest.raises(InvalidRequest) as refused:
        ann.configure_alerts("acme", balance_below=balance_below,
                             member_usage_percent=shares)
    assert refused.value.field == field
    settings = ann.alert_settings("acme")
    assert (settings.balance_below, settings.member_usage_percent) == ([700], [50])


def test_checks_run_not_found_then_permission_then_input(world):
    for user, call, error in [
        ("dan", "configure", NotFound), ("dan", "read", NotFound), ("dan", "list", NotFound),
        ("bob", "configure", PermissionDenied), ("cat", "read", PermissionDenied),
        ("cat", "list", PermissionDenied), ("ann", "configure", InvalidRequest),
        ("ann", "list", InvalidRequest),
    ]:
        session = world.session(user)
        with pytest.raises(error):
            if call == "configure":
                session.configure_alerts("acme", balance_below="bad",
                                         member_usage_percent=None)
            elif call == "read":
                session.alert_settings("acme")
            else:
                session.alerts("acme", limit=0)


# --- reading ------------------------------------------------------------------------------

def test_alerts_page_newest_first(world, keys):
    ann = world.session("ann")
    ann.set_member_limit("acme", "cat", 10)
    for _ in range(5):
        spend(world, keys, 10, "cat")
        with pytest.raises(MemberLimitReached):
            spend(world, keys, 1, "cat")
        world.advance(days=31)
    everything = ann.alerts("acme")
    assert len(everything) == 5
    ids = [a.id for a in everything]
    assert ids == sorted(ids, reverse=True)
    first = ann.alerts("acme", limit=2)
    rest = ann.alerts("acme", limit=2, before=first[-1].id)
    assert [a.id for a in first + rest] == ids[:4]
    assert len(ann.alerts("acme", limit=5_000)) == 5        # cut to 1,000, not refused
    for bad, field in [({"limit": 0}, "limit"), ({"limit": "5"}, "limit"),
                       ({"before": 0}, "before"), ({"before": "x"}, "before")]:
        with pytest.raises(InvalidRequest) as refused:
            ann.alerts("acme", **bad)
        assert refused.value.field == field


def test_every_alert_has_an_outbox_row_on_sql(world, keys):
    store = world.engine.store
    if store.kind != "sql":
        pytest.skip("the memory store has no outbox")
    import sqlalchemy as sa

    from creditdesk.store.schema import alert_outbox
    world.session("ann").configure_alerts("acme", balance_below=[900],
                                          member_usage_percent=[])
    spend(world, keys, 200)
    alert = world.session("ann").alerts("acme")[0]
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(alert_outbox)).all()
    assert [(r.alert_id, r.account_id) for r in rows] == [(alert.id, "acme")]


# --- concurrency --------------------------------------------------------------------------

def test_racing_debits_across_a_threshold_raise_it_once(world):
    """Many threads take the balance across 500 at once: exactly one balance_below."""
    ann = world.session("ann")
    ann.configure_alerts("acme", balance_below=[500], member_usage_percent=[])
    start = threading.Barrier(8)
    errors = []

    def work(n: int) -> None:
        session = world.session("ann")
        start.wait()
        try:
            for i in range(4):
                session.record_usage("acme", 30, campaign="race",
                                     idempotency_key=f"race-{n}-{i}")
        except Exception as error:  # noqa: BLE001 - reported below, with its thread
            errors.append((n, error))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert ann.balance("acme").total == 1_000 - 8 * 4 * 30
    assert kinds(world) == [("balance_below", 500, None)]


def test_the_clock_between_periods_keeps_alerts_in_order(world, keys):
    ann = world.session("ann")
    ann.configure_alerts("acme", balance_below=[950], member_usage_percent=[])
    spend(world, keys, 100)
    world.advance(days=31)                        # back above 950 with the new grant
    spend(world, keys, 600)
    at = [a.at for a in reversed(ann.alerts("acme"))]
    assert len(at) == 2 and at[0] < at[1] and at[1] - at[0] >= timedelta(days=31)
