"""Paying a failed invoice (billing-rules.md, "Paying a failed invoice"): the pure rules of
`creditdesk.invoice_rules` applied to an account inside its write transaction.

Order, after the session's not_found and permission checks: the input, then an idempotent
replay (the first answer), then the invoice (not_found), then whether it may be paid, and
only then the card. A declined card raises before anything is written.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from .. import invoice_rules, rules
from ..errors import IdempotencyConflict, NotFound, PaymentDeclined
from ..invoice_rules import InvoiceFacts
from ..models import Invoice
from ..money import format_cents
from ..store.ledger import KIND, KIND_CODE, REF, to_micros
from ..store.state import Account
from ..store.state import Invoice as InvoiceRow
from . import alerts

if TYPE_CHECKING:
    from .core import BillingEngine

_PURCHASE = KIND_CODE["purchase"]
# idempotency[key] for a paid subscription invoice, which writes no ledger row: the key is
# taken (another operation with it is a conflict) and its answer is in invoice_payments.
NO_ROW = -1


def pay(engine: BillingEngine, account: Account, user_id: str, invoice_id: object,
        key: object, attempt: str, now: datetime) -> Invoice | None:
    """The paid invoice; None for the replay of the call that paid it (whose first answer
    the session gives: it is kept with the key)."""
    rules.check_text(invoice_id, "invoice_id", max_length=64)
    rules.check_key(key)
    first = account.invoice_payments.get(key)
    if first is not None:
        if first[:2] != (invoice_id, user_id):
            raise _conflict(key)
        return None
    if account.idempotency.get(key) is not None:
        raise _conflict(key)        # the key belongs to a debit or a purchase
    invoice = account.invoices.find(invoice_id)
    if invoice is None:
        raise NotFound(f"no invoice {invoice_id!r} in {account.id!r}")
    later = _later_success(engine, account, invoice)
    refusal = invoice_rules.payment_refusal(_facts(invoice), later)
    if refusal is not None:
        raise refusal
    result = engine.payments.charge(account.id, invoice.amount_cents,
                                    f"Payment of invoice {invoice.number}",
                                    f"{account.id}/pay/{invoice.id}/{attempt}")
    if not result.ok:
        # Nothing changes and no alert: the owner is looking at this answer.
        raise PaymentDeclined(f"payment declined: invoice {invoice.number} "
                              f"({format_cents(invoice.amount_cents)}) is still unpaid. "
                              f"Update the payment method in the portal and try again.")
    _apply(engine, account, user_id, invoice, key, now)
    answer = engine.invoice_model(account, invoice)
    if engine.store.keeps_answers:
        account.answers[key] = answer       # in this transaction, with its record
    return answer


def _apply(engine: BillingEngine, account: Account, user_id: str, invoice: InvoiceRow,
           key: str, now: datetime) -> None:
    latest = account.invoices.latest_of_kind("subscription")
    effects = invoice_rules.payment_effects(_facts(invoice),
                                            None if latest is None else latest.id)
    before = account.total
    at_us = to_micros(now)
    invoice.description = invoice_rules.paid_description(invoice.description)
    account.invoices.mark_paid(invoice, now)      # with its description, on both stores
    account.invoice_payments[key] = (invoice.id, user_id, at_us)
    row = NO_ROW
    if effects.purchased:
        # Not counted toward auto-recharge's monthly cap: the owner chose to pay it.
        account.purchased += effects.purchased
        row = engine.append_entry(account, at_us, effects.ledger_kind,
                                  engine.names.code(user_id), 0, 0, effects.purchased,
                                  engine.names.code(invoice.id), key)
        engine.credits_added(account)
    account.idempotency[key] = row
    if effects.clears_past_due:
        account.past_due = False
    engine.mutations += 1
    alerts.balance_moved(engine, account, before, at_us)


def _facts(invoice: InvoiceRow) -> InvoiceFacts:
    return InvoiceFacts(id=invoice.id, kind=invoice.kind, status=invoice.status,
                        credits=invoice.credits, created_at=invoice.created_at,
                        idempotency_key=invoice.key)


def _later_success(engine: BillingEngine, account: Account,
                   invoice: InvoiceRow) -> list[InvoiceFacts]:
    """The paid purchase that used this failed purchase's key, if any: a failure stores
    nothing for its key, so a success under it can only have come later."""
    if invoice.kind != "purchase" or invoice.key is None:
        return []
    row = account.idempotency.get(invoice.key)
    if row is None or row < 0 or account.ledger.get(row, KIND) != _PURCHASE:
        return []
    paid = account.invoices.find(engine.names.names[account.ledger.get(row, REF)])
    if paid is None:
        return []
    # Its key is the ledger row's (the SQL store keeps keys only on failed invoices).
    return [replace(_facts(paid), idempotency_key=account.ledger.keys[row])]


def _conflict(key: str) -> IdempotencyConflict:
    return IdempotencyConflict(f"idempotency key {key!r} was already used for a different "
                               f"request on this account", field="idempotency_key")
