"""Pure rules for paying a failed invoice and for past due (billing-rules.md, "Paying a
failed invoice" and "Plans"): plain values in, decisions out, no I/O and no clock.

The engine's order of checks stays its own: the account exists for the caller
(`not_found`), the caller is its owner (`permission_denied`), an idempotent replay of the
call that paid the invoice returns the first answer, and only then `payment_refusal` says
whether this invoice may be paid at all. Only after that is the card charged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class InvoiceFacts:
    """What the rules need to know about one invoice (the engine's rows hold more)."""

    id: str
    kind: str  # subscription / purchase / recharge
    status: str  # paid / failed
    credits: int
    created_at: datetime
    # The purchase's idempotency key (None for subscriptions and recharges).
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentEffects:
    """What a successful pay_invoice changes, besides the invoice becoming paid."""

    purchased: int  # credits added to the purchased bucket
    ledger_kind: str | None  # the ledger entry that refers to the invoice, if any
    clears_past_due: bool
    # The owner chose to pay this one: it never counts toward auto-recharge's monthly cap.
    recharge_cap_cents: int = 0


def superseded(invoice: InvoiceFacts, others: Iterable[InvoiceFacts]) -> bool:
    """A failed purchase whose idempotency key later succeeded: paying it would buy twice."""
    if invoice.kind != "purchase" or invoice.idempotency_key is None:
        return False
    return any(o.id != invoice.id and o.kind == "purchase" and o.status == "paid"
               and o.idempotency_key == invoice.idempotency_key
               and o.created_at >= invoice.created_at for o in others)


def payment_refusal(invoice: InvoiceFacts,
                    others: Iterable[InvoiceFacts]) -> InvalidRequest | None:
    """Why this invoice may not be paid (to raise), or None when it may.

    Called after the idempotent-replay check: a paid invoice reaching here was paid by
    another call, so it is refused like a superseded purchase (field `invoice_id`).
    """
    if invoice.status == "paid":
        return InvalidRequest(f"Invoice {invoice.id} is already paid", field="invoice_id")
    if invoice.status != "failed":
        return InvalidRequest(f"Invoice {invoice.id} cannot be paid", field="invoice_id")
    if superseded(invoice, others):
        return InvalidRequest(f"Invoice {invoice.id} was superseded: the same purchase "
                              "succeeded later, so paying it would buy the credits twice",
                              field="invoice_id")
    return None


def payment_effects(invoice: InvoiceFacts, latest_subscription_id: str | None) -> PaymentEffects:
    """What paying this (payable) invoice adds: credits for a purchase or a recharge, and
    the end of past due only for the account's latest subscription invoice."""
    if invoice.kind in ("purchase", "recharge"):
        return PaymentEffects(purchased=invoice.credits, ledger_kind=invoice.kind,
                              clears_past_due=False)
    if invoice.kind == "subscription":
        return PaymentEffects(purchased=0, ledger_kind=None,
                              clears_past_due=invoice.id == latest_subscription_id)
    raise ValueError(f"unknown invoice kind {invoice.kind!r}")


# --- past due ---------------------------------------------------------------------------

# One outcome per period start, oldest first: "paid", "failed", or "free" (a period that
# starts on a free plan issues no invoice and counts as paid). Purchases and recharges are
# not subscription outcomes and never appear here.
PERIOD_OUTCOMES = ("paid", "failed", "free")


def is_past_due(period_outcomes: Iterable[str]) -> bool:
    """Past due exactly while the latest subscription outcome is a failed invoice."""
    latest = None
    for outcome in period_outcomes:
        if outcome not in PERIOD_OUTCOMES:
            raise ValueError(f"unknown period outcome {outcome!r}")
        latest = outcome
    return latest == "failed"


def paid_at(created_at: datetime, status_at_issue: str,
            paid_now: datetime | None) -> datetime | None:
    """`created_at` for an invoice paid when issued, the moment of a later payment, else None."""
    if status_at_issue == "paid":
        return created_at
    return paid_now


# What BillingEngine.charge appends to a declined invoice's description, before the reason.
DECLINE_NOTE = " (declined: "


def paid_description(description: str) -> str:
    """A failed invoice's description once it is paid: its decline note gives way to the
    payment (it keeps its number, and paid_at says when), so a paid invoice never reads as
    declined, which would tell the owner it is still owed."""
    base, note, _ = description.rpartition(DECLINE_NOTE)
    return f"{base if note else description} (paid on retry)"
