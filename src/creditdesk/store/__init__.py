"""Where the books live: one small interface, two stores.

    from creditdesk.store import MemoryStore, SqlStore
    engine = BillingEngine(clock=clock, payments=gateway, store=MemoryStore())  # the default
    store = SqlStore("sqlite:////var/lib/creditdesk/books.db")   # or postgresql+psycopg://...
    store.migrate()                     # create or upgrade the versioned schema, then
    engine = BillingEngine(clock=clock, payments=gateway, store=store)
    ...
    store.close()

`SqlStore(url)` takes a SQLAlchemy URL: `sqlite:///path` (WAL, write transactions opened
with BEGIN IMMEDIATE, the file created 0600) or `postgresql+psycopg://...` (`postgresql://`
is taken as psycopg 3; a QueuePool of connections; the account row is locked with SELECT
... FOR UPDATE). Importing `creditdesk.store` imports no SQLAlchemy: `SqlStore` loads it on
first use, so the demo starts fast.

What the engine calls (both stores have exactly these; the engine holds every rule):

- `migrate()`, `close()`; `kind` is "memory" or "sql".
- `names`: a process-local table interning strings (users, campaigns, invoice ids) as
  small ints for ledger rows; never stored as such (the SQL tables hold the strings).
- The catalogue, inside `with store.catalogue():` for changes: `plan(id)`, `plans()`,
  `insert_plan(plan)`, `user(id)`, `users()`, `insert_user(user)`, `has_account(id)`,
  `insert_account(account)`, `join_org(user, org_id)`, `account_ids()`.
- `with store.write(account_id) as account:` one transaction on one account, holding its
  lock (an RLock in memory; BEGIN IMMEDIATE on SQLite; FOR UPDATE on PostgreSQL); `account`
  is None when there is no such account. The block commits when it ends normally or with a
  `BillingError` (a refusal keeps what it caused on the way: a pause, a recharge, a failed
  invoice); any other exception rolls back. `store.read(account_id)` is the same without
  the lock (the memory store takes the lock anyway: it costs nothing there).
  `save_member(account, member)` after changing a membership's role or limit.
  `read_locks` says whether `read` takes the lock (memory: yes; SQL: no, so a read that
  must close a period goes again as a write).
- A SQL transaction the database gave up (serialization failure, deadlock, SQLite busy)
  raises `retry.RetryTransaction` after rolling back; the engine runs the whole operation
  again on fresh state (`engine.session.retrying`, at most `retry.MAX_ATTEMPTS` times).
- `take_entry_id()`, `next_entry_id`, `take_invoice_number()`, `take_alert_id()`: ids that
  grow across all accounts (PostgreSQL sequences; a `counters` row on SQLite).
- The test gateway's books, for `engine.StoredPaymentGateway(store)`: `gateway_declining`,
  `gateway_set_declining`, `gateway_charge(key)`, `gateway_record`, `gateway_charges`.
  Every charge the engine makes carries a payment key (account / operation / idempotency
  key or period / invoice count), and a key seen before returns its first result.
- Bulk load: `bulk.load_books(memory_store, sql_store)` writes books built in memory (the
  demo world, a replayed journal) into empty SQL books in short batched transactions.
- SQL store only, for the server: `save_token(hash, user_id)`, `token_user(hash)`,
  `tokens()`, `stored_clock()`, `save_clock(now)`, `schema_version()`; `engine` is the
  SQLAlchemy engine. Schema: `schema.py` (tables, and STEPS: the ordered migrations).

The account object (`state.Account`) carries its scalar state (buckets, period, plan,
pending change, past due, autopilot, auto-recharge settings and spend) and its collections:
`members` (user id -> `Membership`), `ledger` (`ledger.Ledger`: rows of 64-bit ints, see
its module), `invoices`, `idempotency` (key -> ledger row of the first success) with
`recharged` (key -> what that first success recharged, when it did), and `days` (usage
roll-ups: `add(day, from_base, from_rollover, from_purchased, member, campaign, credits)`
and `between(first_day, last_day)` -> [(day, DayUsage)]; SQL keeps per-day and per-month
tables). Alerts: `alerting` (`state.AlertConfig`: the settings, the armed thresholds, and
`marks`, (user, mark) -> the period a member_usage share or a limit refusal was told in),
`alerts` (append only: `append(row)`, `page(before, limit)` newest first; the SQL store
writes an `alert_outbox` row with each, in the same transaction, for the webhook worker).
Invoices: `invoices.find(id)`, `latest_of_kind(kind)`, `mark_paid(invoice, at)`, and
`invoice_payments` (pay_invoice key -> (invoice id, user id, paid at µs)); a paid
subscription invoice's key is in `idempotency` as -1 (it wrote no ledger row). First
answers (store/first_answers.py): where `keeps_answers` (SQL) the engine writes each one
into `answers` (key -> JSON) in the call's transaction, and a replay sends those bytes; the
memory store rebuilds a replay's answer from the first success's ledger row (which stores
every value of it) and `recharged`, keeping in `answers` only answers recorded elsewhere.
"""

from __future__ import annotations

from .memory import MemoryStore

__all__ = ["MemoryStore", "SqlStore"]


def __getattr__(name: str):
    if name == "SqlStore":
        from .sql import SqlStore
        return SqlStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
