"""Credits and dollars for display: 200 credits = $1, Decimal only, never float."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

CREDITS_PER_DOLLAR = 200
_CENT = Decimal("0.01")


def credits_to_dollars(credits: int) -> Decimal:
    """Dollar value of a credit amount, rounded half-even to cents (1 credit = 0.5 cent)."""
    return (Decimal(credits) / CREDITS_PER_DOLLAR).quantize(_CENT, rounding=ROUND_HALF_EVEN)


def credits_to_cents(credits: int) -> int:
    """Exact cents for an amount that is bought; callers ensure it is a multiple of 200."""
    return credits // 2


def format_credits(credits: int, *, unit: bool = True) -> str:
    text = f"{credits:,}"
    if not unit:
        return text
    return f"{text} credit" if credits in (1, -1) else f"{text} credits"


def format_dollars(amount: Decimal) -> str:
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def format_cents(cents: int) -> str:
    return format_dollars(Decimal(cents) / 100)


def format_credits_dollars(credits: int) -> str:
    """`12,345 credits ($61.72)`: the figure users read everywhere (half-even cents)."""
    return f"{format_credits(credits)} ({format_dollars(credits_to_dollars(credits))})"
