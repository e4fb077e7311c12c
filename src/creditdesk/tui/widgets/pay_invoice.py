"""Paying a failed invoice again ("Pay now"), shared by the Invoices and Alerts screens.

`PaysInvoices` is a mixin for a BillingScreen: `ask_to_pay(invoice)` confirms with the price
in dollars, then pays in a worker (never on the event loop) with one idempotency key per
confirmed payment. The outcome is said in words: a toast and a reload of every screen on
success (the past-due banner goes with it), a plain sentence when the card is declined again.
The screen chooses where that sentence goes by overriding `show_pay_outcome`.
"""

from __future__ import annotations

import uuid
from functools import partial

from ...errors import BillingError, PaymentDeclined
from ...models import Alert, Context, Invoice
from ...money import format_cents, format_credits
from ..confirm import ConfirmScreen
from ..permissions import role_allows, role_reason
from ..screens.base import DataChanged
from .error_note import ErrorNote, describe_error

DECLINED_AGAIN = ("Your card was declined again: nothing was charged. Fix the payment "
                  "method (p) and try again.")
# Which failed invoice an alert is about: a payment at a close is the subscription's, a
# recharge that switched auto-recharge off is a recharge's.
ALERT_INVOICE_KIND = {"payment_failed": "subscription", "recharge_failed": "recharge"}


def can_pay(invoice: Invoice | None) -> bool:
    return invoice is not None and invoice.status == "failed"


def pay_refusal(role: str | None, invoice: Invoice | None) -> str | None:
    """Why "Pay now" is not usable on this invoice for this role, or None when it is."""
    if not role_allows(role, "pay_invoice"):
        return role_reason("pay_invoice")
    if invoice is None:
        return "Choose a failed invoice"
    if invoice.status != "failed":
        return "Already paid"
    return None


def invoice_for_alert(alert: Alert, invoices: list[Invoice]) -> Invoice | None:
    """The failed invoice a payment_failed / recharge_failed alert is about: the newest
    failed invoice of that kind issued at or before the alert (None when it was paid since,
    or the alert is of another kind)."""
    kind = ALERT_INVOICE_KIND.get(alert.kind)
    if kind is None:
        return None
    candidates = [i for i in invoices if i.kind == kind and i.created_at <= alert.at]
    newest = max(candidates, key=lambda i: i.created_at, default=None)
    return newest if can_pay(newest) else None


def confirmation(invoice: Invoice, account_name: str) -> tuple[str, str, str]:
    """(title, body, confirm label) of the confirmation: the price in dollars, always."""
    price = format_cents(invoice.amount_cents)
    what = ("the subscription; paying the latest one clears past due"
            if invoice.kind == "subscription"
            else f"{format_credits(invoice.credits)}, added when the payment succeeds")
    body = (f"Pay invoice {invoice.number} of {account_name} ({price}) now? The payment "
            f"method on file is charged {price} for {what}.")
    return f"Pay {price}?", body, f"Pay {price}"


def paid_note(invoice: Invoice) -> str:
    extra = ("" if invoice.kind == "subscription"
             else f"; {format_credits(invoice.credits)} added")
    return f"Paid invoice {invoice.number} ({format_cents(invoice.amount_cents)}){extra}."


class PaysInvoices:
    """Mixin for a BillingScreen with a "Pay now" control (see the module docstring)."""

    def ask_to_pay(self, invoice: Invoice | None) -> None:
        refused = pay_refusal(self.role, invoice)
        if refused is not None:
            if self.refuse_unless("pay_invoice"):  # the role may: the invoice may not
                self.notify(f"{refused}: only a failed invoice can be paid now.",
                            severity="warning")
            return
        title, body, label = confirmation(invoice, self.context.name)
        self.app.push_screen(ConfirmScreen(title, body, confirm_label=label),
                             partial(self._pay_confirmed, self.context, invoice))

    def _pay_confirmed(self, context: Context, invoice: Invoice, yes: bool | None) -> None:
        if yes:
            # A fresh key per confirmed payment: a retry of this one stays one payment.
            key = f"tui-pay-{uuid.uuid4()}"
            self.run_worker(partial(self._pay, context, invoice, key), group="pay",
                            name="pay invoice", exit_on_error=False)

    async def _pay(self, context: Context, invoice: Invoice, key: str) -> None:
        try:
            paid = await self.backend.pay_invoice(context.account_id, invoice.id,
                                                  idempotency_key=key)
        except PaymentDeclined:
            self.show_pay_outcome(DECLINED_AGAIN, failed=True)
            return
        except BillingError as error:
            self.show_pay_outcome(f"Not paid: {describe_error(error)}", failed=True)
            return
        self.show_pay_outcome("", failed=False)
        self.post_message(DataChanged(paid_note(paid), title="Invoice paid"))

    def show_pay_outcome(self, sentence: str, *, failed: bool) -> None:
        """Said beside the control, in the screen's `#pay-error` note (success is toasted by
        the app with the reload, so a success only clears an earlier refusal)."""
        note = self.query_one("#pay-error", ErrorNote)
        if failed:
            note.show_error(sentence)
        else:
            note.clear()

    async def action_portal(self) -> None:
        """`p`, as the declined-payment sentence says: Settings shows the portal link."""
        await self.app.switch_mode("settings")
        await self.app.run_action("screen.portal")
