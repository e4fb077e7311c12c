"""Debits, purchases and auto-recharge: everything that moves credits on a member's request."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from .. import rules
from ..errors import InsufficientCredits, MemberLimitReached, PaymentDeclined
from ..models import UsageReceipt, trusted_builder
from ..money import credits_to_cents, format_credits
from ..store.ledger import from_micros, to_micros
from ..store.state import Account, Membership
from . import alerts

if TYPE_CHECKING:
    from .core import BillingEngine

# A receipt is built from values the engine computed and checked itself: validating them
# again was a quarter of a debit (bench/engine_scale.py), so they are built trusted, by
# position in the model's field order.
_RECEIPT = trusted_builder(UsageReceipt)
# A pause reason states the cause only: what fixes it depends on who reads it and on the
# account's settings (auto-recharge on, off or at its cap), which the reader words.
ZERO_BALANCE = "The balance reached 0 credits."


def debit(engine: BillingEngine, account: Account, member: Membership, credits: int,
          campaign: str, campaign_code: int | None, key: str, at_us: int,
          may_view_balance: bool, receipt: bool) -> UsageReceipt | None:
    """Take `credits` for `member`'s campaign (`campaign_code`: its Names code, when the
    engine has seen it in a debit before) at `at_us` (micros since the epoch); returns the
    receipt, or None without `receipt`.
    A refusal tells the member only what they may see: the balance is named to those who
    may view it.

    Order matters: the member's limit first (a refusal there changes nothing and does not
    pause the org), then auto-recharge for what the debit would leave, then the split.
    This is the hot path (bench/engine_scale.py): it computes each value once, calls
    only what holds a rule, and builds no pydantic model but the receipt.
    """
    limit = member.limit
    used_before = member.used
    if limit is not None and rules.exceeds_limit(used_before, credits, limit):
        alerts.limit_refused(engine, account, member, at_us)
        raise MemberLimitReached(
            f"member limit reached: {member.user_id} has used {format_credits(used_before)} "
            f"of a {format_credits(limit)} limit this period; this debit needs "
            f"{format_credits(credits)}")
    # The roll-ups' day: the last one a debit fell in, unless `at_us` left it (dividing a
    # two-digit integer costs a debit more than these two comparisons).
    day_first, day_end, day_index = engine.today
    if not day_first <= at_us < day_end:
        day_index = engine.enter_day(at_us)
    recharged = 0
    declined = rare = False
    base, rollover, purchased = account.base, account.rollover, account.purchased
    before = base + rollover + purchased
    was_running = not account.paused
    settings = account.recharge
    if settings.enabled and before - credits < settings.threshold:
        recharged = _recharge(engine, account, member, credits, key, at_us)
        declined = not settings.enabled     # its payment failed: it switched itself off
        purchased = account.purchased       # the only bucket a recharge fills
        rare = True
    split = rules.split_debit(base, rollover, purchased, credits)
    if split is None:
        total = account.total
        engine.pause(account, f"A debit of {format_credits(credits)} was refused: the "
                               f"balance ({format_credits(total)}) cannot cover it.")
        engine.mutations += 1
        alerts.after_debit(engine, account, member, before, used_before, was_running,
                           declined, at_us)
        if may_view_balance:
            raise InsufficientCredits(f"insufficient credits: the balance is "
                                      f"{format_credits(total)}, the debit needs "
                                      f"{format_credits(credits)}")
        raise InsufficientCredits(f"insufficient credits: the account cannot cover a debit "
                                  f"of {format_credits(credits)}; ask an owner to add "
                                  f"credits")
    from_base, from_rollover, from_purchased = split
    # Most debits come from one bucket: the others are left untouched rather than rewritten.
    if from_base:
        account.base = base - from_base
    if from_rollover:
        account.rollover = rollover - from_rollover
    if from_purchased:
        account.purchased = purchased - from_purchased
    used = member.used = used_before + credits
    account.used += credits
    if before + recharged == credits:     # the debit took everything
        engine.pause(account, ZERO_BALANCE)
        rare = True
    if campaign_code is None:             # its first debit: the engine remembers it
        campaign_code = engine.campaign_codes[campaign] = engine.names.code(campaign)
    code = member.code
    row = engine.append_entry(account, at_us, "usage", code, -from_base, -from_rollover,
                              -from_purchased, campaign_code, key, used)
    account.days.add(day_index, from_base, from_rollover, from_purchased, code,
                     campaign_code, credits)
    account.idempotency[key] = row
    if recharged:
        account.recharged[key] = recharged
    # `after_debit` decides what fires; it is called unless nothing can: no recharge, no
    # pause, no member limit (a share of it may be reached), and the balance before and
    # after inside the band between two thresholds the last debit ended in.
    low, high = account.alerting.band
    if rare or limit is not None or not low <= before - credits or before >= high:
        alerts.after_debit(engine, account, member, before, used_before, was_running,
                           declined, at_us)
    if not receipt:
        return None
    return _RECEIPT(account.id, credits, campaign, from_base, from_rollover, from_purchased,
                    recharged, used,
                    engine.balance_model(account) if may_view_balance else None)


def _recharge(engine: BillingEngine, account: Account, member: Membership, credits: int,
              key: str, at_us: int) -> int:
    """One purchase (one invoice) of as many recharge amounts as the debit needs, within the
    monthly cap. Returns the credits bought (0 if none could be or the card declined)."""
    settings = account.recharge
    wanted = rules.recharge_need(account.total - credits, settings.threshold, settings.amount)
    packs = rules.recharge_allowed(wanted, settings.amount, settings.cap_cents,
                                   settings.spent_cents)
    if packs == 0:
        return 0
    bought = packs * settings.amount
    cents = credits_to_cents(bought)
    now = from_micros(at_us)
    invoice = engine.charge(account, now, "recharge", bought, cents,
                            f"Auto-recharge: {format_credits(bought)}",
                            f"{account.id}/recharge/{key}/{len(account.invoices)}")
    if invoice is None:
        # Never retried in a loop: switch off and tell the owners why.
        settings.enabled = False
        settings.last_failure = (f"Auto-recharge switched off on {now:%Y-%m-%d %H:%M} UTC: "
                                 f"the payment of {format_credits(bought)} was declined. "
                                 f"Update the payment method, then enable it again.")
        engine.mutations += 1
        return 0
    settings.spent_cents += cents
    account.purchased += bought
    engine.append_entry(account, at_us, "recharge", member.code, 0, 0, bought,
                   engine.names.code(invoice.id), key)
    engine.credits_added(account)
    return bought


def purchase(engine: BillingEngine, account: Account, user_id: str, credits: int, key: str,
             now: datetime) -> int:
    """Buy credits for the account; returns the ledger row. Raises PaymentDeclined, after
    issuing the failed invoice, if the card is declined (nothing is added)."""
    cents = credits_to_cents(credits)
    before = account.total
    invoice = engine.charge(account, now, "purchase", credits, cents,
                            f"Credit purchase: {format_credits(credits)}",
                            f"{account.id}/purchase/{key}/{len(account.invoices)}", key=key)
    if invoice is None:
        failed = account.invoices[-1]
        raise PaymentDeclined(f"payment declined: {format_credits(credits)} were not added "
                              f"(invoice {failed.number} failed). Update the payment "
                              f"method in the portal and try again.")
    account.purchased += credits
    row = engine.append_entry(account, to_micros(now), "purchase", engine.names.code(user_id), 0, 0,
                         credits, engine.names.code(invoice.id), key)
    engine.credits_added(account)
    account.idempotency[key] = row
    alerts.balance_moved(engine, account, before, to_micros(now))
    return row
