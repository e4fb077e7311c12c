"""Validation of what people type into the dashboard's forms, with messages for the field.

The backend validates again (and its refusal is shown next to the field as well); these
checks exist so a form can say what is wrong while the person types and never send a value
that is certainly invalid.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from ..models import MAX_CENTS, MAX_CREDITS
from ..money import CREDITS_PER_DOLLAR, format_credits

# Thousands separators people type ("12,000", "12_000", "12 000") are accepted.
_SEPARATORS = re.compile(r"(?<=\d)[,_ ](?=\d{3}(\D|$))")


class FieldError(ValueError):
    """The typed value is not acceptable; str(error) says why, in words for the field."""


def parse_credits(text: str, *, allow_empty: bool = False, allow_zero: bool = False,
                  multiple_of: int = 1) -> int | None:
    """Whole credits from a form field. Empty gives None when `allow_empty`."""
    cleaned = _SEPARATORS.sub("", text.strip())
    if not cleaned:
        if allow_empty:
            return None
        raise FieldError("Enter a whole number of credits.")
    if not cleaned.isdigit():
        if cleaned.startswith("-") and cleaned[1:].isdigit():
            raise FieldError("Must not be negative.")
        raise FieldError(f"{text.strip()!r} is not a whole number of credits.")
    value = int(cleaned)
    if value == 0 and not allow_zero:
        raise FieldError("Must be more than 0 credits.")
    if value > MAX_CREDITS:
        raise FieldError(f"At most {format_credits(MAX_CREDITS)}.")
    if value % multiple_of:
        lower = value - value % multiple_of
        hint = f" (try {lower:,} or {lower + multiple_of:,})" if lower else \
            f" (try {multiple_of:,})"
        raise FieldError(f"Must be a multiple of {multiple_of:,} credits{hint}.")
    return value


def parse_dollars_as_cents(text: str, *, allow_empty: bool = False) -> int | None:
    """Dollars with at most two decimals ("500", "$1,250.50") as whole cents."""
    cleaned = _SEPARATORS.sub("", text.strip()).removeprefix("$").strip()
    if not cleaned:
        if allow_empty:
            return None
        raise FieldError("Enter an amount in dollars, like 500 or 500.00.")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise FieldError(f"{text.strip()!r} is not an amount in dollars.") from None
    if not amount.is_finite():
        raise FieldError(f"{text.strip()!r} is not an amount in dollars.")
    if amount < 0:
        raise FieldError("Must not be negative.")
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise FieldError("Dollars have at most two decimals (whole cents).")
    if cents == 0:
        raise FieldError("Must be more than $0" + ("; leave it empty for none." if allow_empty
                                                    else "."))
    if cents > MAX_CENTS:
        raise FieldError(f"At most ${MAX_CENTS // 100:,}.")
    return int(cents)


def purchase_multiple() -> int:
    """What is bought comes in whole dollars' worth of credits (200 credits = $1)."""
    return CREDITS_PER_DOLLAR
