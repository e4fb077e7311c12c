"""Table tests for the pure alert rules (billing-rules.md, "Alerts"), and a property."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from creditdesk import alerting as al
from creditdesk.errors import InvalidRequest
from creditdesk.models import Alert, AlertSettings

# --- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize("below, shares, want_below, want_shares", [
    ([], [], [], []),
    ([50_000, 1_000, 50_000], [80, 50, 80], [1_000, 50_000], [50, 80]),
    ([7] * 9, [100] * 4, [7], [100]),  # duplicates dropped before counting
    ([1, 10**12], [1, 100], [1, 10**12], [1, 100]),
    ((5, 4, 3, 2, 1), (3, 2, 1), [1, 2, 3, 4, 5], [1, 2, 3]),
])
def test_settings_are_sorted_and_deduplicated(below, shares, want_below, want_shares):
    got = al.check_alert_settings(below, shares)
    assert got == AlertSettings(balance_below=want_below, member_usage_percent=want_shares)


@pytest.mark.parametrize("below, shares, field, words", [
    (None, [], "balance_below", "required"),
    ([], None, "member_usage_percent", "required"),
    (5, [], "balance_below", "list"),
    ("100", [], "balance_below", "list"),
    ({1: 2}, [], "balance_below", "list"),
    ([True], [], "balance_below", "bool"),
    ([1.0], [], "balance_below", "float"),
    (["10"], [], "balance_below", "str"),
    ([0], [], "balance_below", "from 1"),
    ([-5], [], "balance_below", "from 1"),
    ([10**12 + 1], [], "balance_below", "from 1"),
    ([1, 2, 3, 4, 5, 6], [], "balance_below", "at most 5"),
    ([], [0], "member_usage_percent", "from 1"),
    ([], [101], "member_usage_percent", "from 1"),
    ([], [False], "member_usage_percent", "bool"),
    ([], [50.0], "member_usage_percent", "float"),
    ([], [10, 20, 30, 40], "member_usage_percent", "at most 3"),
    ([1, 2, 3, 4, 5, 6], [10, 20, 30, 40], "balance_below", "at most 5"),  # first field first
])
def test_bad_settings_are_refused_naming_the_field(below, shares, field, words):
    with pytest.raises(InvalidRequest) as caught:
        al.check_alert_settings(below, shares)
    assert caught.value.field == field
    assert words in caught.value.message


def test_models_are_frozen_and_strict():
    s = AlertSettings(balance_below=[1], member_usage_percent=[])
    with pytest.raises(ValidationError):
        s.balance_below = [2]  # type: ignore[misc]
    with pytest.raises(ValidationError):
        AlertSettings(balance_below=["1"], member_usage_percent=[])
    with pytest.raises(ValidationError):
        AlertSettings(balance_below=[1, 2, 3, 4, 5, 6], member_usage_percent=[])
    with pytest.raises(ValidationError):
        Alert(id=1, at=datetime(2026, 1, 1, tzinfo=UTC), kind="balance_low", user_id=None,
              threshold=None, balance_after=0, message="x")
    a = Alert(id=1, at=datetime(2026, 1, 1, tzinfo=UTC), kind="member_usage", user_id="ann",
              threshold=80, balance_after=10, message="m")
    assert Alert.model_validate_json(a.model_dump_json()) == a


# --- balance thresholds -----------------------------------------------------------------


@pytest.mark.parametrize("thresholds, before, after, crossed", [
    ([1_000], 1_000, 999, [1_000]),   # from exactly X to below
    ([1_000], 1_001, 1_000, []),      # landing on X is not below it
    ([1_000], 999, 500, []),          # already below
    ([1_000], 500, 2_000, []),        # upward
    ([100, 500, 1_000], 2_000, 50, [100, 500, 1_000]),  # one debit, several thresholds
    ([100, 500, 1_000], 600, 400, [500]),
    ([1], 1, 0, [1]),
    ([], 10, 0, []),
])
def test_balance_crossings(thresholds, before, after, crossed):
    assert al.balance_crossings(thresholds, before, after) == crossed


@pytest.mark.parametrize("thresholds, balance, armed", [
    ([100, 500, 1_000], 500, {100, 500}),   # at X counts as "at or above"
    ([100, 500, 1_000], 99, set()),
    ([100], 10**6, {100}),
    ([], 5, set()),
])
def test_armed_on_configure(thresholds, balance, armed):
    assert al.armed_on_configure(thresholds, balance) == frozenset(armed)


@pytest.mark.parametrize("armed, before, after, raised, armed_after", [
    ({1_000}, 1_200, 900, [1_000], set()),      # crossing an armed threshold
    (set(), 1_200, 900, [], set()),             # disarmed: the race's second debit
    ({1_000}, 1_200, 1_100, [], {1_000}),       # above it still
    (set(), 900, 1_000, [], {1_000}),           # back at X re-arms
    (set(), 900, 950, [], set()),               # not back yet
])
def test_advance_balance_alerts(armed, before, after, raised, armed_after):
    got = al.advance_balance_alerts([1_000], frozenset(armed), before, after)
    assert got == (raised, frozenset(armed_after))


def test_threshold_set_above_the_balance_waits_until_it_was_reached():
    armed = al.armed_on_configure([1_000], 400)  # set above today's balance
    raised, armed = al.advance_balance_alerts([1_000], armed, 400, 300)
    assert raised == []
    raised, armed = al.advance_balance_alerts([1_000], armed, 300, 1_500)  # a purchase
    assert raised == [] and armed == {1_000}
    raised, armed = al.advance_balance_alerts([1_000], armed, 1_500, 800)
    assert raised == [1_000] and armed == frozenset()


def test_racing_debits_raise_once_through_the_stored_armed_set():
    # Two workers each saw the balance at 1,100 and debit 200: with the armed set stored
    # with the balance, the second finds 1,000 disarmed and raises nothing.
    armed = frozenset({1_000})
    first, armed = al.advance_balance_alerts([1_000], armed, 1_100, 900)
    second, armed = al.advance_balance_alerts([1_000], armed, 1_100, 900)
    assert (first, second) == ([1_000], [])


def test_recharge_that_keeps_the_balance_at_x_raises_nothing():
    # A debit of 500 from 1,200 with a recharge of 400 on the way ends at 1,100.
    assert al.advance_balance_alerts([1_000], frozenset({1_000}), 1_200, 1_100)[0] == []


def test_a_period_close_counts_as_one_operation():
    # Forfeit takes 5,000 -> 200, the grant brings it to 3,000: no crossing of 1,000.
    assert al.advance_balance_alerts([1_000], frozenset({1_000}), 5_000, 3_000)[0] == []
    assert al.advance_balance_alerts([1_000], frozenset({1_000}), 5_000, 600)[0] == [1_000]


# --- member usage shares ----------------------------------------------------------------


@pytest.mark.parametrize("shares, limit, before, after, told, raised", [
    ([80], 1_000, 799, 800, [], [80]),          # reached at exactly 80%
    ([80], 1_000, 700, 799, [], []),
    ([80], None, 0, 10**6, [], []),             # no limit, never
    ([80], 1_000, 799, 800, [80], []),          # once per member per period
    ([50, 80, 100], 1_000, 0, 1_000, [], [50, 80, 100]),
    ([50, 80, 100], 1_000, 600, 900, [50], [80]),
    ([80], 500, 450, 460, [], []),              # already past (a limit lowered): nothing
    ([1], 3, 0, 1, [], [1]),                    # 1*100 >= 1*3
    ([34], 3, 0, 1, [], []),                    # 100 < 102: integers, no rounding up
    ([33], 3, 0, 1, [], [33]),
    ([10], 0, 0, 0, [], []),                    # limit 0: reached before any debit
])
def test_member_usage_crossings(shares, limit, before, after, told, raised):
    assert al.member_usage_crossings(shares, limit, before, after, told) == raised


# --- built-in kinds ---------------------------------------------------------------------


@pytest.mark.parametrize("before, after, raised", [
    ("running", "paused", True), ("paused", "paused", False),
    ("paused", "running", False), ("running", "running", False),
])
def test_autopilot_paused(before, after, raised):
    assert al.autopilot_paused(before, after) is raised


@pytest.mark.parametrize("refused, before, raised", [
    (True, False, True), (True, True, False), (False, False, False),
])
def test_member_limit_alert_only_on_the_first_refusal(refused, before, raised):
    assert al.member_limit_alert_due(refused, before) is raised


@pytest.mark.parametrize("on_before, on_after, declined, raised", [
    (True, False, True, True), (False, False, True, False),
    (True, False, False, False),  # the owner switched it off: no alert
    (True, True, False, False),
])
def test_recharge_failed(on_before, on_after, declined, raised):
    assert al.recharge_failed(on_before, on_after, declined) is raised


@pytest.mark.parametrize("kind, declined, at_close, raised", [
    ("subscription", True, True, True),
    ("subscription", True, False, False),  # a declined pay_invoice retry raises nothing
    ("subscription", False, True, False),
    ("purchase", True, False, False),
    ("recharge", True, False, False),
])
def test_payment_failed(kind, declined, at_close, raised):
    assert al.payment_failed(kind, declined, at_close) is raised


# --- wording ----------------------------------------------------------------------------

MONEY = re.compile(r"\$|\bcents?\b|\bdollars?\b|USD", re.IGNORECASE)


def every_draft():
    yield al.balance_draft(50_000)
    yield al.member_usage_draft("ann", "Ann Lee", 80)
    yield al.builtin_draft("member_limit_reached", user_id="ann", name="Ann Lee")
    for kind in ("recharge_failed", "payment_failed", "autopilot_paused"):
        yield al.builtin_draft(kind)


@pytest.mark.parametrize("draft", list(every_draft()), ids=lambda d: d.kind)
def test_messages_are_sentences_naming_no_money(draft):
    assert draft.message[0].isupper() and draft.message.endswith(".")
    assert not MONEY.search(draft.message)


def test_drafts_carry_kind_member_and_threshold():
    assert al.balance_draft(50_000) == ("balance_below", None, 50_000,
                                        "The balance fell below 50,000 credits.")
    assert al.member_usage_draft("ann", "Ann", 80)[:3] == ("member_usage", "ann", 80)
    assert al.builtin_draft("autopilot_paused")[:3] == ("autopilot_paused", None, None)
    with pytest.raises(ValueError):
        al.builtin_draft("member_limit_reached")
    with pytest.raises(ValueError):
        al.builtin_draft("balance_below")
    drafts, armed = al.drafts_for_balance([100, 1_000], frozenset({100, 1_000}), 1_500, 50)
    assert [d.threshold for d in drafts] == [100, 1_000] and armed == frozenset()


# --- property: each alert is an armed downward crossing, none missing -------------------

steps = st.lists(st.one_of(
    st.tuples(st.just("set"), st.lists(st.integers(1, 2_000), max_size=8)),
    st.tuples(st.just("move"), st.integers(0, 2_500)),
), max_size=60)


@settings(max_examples=300, deadline=None)
@given(start=st.integers(0, 2_500), steps=steps)
def test_alerts_match_downward_crossings_of_armed_thresholds(start, steps):
    balance, thresholds, armed = start, [], frozenset()
    # The oracle keeps its own memory, per threshold, of "reached since set or last raised".
    reached: dict[int, bool] = {}
    for step, value in steps:
        if step == "set":
            settings_ = al.check_alert_settings(value[:5], [])
            thresholds = settings_.balance_below
            armed = al.armed_on_configure(thresholds, balance)
            reached = {x: balance >= x for x in thresholds}
            continue
        before, balance = balance, value
        raised, armed = al.advance_balance_alerts(thresholds, armed, before, balance)
        expected = [x for x in thresholds if reached[x] and before >= x > balance]
        assert raised == expected
        for x in thresholds:
            if x in raised:
                reached[x] = False
            if balance >= x:
                reached[x] = True
        assert not set(raised) & armed  # a raised threshold waits to be re-armed
        assert armed == frozenset(x for x in thresholds if reached[x])


@settings(max_examples=300, deadline=None)
@given(shares=st.lists(st.integers(1, 100), max_size=3),
       limit=st.one_of(st.none(), st.integers(0, 10_000)),
       used=st.tuples(st.integers(0, 12_000), st.integers(0, 12_000)).map(sorted),
       told=st.sets(st.integers(1, 100), max_size=3))
def test_member_usage_matches_the_rule_as_written(shares, limit, used, told):
    shares = al.check_alert_settings([], shares).member_usage_percent
    before, after = used
    expected = [] if limit is None else [
        p for p in shares if p not in told
        and not al.share_reached(p, before, limit) and al.share_reached(p, after, limit)]
    assert al.member_usage_crossings(shares, limit, before, after, told) == expected


# --- one operation, all its alerts ------------------------------------------------------

SETTINGS = AlertSettings(balance_below=[1_000, 5_000], member_usage_percent=[50, 80])


def debit(**changes) -> al.DebitFacts:
    facts = al.DebitFacts(balance_before=6_000, balance_after=5_500,
                          autopilot_before="running", autopilot_after="running",
                          user_id="ann", name="Ann", limit=1_000, used_before=0,
                          used_after=100)
    return facts._replace(**changes)


@pytest.mark.parametrize("changes, kinds", [
    ({}, []),
    ({"balance_after": 4_900}, ["balance_below"]),
    ({"balance_after": 0, "autopilot_after": "paused"},
     ["balance_below", "balance_below", "autopilot_paused"]),
    ({"used_after": 800}, ["member_usage", "member_usage"]),
    ({"balance_after": 6_000, "used_after": 0, "refused_by_limit": True},
     ["member_limit_reached"]),
    ({"recharge_declined": True, "balance_after": 6_000, "used_after": 0,
      "autopilot_after": "paused"}, ["recharge_failed", "autopilot_paused"]),
])
def test_debit_alerts(changes, kinds):
    drafts, _ = al.debit_alerts(SETTINGS, al.AlertState(frozenset({1_000, 5_000})),
                                debit(**changes))
    assert [d.kind for d in drafts] == kinds


def test_debit_alert_state_makes_each_kind_once():
    state = al.AlertState(frozenset({1_000, 5_000}))
    first, state = al.debit_alerts(SETTINGS, state, debit(used_after=600, balance_after=4_000))
    assert [(d.kind, d.threshold) for d in first] == [("balance_below", 5_000),
                                                      ("member_usage", 50)]
    assert state == al.AlertState(frozenset({1_000}), frozenset({50}), False)
    refused = debit(balance_before=4_000, balance_after=4_000, used_before=600,
                    used_after=600, refused_by_limit=True)
    second, state = al.debit_alerts(SETTINGS, state, refused)
    third, state = al.debit_alerts(SETTINGS, state, refused)
    assert [d.kind for d in second] == ["member_limit_reached"] and third == []
    assert second[0].user_id == "ann" and "Ann" in second[0].message


@pytest.mark.parametrize("before, after, declined, paused, kinds", [
    (8_000, 6_000, False, False, []),
    (8_000, 900, False, False, ["balance_below", "balance_below"]),
    (8_000, 6_000, True, False, ["payment_failed"]),
    (300, 0, True, True, ["payment_failed", "autopilot_paused"]),
])
def test_close_alerts(before, after, declined, paused, kinds):
    drafts, armed = al.close_alerts(
        SETTINGS, al.armed_on_configure(SETTINGS.balance_below, before), before, after,
        subscription_declined=declined, autopilot_before="running",
        autopilot_after="paused" if paused else "running")
    assert [d.kind for d in drafts] == kinds
    assert armed == al.armed_on_configure(SETTINGS.balance_below, after)
