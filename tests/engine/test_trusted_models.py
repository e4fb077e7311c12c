"""Receipts and balances the engine builds without validating them again (models.trusted_builder)
are exactly the models validated construction makes: same values, same fields set, same JSON,
and they pass the models' own validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from creditdesk.models import Balance, UsageReceipt, trusted_builder

BALANCE = {"account_id": "acme", "base": 1, "rollover": 2, "purchased": 3, "total": 6,
           "used_this_period": 5, "period_start": datetime(2025, 1, 1, tzinfo=UTC),
           "period_end": datetime(2025, 2, 1, tzinfo=UTC), "autopilot": "running",
           "autopilot_reason": None}


def _same(trusted, validated) -> None:
    assert trusted == validated
    assert trusted.model_fields_set == validated.model_fields_set
    assert trusted.model_dump_json() == validated.model_dump_json()
    assert hash(trusted) == hash(validated)
    assert trusted.__pydantic_extra__ == validated.__pydantic_extra__
    assert trusted.__pydantic_private__ == validated.__pydantic_private__


def test_a_trusted_balance_is_the_validated_one():
    _same(trusted_builder(Balance)(**BALANCE), Balance(**BALANCE))


def test_the_wrong_fields_are_refused_at_the_call_never_half_built():
    build = trusted_builder(Balance)
    with pytest.raises(TypeError, match="total"):
        build(**{k: v for k, v in BALANCE.items() if k != "total"})
    with pytest.raises(TypeError, match="extra"):
        build(**BALANCE, extra=1)


def test_a_trusted_model_built_by_position_is_the_validated_one():
    _same(trusted_builder(Balance)(*BALANCE.values()), Balance(**BALANCE))


def test_each_trusted_model_owns_its_fields_set():
    build = trusted_builder(Balance)
    first, second = build(**BALANCE), build(**BALANCE)
    assert first.model_fields_set is not second.model_fields_set


def test_a_trusted_model_stays_frozen():
    balance = trusted_builder(Balance)(**BALANCE)
    with pytest.raises(ValidationError):
        balance.total = 7


@pytest.mark.parametrize("user", ["ann", "bob", "cat"])     # owner, admin, member
def test_engine_receipts_and_replays_validate_as_they_are(world, user):
    session = world.session(user)
    first = session.record_usage("acme", 300, campaign="crawl", idempotency_key="job-1")
    replay = session.record_usage("acme", 300, campaign="crawl", idempotency_key="job-1")
    for receipt in (first, replay):
        _same(receipt, UsageReceipt.model_validate(receipt.model_dump()))
    assert replay == first
    assert (first.balance is None) == (user == "cat")
    if user != "cat":
        balance = session.balance("acme")
        _same(balance, Balance.model_validate(balance.model_dump()))
