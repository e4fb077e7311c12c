"""First answers to idempotency keys: kept as given (SQL), or rebuilt from the books (memory).

A replay returns the first answer exactly as it was first given (billing-rules.md,
"Idempotency"). The SQL store keeps each answer's JSON with its idempotency record, written
in the transaction of the call that gave it: its books outlive the process and the models
that made them, so an answer rebuilt later could come out in another shape. The memory store
keeps no answers (a receipt object costs ten times the ledger row it describes, and a demo
world holds a million debits): its books die with the process, and a rebuild from the ledger
row gives the same answer under the same models. It keeps only answers written into it as
JSON (a journal's recorded answers, by the upgrade) in `account.answers`.

The rebuild lives here, once, for the memory store's replays, for the bulk load into SQL
books (store/bulk.py) and for the schema step that gave existing SQL records their answers.
"""

from __future__ import annotations

from datetime import datetime

from .. import rules
from ..models import Balance, Invoice, UsageReceipt
from .ledger import (
    ACTOR,
    AT,
    BASE,
    D_BASE,
    D_PURCHASED,
    D_ROLLOVER,
    KIND,
    KIND_CODE,
    MEMBER_USED,
    PAUSED,
    PERIOD_USED,
    PURCHASED,
    REF,
    ROLLOVER,
    from_micros,
)
from .state import Account
from .state import Invoice as InvoiceRow

_USAGE = KIND_CODE["usage"]


class StoredAnswer(str):
    """A first answer's JSON as the store kept it, for the HTTP API to send as it is."""

    __slots__ = ()


def answer_json(answer: object) -> str:
    """The JSON to store for an answer: a model serialised as the HTTP API serialises it,
    or JSON text (a recorded answer) as it is."""
    if isinstance(answer, str):
        return str(answer)
    return answer.model_dump_json()


def invoice_answer(account_id: str, row: InvoiceRow) -> Invoice:
    return Invoice(id=row.id, number=row.number, account_id=account_id,
                   created_at=row.created_at, kind=row.kind, credits=row.credits,
                   amount_cents=row.amount_cents, status=row.status,
                   description=row.description, payment_method=row.payment_method,
                   paid_at=row.paid_at)


def usage_receipt(account_id: str, values, names: list[str], recharged: int,
                  anchor: datetime, may_view_balance: bool) -> UsageReceipt:
    """A debit's answer from its ledger row (which holds every value after it; `names`
    turns its codes into strings) and what it recharged."""
    balance = None
    if may_view_balance:
        base, rollover, purchased = values[BASE], values[ROLLOVER], values[PURCHASED]
        reason = values[PAUSED]
        index = rules.period_index_at(anchor, from_micros(values[AT]))
        balance = Balance(
            account_id=account_id, base=base, rollover=rollover, purchased=purchased,
            total=base + rollover + purchased, used_this_period=values[PERIOD_USED],
            period_start=rules.period_start(anchor, index),
            period_end=rules.period_start(anchor, index + 1),
            autopilot="paused" if reason >= 0 else "running",
            autopilot_reason=names[reason] if reason >= 0 else None)
    return UsageReceipt(
        account_id=account_id,
        credits=-(values[D_BASE] + values[D_ROLLOVER] + values[D_PURCHASED]),
        campaign=names[values[REF]], from_base=-values[D_BASE],
        from_rollover=-values[D_ROLLOVER], from_purchased=-values[D_PURCHASED],
        recharged=recharged, member_used_this_period=values[MEMBER_USED], balance=balance)


def rebuilt_answer(account: Account, key: str, names: list[str]) -> UsageReceipt | Invoice:
    """The answer of the first success under `key` (which must have one), from the books:
    the invoice it paid or bought, or its debit's receipt, the balance shown if its caller
    may view balances now."""
    paid = account.invoice_payments.get(key)
    if paid is not None:
        return invoice_answer(account.id, account.invoices.find(paid[0]))
    row = account.idempotency.get(key)
    values = account.ledger.row(row)
    if values[KIND] != _USAGE:
        return invoice_answer(account.id, account.invoices.find(names[values[REF]]))
    member = account.members.get(names[values[ACTOR]])
    may_view = member is not None and rules.role_allows(member.role, "view_balance")
    return usage_receipt(account.id, values, names, account.recharged.get(key, 0),
                         account.anchor, may_view)
