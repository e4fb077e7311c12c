"""BillingSession: what one user may see and do, with the rules' order of checks.

Every method first finds the account among the caller's own (`not_found` otherwise, so an
outsider learns nothing), then checks the role, then validates the input, then acts
(engine/access.py). This module holds the reads and what moves credits; the settings are
engine/settings.py's.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TypeVar

from .. import rules
from ..errors import IdempotencyConflict, InvalidRequest
from ..models import (
    MAX_CREDITS,
    Balance,
    Context,
    CreditPack,
    Identity,
    Invoice,
    LedgerEntry,
    MemberUsage,
    Plan,
    UsageReceipt,
    UsageSeries,
)
from ..store import first_answers
from ..store.ledger import (
    ACTOR,
    D_BASE,
    D_PURCHASED,
    D_ROLLOVER,
    KIND,
    KIND_CODE,
    REF,
)
from ..store.retry import MAX_ATTEMPTS, RetryTransaction
from ..store.state import Account, Membership
from . import history, invoices, ledger_pages, pages, spending
from .access import ADMITS, retrying
from .core import CREDIT_PACKS
from .settings import SessionSettings

_USAGE = KIND_CODE["usage"]
_PURCHASE = KIND_CODE["purchase"]
MAX_LEDGER_PAGE = 1000
T = TypeVar("T")
_BALANCE_VIEWERS = ADMITS["view_balance"]
_RECORDERS = ADMITS["record_usage"]


class BillingSession(SessionSettings):
    # True where answers go out as JSON (the HTTP API sets it on its sessions): a replay
    # then returns the first answer's kept JSON itself (`StoredAnswer`), not a model read
    # back from it, whose JSON could differ from what was first sent (a field added since).
    answers_as_stored = False

    # --- identity and reads ---------------------------------------------------------------

    def whoami(self) -> Identity:
        store = self.engine.store
        user = store.user(self.user_id)
        contexts = []
        for account_id in [user.personal_account_id, *user.orgs]:
            with store.read(account_id) as account:
                contexts.append(Context(account_id=account_id, kind=account.kind,
                                        name=account.name,
                                        role=account.members[self.user_id].role))
        return Identity(user_id=user.id, name=user.name, email=user.email, contexts=contexts)

    def balance(self, account_id: str) -> Balance:
        return self._view(account_id, "view_balance",
                          lambda account, _: self.engine.balance_model(account))

    def my_usage(self, account_id: str) -> MemberUsage:
        return self._view(account_id, "view_own_usage",
                          lambda _, member: self._member_usage(member))

    def members(self, account_id: str, *, offset: int = 0,
                limit: int | None = None) -> list[MemberUsage]:
        """In joining order; `offset`/`limit` pick a page (a `pages.Page`, with `total`)."""
        def page(account: Account, _: Membership) -> list[MemberUsage]:
            first, size = pages.check(offset, limit)
            return pages.build(pages.members(account.members, first, size),
                               self._member_usage)
        return self._view(account_id, "view_members", page)

    def usage_history(self, account_id: str, *, start: datetime, end: datetime,
                      granularity: str = "day", group_by: str = "source",
                      top: int | None = None) -> UsageSeries:
        return self._view(account_id, "view_usage_history", lambda account, _: (
            history.usage_series(self.engine.names, account, start, end, granularity,
                                 group_by, top)))

    def ledger(self, account_id: str, *, limit: int = 100, before: int | None = None,
               kind: str | None = None, user_id: str | None = None,
               campaign: str | None = None, invoice_id: str | None = None
               ) -> list[LedgerEntry]:
        def page(account: Account, _: Membership) -> list[LedgerEntry]:
            # A page larger than the cap is cut to it (the contract), not refused.
            if not rules.is_int(limit) or limit < 1:
                raise InvalidRequest(f"limit must be a whole number from 1 to "
                                     f"{MAX_LEDGER_PAGE}", field="limit")
            if before is not None and (not rules.is_int(before) or before < 1):
                raise InvalidRequest("before must be a ledger entry id", field="before")
            test = ledger_pages.row_filter(self.engine.names, kind=kind, user_id=user_id,
                                           campaign=campaign, invoice_id=invoice_id)
            rows = ledger_pages.page_rows(account.ledger, before, min(limit, MAX_LEDGER_PAGE),
                                          test)
            return [self.engine.entry_model(account, row) for row in rows]
        return self._view(account_id, "view_ledger", page)

    def invoices(self, account_id: str, *, offset: int = 0,
                 limit: int | None = None) -> list[Invoice]:
        """Newest first; `offset`/`limit` pick a page (a `pages.Page`, with `total`)."""
        def page(account: Account, _: Membership) -> list[Invoice]:
            first, size = pages.check(offset, limit)
            return pages.build(pages.invoices(account.invoices, first, size),
                               lambda row: self.engine.invoice_model(account, row))
        return self._view(account_id, "view_invoices", page)

    def plans(self) -> list[Plan]:
        return self.engine.plan_list()

    def credit_packs(self) -> list[CreditPack]:
        return list(CREDIT_PACKS)

    def portal_url(self, account_id: str) -> str:
        return self._view(account_id, "open_portal",
                          lambda account, _: self.engine.payments.portal_url(account.id))

    # --- usage ----------------------------------------------------------------------------

    def record_usage(self, account_id: str, credits: int, *, campaign: str,
                     idempotency_key: str) -> UsageReceipt:
        # The first attempt inline, without `retrying`'s frame or one of its own: this runs
        # on every debit (bench/engine_scale.py counts its instructions).
        try:
            with self.engine.store.write(account_id if type(account_id) is str else "") as held:
                return self.debit_under_lock(held, account_id, credits, campaign,
                                             idempotency_key, True)
        except RetryTransaction:
            return retrying(self._record_usage, account_id, credits, campaign,
                            idempotency_key, attempts=MAX_ATTEMPTS - 1)

    def _record_usage(self, account_id: str, credits: int, campaign: str,
                      idempotency_key: str) -> UsageReceipt:
        with self.engine.store.write(account_id if type(account_id) is str else "") as held:
            return self.debit_under_lock(held, account_id, credits, campaign,
                                         idempotency_key, True)

    def debit_under_lock(self, account: Account | None, account_id: str, credits: int,
                         campaign: str, key: str, receipt: bool) -> UsageReceipt | None:
        """`record_usage`'s rules, in its order, on `account` (what `store.write(account_id)`
        gave the caller, who holds it): the caller's role, the periods the clock has passed,
        the input, the key, then the debit. Returns the receipt (a replay: the first answer),
        or None without `receipt` (engine/bulk_usage.py, where nobody reads them)."""
        engine = self.engine
        member = account.members.get(self.user_id) if account is not None else None
        if member is None or member.role not in _RECORDERS:    # _admit words the refusal
            member = self._admit(account, account_id, "record_usage")
        at_us = engine.read_micros()
        end_us = engine.period_ends_us.get(account.period_end)
        if end_us is None or at_us >= end_us:
            engine.catch_up_micros(account, at_us)
        if type(credits) is not int or not 0 < credits <= MAX_CREDITS:
            rules.check_credits(credits, "credits")
        # Cheap checks first; the validators run only to word the refusal. A campaign a
        # debit already went through with passed them then (engine.campaign_codes).
        campaign_code = engine.campaign_codes.get(campaign) if type(campaign) is str else None
        if campaign_code is None and (type(campaign) is not str or not 0 < len(campaign) <= 200
                                      or campaign.isspace()):
            rules.check_text(campaign, "campaign")
        if not rules.key_is_valid(key):
            rules.check_key(key)
        # Checked under the account's lock: concurrent duplicates meet here, in order.
        row = account.idempotency.get(key)
        if row is not None:
            if row < 0:     # an invoice payment that wrote no ledger row
                raise self._conflict(key)
            values = account.ledger.row(row)
            names = engine.names.names
            first = -(values[D_BASE] + values[D_ROLLOVER] + values[D_PURCHASED])
            if (values[KIND] != _USAGE or first != credits
                    or names[values[REF]] != campaign
                    or names[values[ACTOR]] != self.user_id):
                raise self._conflict(key)
            return self._first_answer(account, key, UsageReceipt) if receipt else None
        answer = spending.debit(engine, account, member, credits, campaign, campaign_code,
                                key, at_us, member.role in _BALANCE_VIEWERS, receipt)
        if engine.store.keeps_answers and answer is not None:
            account.answers[key] = answer       # in this transaction, with its record
        return answer

    def _first_answer(self, account: Account, key: str, model: type[T]) -> T:
        """The first answer under `key`: as the store kept it (over HTTP, where
        `answers_as_stored`, its very JSON, sent as it is), or rebuilt from the books."""
        stored = account.answers.get(key)
        if stored is None:
            return first_answers.rebuilt_answer(account, key, self.engine.names.names)
        if self.answers_as_stored:
            return first_answers.StoredAnswer(stored)
        return model.model_validate_json(stored)

    @staticmethod
    def _conflict(key: str) -> IdempotencyConflict:
        return IdempotencyConflict(f"idempotency key {key!r} was already used for a "
                                   f"different request on this account",
                                   field="idempotency_key")

    # --- purchases ------------------------------------------------------------------------

    def purchase_credits(self, account_id: str, credits: int, *,
                         idempotency_key: str) -> Invoice:
        engine = self.engine

        def buy(account: Account, _: Membership) -> Invoice:
            rules.check_credits(credits, "credits", whole_dollars=True)
            rules.check_key(idempotency_key)
            row = account.idempotency.get(idempotency_key)
            if row is not None and (row < 0 or idempotency_key in account.invoice_payments):
                raise self._conflict(idempotency_key)   # it paid an invoice
            if row is not None:
                values = account.ledger.row(row)
                if (values[KIND] != _PURCHASE or values[D_PURCHASED] != credits
                        or engine.names.names[values[ACTOR]] != self.user_id):
                    raise self._conflict(idempotency_key)
                return self._first_answer(account, idempotency_key, Invoice)
            row = spending.purchase(engine, account, self.user_id, credits,
                                    idempotency_key, engine.clock())
            invoice_id = engine.names.names[account.ledger.get(row, REF)]
            answer = engine.invoice_model(account, account.invoices.find(invoice_id))
            if engine.store.keeps_answers:
                account.answers[idempotency_key] = answer
            return answer
        return self._change(account_id, "purchase_credits", buy)

    def pay_invoice(self, account_id: str, invoice_id: str, *,
                    idempotency_key: str) -> Invoice:
        """Pay a failed invoice again (owner). One attempt id per call, kept across the
        store's retries of its transaction: the gateway then charges a retried transaction
        once, while the owner's next call (even with the same key, after a decline) is a
        new attempt."""
        engine = self.engine
        attempt = uuid.uuid4().hex

        def pay(account: Account, _: Membership) -> Invoice:
            answer = invoices.pay(engine, account, self.user_id, invoice_id,
                                  idempotency_key, attempt, engine.clock())
            if answer is None:      # the replay of the call that paid it
                return self._first_answer(account, idempotency_key, Invoice)
            return answer
        return self._change(account_id, "pay_invoice", pay)
