"""Money display: 200 credits = $1, Decimal rounded half-even to cents, never float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creditdesk.models import MAX_CREDITS
from creditdesk.money import (
    credits_to_cents,
    credits_to_dollars,
    format_cents,
    format_credits,
    format_credits_dollars,
    format_dollars,
)


# billing-rules.md's own example says "12,345 credits ($61.73)", but 12,345 / 200 = 61.725
# exactly, and its rule says half-even: 61.725 -> 61.72. The rule wins over the example.
@pytest.mark.parametrize(("credits", "dollars"), [
    (0, "0.00"),
    (1, "0.00"),            # 0.005 -> half-even keeps the even 0.00
    (2, "0.01"),
    (3, "0.02"),            # 0.015 -> 0.02 (2 is even)
    (5, "0.02"),            # 0.025 -> 0.02
    (7, "0.04"),            # 0.035 -> 0.04
    (9, "0.04"),            # 0.045 -> 0.04
    (199, "1.00"),          # 0.995 -> 1.00 (0 is even)
    (200, "1.00"),
    (201, "1.00"),          # 1.005 -> 1.00
    (203, "1.02"),          # 1.015 -> 1.02
    (12_345, "61.72"),      # 61.725 -> 61.72
    (12_347, "61.74"),      # 61.735 -> 61.74
    (100_000, "500.00"),
    (MAX_CREDITS, "5000000000.00"),
    (MAX_CREDITS - 1, "5000000000.00"),  # 4,999,999,999.995 -> ...000.00
    (-3, "-0.02"),
])
def test_credits_to_dollars_is_exact_half_even(credits: int, dollars: str) -> None:
    value = credits_to_dollars(credits)
    assert isinstance(value, Decimal)
    assert value == Decimal(dollars)
    assert value.as_tuple().exponent == -2


@given(st.integers(min_value=0, max_value=MAX_CREDITS))
def test_credits_to_dollars_is_within_half_a_cent(credits: int) -> None:
    exact = Decimal(credits) / 200
    value = credits_to_dollars(credits)
    assert abs(value - exact) <= Decimal("0.005")
    assert value.as_tuple().exponent == -2


@given(st.integers(min_value=0, max_value=MAX_CREDITS // 2))
def test_even_credits_are_whole_cents(half: int) -> None:
    # 2 credits = 1 cent: an even amount never needs rounding.
    assert credits_to_dollars(2 * half) == Decimal(half) / 100


@given(st.integers(min_value=1, max_value=MAX_CREDITS // 200))
def test_bought_amounts_cost_whole_cents(dollars: int) -> None:
    credits = dollars * 200
    assert credits_to_cents(credits) == dollars * 100
    assert credits_to_dollars(credits) == Decimal(dollars)


@pytest.mark.parametrize(("credits", "text"), [
    (0, "0 credits"),
    (1, "1 credit"),
    (2, "2 credits"),
    (-1, "-1 credit"),
    (999, "999 credits"),
    (12_345, "12,345 credits"),
    (MAX_CREDITS, "1,000,000,000,000 credits"),
])
def test_format_credits(credits: int, text: str) -> None:
    assert format_credits(credits) == text


def test_format_credits_without_unit() -> None:
    assert format_credits(12_345, unit=False) == "12,345"


@pytest.mark.parametrize(("credits", "text"), [
    (12_345, "12,345 credits ($61.72)"),
    (200, "200 credits ($1.00)"),
    (1, "1 credit ($0.00)"),
    (3, "3 credits ($0.02)"),
    (1_000_000, "1,000,000 credits ($5,000.00)"),
    (MAX_CREDITS, "1,000,000,000,000 credits ($5,000,000,000.00)"),
])
def test_format_credits_dollars(credits: int, text: str) -> None:
    assert format_credits_dollars(credits) == text


@pytest.mark.parametrize(("cents", "text"), [
    (0, "$0.00"),
    (1, "$0.01"),
    (4_990, "$49.90"),
    (123_456_789, "$1,234,567.89"),
    (-150, "-$1.50"),
])
def test_format_cents(cents: int, text: str) -> None:
    assert format_cents(cents) == text


@pytest.mark.parametrize(("amount", "text"), [
    (Decimal("61.72"), "$61.72"),
    (Decimal("1000"), "$1,000.00"),
    (Decimal("-0.5"), "-$0.50"),
])
def test_format_dollars(amount: Decimal, text: str) -> None:
    assert format_dollars(amount) == text
