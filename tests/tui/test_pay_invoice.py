""""Pay now" on a failed invoice, from Invoices and from the Alerts screen (owners only)."""

from __future__ import annotations

from contextlib import suppress

from textual.widgets import Button, Static

from creditdesk.errors import PaymentDeclined
from creditdesk.money import format_cents
from creditdesk.tui.confirm import ConfirmScreen
from creditdesk.tui.screens.alerts import AlertsScreen
from creditdesk.tui.screens.invoices import InvoicesScreen
from creditdesk.tui.widgets.pay_invoice import (
    DECLINED_AGAIN,
    confirmation,
    invoice_for_alert,
    pay_refusal,
)

from .pilot_helpers import SIZE, screen_text, settle, text_of, toasts


def owner(world):
    return world.engine.session(world.owner)


def failed_purchase(world, credits: int = 1_000):
    """A declined purchase nobody retried: a failed invoice that can be paid now."""
    world.payments.decline(world.org_id, True)
    with suppress(PaymentDeclined):
        owner(world).purchase_credits(world.org_id, credits, idempotency_key="to-pay-later")
    invoice = owner(world).invoices(world.org_id)[0]
    assert (invoice.kind, invoice.status, invoice.credits) == ("purchase", "failed", credits)
    return invoice


def past_due(world):
    """The subscription's payment declined at the next close: past due, and an alert."""
    world.payments.decline(world.org_id, True)
    world.clock.set(owner(world).balance(world.org_id).period_end)
    owner(world).balance(world.org_id)      # the read closes the period
    assert owner(world).subscription(world.org_id).status == "past_due"
    alert = owner(world).alerts(world.org_id, limit=1)[0]
    assert alert.kind == "payment_failed"
    return alert


async def open_screen(pilot, key: str):
    await settle(pilot)
    await pilot.press(key)
    await settle(pilot)
    return pilot.app.screen


async def confirm(pilot, answer: str = "y") -> ConfirmScreen:
    await settle(pilot)
    dialog = pilot.app.screen
    assert isinstance(dialog, ConfirmScreen)
    await pilot.press(answer)
    await settle(pilot)
    return dialog


def test_confirmation_names_the_price_in_dollars(demo_world) -> None:
    invoice = failed_purchase(demo_world)
    title, body, label = confirmation(invoice, "Acme Robotics")
    assert title == "Pay $5.00?" and label == "Pay $5.00"
    assert invoice.number in body and "1,000 credits" in body


def test_pay_refusal_says_why() -> None:
    assert pay_refusal("admin", None) == "Owner only"
    assert pay_refusal("owner", None) == "Choose a failed invoice"


async def test_pay_now_from_invoices_declined_then_paid(make_app, demo_world) -> None:
    invoice = failed_purchase(demo_world)
    before = owner(demo_world).balance(demo_world.org_id).total
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, "i")
        assert isinstance(screen, InvoicesScreen) and screen.selected.id == invoice.id
        assert not screen.query_one("#pay", Button).disabled
        await pilot.press("dollar_sign")
        dialog = await confirm(pilot)          # the card is still declined
        assert "$5.00" in dialog.title_text and "$5.00" in dialog.body
        assert DECLINED_AGAIN in text_of(screen.query_one("#pay-error"))
        assert owner(demo_world).invoices(demo_world.org_id)[0].status == "failed"
        assert owner(demo_world).balance(demo_world.org_id).total == before

        demo_world.payments.decline(demo_world.org_id, False)   # fixed in the portal
        await pilot.press("dollar_sign")
        await confirm(pilot)
        paid = owner(demo_world).invoices(demo_world.org_id)[0]
        assert paid.id == invoice.id and paid.status == "paid" and paid.paid_at is not None
        assert owner(demo_world).balance(demo_world.org_id).total == before + 1_000
        assert any(t.startswith("Invoice paid\nPaid invoice " + invoice.number)
                   for t in toasts(app))
        assert not text_of(screen.query_one("#pay-error"))
        # Paid now: the control is dimmed, with the reason in words.
        assert screen.query_one("#pay", Button).disabled
        assert "is for a failed invoice: already paid" in text_of(
            screen.query_one("#pay-note", Static))


async def test_cancelling_the_confirmation_pays_nothing(make_app, demo_world) -> None:
    failed_purchase(demo_world)
    demo_world.payments.decline(demo_world.org_id, False)
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, "i")
        await pilot.press("dollar_sign")
        await confirm(pilot, "n")
        assert owner(demo_world).invoices(demo_world.org_id)[0].status == "failed"


async def test_a_paid_invoice_cannot_be_paid_again(make_app, demo_world) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, "i")
        row = next(n for n, i in enumerate(screen.shown) if i.status == "paid")
        await pilot.press(*["down"] * row)
        await settle(pilot)
        assert screen.selected.status == "paid"
        assert screen.query_one("#pay", Button).disabled
        await pilot.press("dollar_sign")
        await settle(pilot)
        assert app.screen is screen              # no confirmation for a paid invoice
        assert any("Already paid" in t for t in toasts(app))


async def test_admin_sees_pay_now_disabled_with_the_reason(make_app, demo_world) -> None:
    failed_purchase(demo_world)
    app = make_app("admin")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, "i")
        button = screen.query_one("#pay", Button)
        assert button.disabled and "Owner only" in str(button.tooltip)
        assert "Owner only" in screen_text(app)
        assert screen.check_action("pay_invoice", ()) is None


async def test_pay_now_from_an_alert_clears_past_due(make_app, demo_world) -> None:
    alert = past_due(demo_world)
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, "o")
        assert screen.query_one("#past-due").display
        screen = await open_screen(pilot, "n")
        assert isinstance(screen, AlertsScreen) and screen.selected.id == alert.id
        assert "Pay now ($) pays the failed invoice" in screen_text(app)
        await pilot.press("dollar_sign")
        dialog = await confirm(pilot)            # still declined
        assert "$" in dialog.title_text
        assert DECLINED_AGAIN in text_of(screen.query_one("#pay-error"))
        assert owner(demo_world).subscription(demo_world.org_id).status == "past_due"

        demo_world.payments.decline(demo_world.org_id, False)
        await pilot.press("dollar_sign")
        await confirm(pilot)
        assert owner(demo_world).subscription(demo_world.org_id).status == "active"
        assert any(t.startswith("Invoice paid") for t in toasts(app))
        screen = await open_screen(pilot, "o")
        assert not screen.query_one("#past-due").display
        await open_screen(pilot, "s")
        assert "PAST DUE" not in screen_text(app)


def test_the_invoice_an_alert_is_about(demo_world) -> None:
    alert = past_due(demo_world)
    invoices = owner(demo_world).invoices(demo_world.org_id)
    found = invoice_for_alert(alert, invoices)
    assert found is not None and found.kind == "subscription" and found.status == "failed"
    assert format_cents(found.amount_cents).startswith("$")
    usage_alert = next(a for a in owner(demo_world).alerts(demo_world.org_id)
                       if a.kind == "member_usage")
    assert invoice_for_alert(usage_alert, invoices) is None


async def test_pay_now_on_another_kind_of_alert_says_what_it_is_for(make_app) -> None:
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, "n")
        assert screen.selected.kind == "member_usage"
        await pilot.press("dollar_sign")
        await settle(pilot)
        assert app.screen is screen
        assert any("Pay now is for a failed payment's alert" in t for t in toasts(app))


async def test_p_after_a_decline_shows_the_payment_portal(make_app, demo_world) -> None:
    failed_purchase(demo_world)
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, "i")
        await pilot.press("dollar_sign")
        await confirm(pilot)
        assert DECLINED_AGAIN in text_of(screen.query_one("#pay-error"))
        await pilot.press("p")
        await settle(pilot)
        assert app.current_mode == "settings"
        assert "Manage the payment method at: " in text_of(app.screen.query_one("#portal-url"))


async def test_context_switch_clears_the_declined_sentence(make_app, demo_world) -> None:
    failed_purchase(demo_world)
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, "i")
        await pilot.press("dollar_sign")
        await confirm(pilot)
        assert text_of(screen.query_one("#pay-error"))
        await app.run_action(f"switch_context({demo_world.personal_account_id!r})")
        await settle(pilot)
        assert not text_of(screen.query_one("#pay-error"))


async def test_a_superseded_purchase_is_refused_in_words(make_app, demo_world) -> None:
    """The demo's declined purchase was retried with its key and went through: paying the
    failed one would buy twice, and the backend's refusal is said beside the control."""
    app = make_app("owner")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, "i")
        row = next(n for n, i in enumerate(screen.shown)
                   if i.status == "failed" and i.kind == "purchase")
        await pilot.press(*["down"] * row, "dollar_sign")
        await confirm(pilot)
        words = text_of(screen.query_one("#pay-error"))
        assert words.startswith("Not paid: ") and "superseded" in words
        assert screen.shown[row].status == "failed"
