"""Settings' purchase section: packs or another amount, its price, the confirmation and
the purchase (a part of SettingsScreen: its handlers call these)."""

from __future__ import annotations

import uuid

from textual.widgets import Button, Input, Select, Static

from ...errors import BillingError
from ...models import Context, Invoice
from ...money import (
    credits_to_cents,
    format_cents,
    format_credits,
    format_credits_dollars,
)
from ..confirm import ConfirmScreen
from ..form_checks import FieldError, parse_credits, purchase_multiple
from ..widgets.error_note import ErrorNote, describe_error
from ..widgets.role_gate import RoleGate
from .base import DataChanged, busy

CUSTOM = "custom"


class BuysCredits:
    """The purchase section's behaviour, for SettingsScreen (which holds `packs` and the
    last attempt's credits, and the BillingScreen methods these call)."""

    def _show_packs(self) -> None:
        pack = self.query_one("#pack", Select)
        previous = pack.value
        options = [(f"{format_credits(p.credits)} for {format_cents(p.price_cents)}", p.id)
                   for p in self.packs]
        options.append(("Another amount…", CUSTOM))
        if options != self._pack_options:
            self._pack_options = options
            pack.set_options(options)
            if previous in [value for _, value in options]:
                pack.value = previous
        self._update_price()

    def _chosen_credits(self) -> int | None:
        """Credits the purchase form describes; shows what is wrong and returns None."""
        note = self.query_one("#custom-error", ErrorNote)
        choice = self.query_one("#pack", Select).value
        custom = self.query_one("#custom", Input)
        custom.display = choice == CUSTOM
        note.clear()
        if choice == Select.NULL:
            return None
        if choice != CUSTOM:
            return next(p.credits for p in self.packs if p.id == choice)
        if not custom.value.strip():
            return None
        try:
            return parse_credits(custom.value, multiple_of=purchase_multiple())
        except FieldError as error:
            note.show_error(f"Amount: {error}")
            return None

    def _update_price(self) -> None:
        credits = self._chosen_credits()
        price = self.query_one("#price", Static)
        allowed = self.query_one("#purchase-gate", RoleGate).allowed
        self.query_one("#buy", Button).disabled = not allowed or credits is None
        if credits is None:
            price.update("Choose a pack or another amount to see its price.")
        elif credits == self._failed_attempt:
            # Reloads come after a failed try: its price must not read as if it went through.
            price.update(f"Nothing was bought: the try for {format_credits(credits)} did not "
                         f"go through (see above).")
        else:
            price.update(f"{format_credits(credits)} cost "
                         f"{format_cents(credits_to_cents(credits))}, added at once.")

    def action_buy(self) -> None:
        if not self.refuse_unless("purchase_credits"):
            return
        credits = self._chosen_credits()
        if credits is None:
            self.show_section("purchase")
            self.query_one("#custom-error", ErrorNote).show_error(
                "Choose a pack, or another amount in credits (a multiple of 200).")
            return
        context = self.context
        price = format_cents(credits_to_cents(credits))
        body = (f"Buy {format_credits(credits)} for {context.name} at {price}? The payment "
                f"method on file is charged now and the credits are added at once.")

        def confirmed(yes: bool | None) -> None:
            if yes:
                # A fresh key per confirmed purchase: a retry of this one stays one purchase.
                key = f"tui-{uuid.uuid4()}"
                self.run_worker(self._purchase(context, credits, key), group="buy")

        self.app.push_screen(ConfirmScreen(f"Spend {price}?", body,
                                           confirm_label=f"Buy for {price}"), confirmed)

    async def _purchase(self, context: Context, credits: int, key: str) -> None:
        note = self.query_one("#purchase-error", ErrorNote)
        note.clear()
        self._last_attempt = credits
        try:
            with busy(self.query_one("#buy")):
                invoice: Invoice = await self.backend.purchase_credits(
                    context.account_id, credits, idempotency_key=key)
        except BillingError as error:
            note.show_error(f"Nothing was charged and no credits were added: "
                            f"{describe_error(error)}")
            self._failed_attempt = credits
            self._update_price()
            self.post_message(DataChanged())  # a declined payment leaves a failed invoice
            return
        if invoice.status != "paid":
            note.show_error(f"Payment failed, nothing was charged: {invoice.description}")
            self._failed_attempt = credits
            self._update_price()
            self.post_message(DataChanged())
            return
        self._clear_purchase()
        self.post_message(DataChanged(f"Bought {format_credits_dollars(credits)}: invoice "
                                      f"{invoice.number}.", title="Credits bought"))

    def _clear_purchase(self) -> None:
        """A completed purchase empties its form, and focus leaves the amount box (a key
        pressed next is a key, not more digits in it)."""
        self._last_attempt = self._failed_attempt = None
        if isinstance(self.focused, Input):
            self.query_one("#settings-scroll").focus()
        self.query_one("#custom", Input).value = ""
        self.query_one("#pack", Select).clear()
