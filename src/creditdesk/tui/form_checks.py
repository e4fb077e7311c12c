"""Validation of what people type into the dashboard's forms, with messages for the field.

The backend validates again (and its refusal is shown next to the field as well); these
checks exist so a form can say what is wrong while the person types and never send a value
that is certainly invalid.
"""

from __future__ import annotations

import re
from decimal import Decimal

from ..models import MAX_CENTS, MAX_CREDITS
from ..money import CREDITS_PER_DOLLAR, format_credits

# What people mean by a number: ASCII digits, plain ("12000") or with commas between groups
# of three ("12,000"). Other digits ("١٠٠٠", "２００"), underscores ("1_000", Python's, not
# people's) and signs ("+400": raise by 400, or set 400?) are refused rather than guessed.
_WHOLE = re.compile(r"[0-9]+|[0-9]{1,3}(,[0-9]{3})+")
_DOLLARS = re.compile(r"(?P<whole>[0-9]+|[0-9]{1,3}(,[0-9]{3})+)(\.(?P<cents>[0-9]{1,2}))?")
# What the tables show for no limit, accepted back as input.
NO_LIMIT_WORDS = {"", "none", "no limit"}


class FieldError(ValueError):
    """The typed value is not acceptable; str(error) says why, in words for the field."""


def _whole_number(text: str, unit: str) -> int:
    cleaned = text.strip()
    if _WHOLE.fullmatch(cleaned):
        return int(cleaned.replace(",", ""))
    if cleaned[:1] == "-" and _WHOLE.fullmatch(cleaned[1:]):
        raise FieldError("Must not be negative.")
    if cleaned[:1] == "+" and _WHOLE.fullmatch(cleaned[1:]):
        raise FieldError(f"Type the number alone, without a sign: {cleaned[1:]}.")
    raise FieldError(f"{cleaned!r} is not a whole number of {unit}: type digits 0-9, "
                     f"with commas between thousands if you like (12,000).")


def parse_credits(text: str, *, allow_empty: bool = False, allow_zero: bool = False,
                  multiple_of: int = 1) -> int | None:
    """Whole credits from a form field. Empty gives None when `allow_empty`."""
    if not text.strip():
        if allow_empty:
            return None
        raise FieldError("Enter a whole number of credits.")
    value = _whole_number(text, "credits")
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


def parse_limit(text: str) -> int | None:
    """A member's limit: credits (0 stops them), or "none" / empty for no limit."""
    if text.strip().casefold() in NO_LIMIT_WORDS:
        return None
    return parse_credits(text, allow_zero=True)


def parse_dollars_as_cents(text: str, *, allow_empty: bool = False) -> int | None:
    """Dollars with at most two decimals ("500", "$1,250.50") as whole cents."""
    cleaned = text.strip().removeprefix("$").strip()
    if cleaned.casefold() in NO_LIMIT_WORDS:
        if allow_empty:
            return None
        raise FieldError("Enter an amount in dollars, like 500 or 500.00.")
    if cleaned[:1] == "-":
        raise FieldError("Must not be negative.")
    found = _DOLLARS.fullmatch(cleaned)
    if found is None and re.fullmatch(r"[0-9,]+\.[0-9]{3,}", cleaned):
        raise FieldError("Dollars have at most two decimals (whole cents).")
    if found is None:
        raise FieldError(f"{text.strip()!r} is not an amount in dollars: type digits 0-9, "
                         f"like 1,250 or 1250.50.")
    cents = Decimal(found["whole"].replace(",", "") + "." + (found["cents"] or "0")) * 100
    if cents == 0:
        raise FieldError("Must be more than $0" + ("; leave it empty for none." if allow_empty
                                                    else "."))
    if cents > MAX_CENTS:
        raise FieldError(f"At most ${MAX_CENTS // 100:,}.")
    return int(cents)


def purchase_multiple() -> int:
    """What is bought comes in whole dollars' worth of credits (200 credits = $1)."""
    return CREDITS_PER_DOLLAR
