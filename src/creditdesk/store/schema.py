"""The SQL store's tables, and the ordered steps that build them (the schema's versions).

Instants are whole microseconds since the epoch (UTC) in BIGINT columns: the same on SQLite
and PostgreSQL, exact, and cheap to compare. Credits and cents are BIGINT.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import BigInteger as Big
from sqlalchemy import Boolean, Column, Integer, SmallInteger, String, Text

metadata = sa.MetaData()

# Counters that grow across all accounts: PostgreSQL sequences `<name>_ids` (no lock waits
# between accounts); SQLite, which has one writer anyway, keeps them in `counters`.
COUNTERS = ("entries", "invoices", "plans", "users", "accounts", "memberships")
schema_version = sa.Table("schema_version", metadata,
                          Column("version", Integer, primary_key=True))

counters = sa.Table("counters", metadata,
                    Column("name", String(32), primary_key=True),
                    Column("value", Big, nullable=False))

plans = sa.Table(
    "plans", metadata,
    Column("id", String(64), primary_key=True),
    Column("n", Big, nullable=False),
    Column("name", String(200), nullable=False),
    Column("base_credits_per_month", Big, nullable=False),
    Column("rollover_cap", Big, nullable=False),
    Column("billing_period", String(16), nullable=False),
    Column("price_cents", Big, nullable=False))

users = sa.Table(
    "users", metadata,
    Column("id", String(64), primary_key=True),
    Column("n", Big, nullable=False),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=False),
    Column("personal_account_id", String(80), nullable=False))

accounts = sa.Table(
    "accounts", metadata,
    Column("id", String(80), primary_key=True),
    Column("n", Big, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("plan_id", String(64), nullable=False),
    Column("anchor_us", Big, nullable=False),
    Column("period_index", Integer, nullable=False),
    Column("period_start_us", Big, nullable=False),
    Column("period_end_us", Big, nullable=False),
    Column("base", Big, nullable=False),
    Column("rollover", Big, nullable=False),
    Column("purchased", Big, nullable=False),
    Column("used", Big, nullable=False),
    Column("paused", Boolean, nullable=False),
    Column("pause_reason", Text),
    Column("pending_plan_id", String(64)),
    Column("pending_index", Integer),
    Column("billing_start", Integer, nullable=False),
    Column("past_due", Boolean, nullable=False),
    Column("ledger_rows", Big, nullable=False),
    Column("invoice_count", Big, nullable=False),
    Column("recharge_enabled", Boolean, nullable=False),
    Column("recharge_threshold", Big, nullable=False),
    Column("recharge_amount", Big, nullable=False),
    Column("recharge_cap_cents", Big),
    Column("recharge_spent_cents", Big, nullable=False),
    Column("recharge_last_failure", Text))

memberships = sa.Table(
    "memberships", metadata,
    Column("account_id", String(80), primary_key=True),
    Column("user_id", String(64), primary_key=True),
    Column("n", Big, nullable=False),
    Column("role", String(16), nullable=False),
    Column("credit_limit", Big),
    Column("used", Big, nullable=False),
    sa.Index("memberships_by_user", "user_id"))

# One row per ledger entry: its changes, the buckets after it, and what it refers to.
ledger = sa.Table(
    "ledger", metadata,
    Column("id", Big, primary_key=True, autoincrement=False),
    Column("account_id", String(80), nullable=False),
    Column("seq", Big, nullable=False),
    Column("at_us", Big, nullable=False),
    Column("kind", SmallInteger, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("d_base", Big, nullable=False),
    Column("d_rollover", Big, nullable=False),
    Column("d_purchased", Big, nullable=False),
    Column("base", Big, nullable=False),
    Column("rollover", Big, nullable=False),
    Column("purchased", Big, nullable=False),
    Column("ref", String(255)),
    Column("idempotency_key", String(255)),
    Column("member_used", Big, nullable=False),
    Column("period_used", Big, nullable=False),
    Column("pause_reason", Text),
    sa.UniqueConstraint("account_id", "seq", name="ledger_account_seq"))

invoices = sa.Table(
    "invoices", metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(80), nullable=False),
    Column("seq", Big, nullable=False),
    Column("number", String(32), nullable=False),
    Column("created_us", Big, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("credits", Big, nullable=False),
    Column("amount_cents", Big, nullable=False),
    Column("status", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Column("payment_method", String(200), nullable=False),
    sa.UniqueConstraint("account_id", "seq", name="invoices_account_seq"))

# Key -> the ledger row of its first success, what that success recharged, and its first
# answer's JSON exactly as it was sent (schema step _keep_first_answers; store/sql_keys.py).
idempotency = sa.Table(
    "idempotency", metadata,
    Column("account_id", String(80), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("seq", Big, nullable=False),
    Column("recharged", Big, nullable=False, default=0),
    Column("answer", Text))

# Usage roll-ups: credits per (day or month, dimension, key). Dimension 0 is the bucket
# (key base/rollover/purchased), 1 the member, 2 the campaign.
usage_day = sa.Table(
    "usage_day", metadata,
    Column("account_id", String(80), primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("dim", SmallInteger, primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("credits", Big, nullable=False))

usage_month = sa.Table(
    "usage_month", metadata,
    Column("account_id", String(80), primary_key=True),
    Column("month", Integer, primary_key=True),
    Column("dim", SmallInteger, primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("credits", Big, nullable=False))

tokens = sa.Table(
    "tokens", metadata,
    Column("token_hash", String(128), primary_key=True),
    Column("user_id", String(64), nullable=False))

test_clock = sa.Table(
    "test_clock", metadata,
    Column("id", Integer, primary_key=True),
    Column("now_us", Big, nullable=False))

gateway_declines = sa.Table(
    "gateway_declines", metadata,
    Column("account_id", String(80), primary_key=True))

gateway_charges = sa.Table(
    "gateway_charges", metadata,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("key", String(400), unique=True),
    Column("account_id", String(80), nullable=False),
    Column("amount_cents", Big, nullable=False),
    Column("description", Text, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("reason", Text, nullable=False))


def _create_books(conn: sa.Connection) -> None:
    """Version 1: every table above (schema_version exists before any step runs)."""
    metadata.create_all(conn, tables=[t for t in metadata.sorted_tables
                                      if t is not schema_version])
    if conn.dialect.name == "postgresql":
        for name in COUNTERS:
            sa.Sequence(f"{name}_ids").create(conn, checkfirst=True)


# --- webhooks (server/webhook_store.py) ------------------------------------------------
# Owners' endpoints; the signing secret is kept to sign each POST (it is shown only once).
webhooks = sa.Table(
    "webhooks", metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(80), nullable=False),
    Column("url", Text, nullable=False),
    Column("secret", String(100), nullable=False),
    Column("created_us", Big, nullable=False),
    sa.Index("webhooks_by_account", "account_id"))

# One row per alert and endpoint: its fixed body, where it stands, and when it is next due.
# A worker holds a row it is sending by `leased_until_us`, so no other worker sends it.
webhook_deliveries = sa.Table(
    "webhook_deliveries", metadata,
    Column("id", String(40), primary_key=True),
    Column("webhook_id", String(40), nullable=False),
    Column("alert_id", Big, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_us", Big, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("last_error", Text),
    Column("next_retry_us", Big),
    Column("leased_until_us", Big),
    sa.UniqueConstraint("webhook_id", "alert_id", name="webhook_deliveries_once"),
    sa.Index("webhook_deliveries_due", "status", "next_retry_us"))

# Every attempt, for `GET .../webhooks/{id}/deliveries`.
webhook_attempts = sa.Table(
    "webhook_attempts", metadata,
    Column("delivery_id", String(40), primary_key=True),
    Column("n", Integer, primary_key=True),
    Column("webhook_id", String(40), nullable=False),
    Column("alert_id", Big, nullable=False),
    Column("at_us", Big, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("next_retry_us", Big),
    sa.Index("webhook_attempts_by_webhook", "webhook_id", "at_us"))


def _add_webhooks(conn: sa.Connection) -> None:
    """Webhook endpoints, their deliveries and attempts (a fresh database already has
    them from version 1, which creates every table: checkfirst makes this a no-op there)."""
    metadata.create_all(conn, tables=[webhooks, webhook_deliveries, webhook_attempts],
                        checkfirst=True)


# --- alerts and invoice payments (store/sql_rows.py) -----------------------------------
# Instants in `at` are microseconds since the epoch, like every *_us column.
alert_settings = sa.Table(
    "alert_settings", metadata,
    Column("account_id", String(80), primary_key=True),
    # Comma-separated whole numbers, sorted: at most 5 thresholds, 3 shares.
    Column("balance_below", Text, nullable=False),
    Column("member_usage_percent", Text, nullable=False),
    Column("armed", Text, nullable=False))

# (account, member, mark) -> the period index it was last raised in: mark P for
# member_usage P, 0 for member_limit_reached. An older period's row is simply stale.
alert_marks = sa.Table(
    "alert_marks", metadata,
    Column("account_id", String(80), primary_key=True),
    Column("user_id", String(64), primary_key=True),
    Column("mark", SmallInteger, primary_key=True),
    Column("period_index", Integer, nullable=False))

alerts = sa.Table(
    "alerts", metadata,
    Column("id", Big, primary_key=True, autoincrement=False),
    Column("account_id", String(80), nullable=False),
    Column("at", Big, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("user_id", String(64)),
    Column("threshold", Big),
    Column("balance_after", Big, nullable=False),
    Column("message", Text, nullable=False),
    sa.Index("alerts_by_account", "account_id", "id"))

# One row per alert to deliver, written in the alert's transaction; the webhook worker
# (server side) reads and deletes them, so a crash after the commit loses nothing.
alert_outbox = sa.Table(
    "alert_outbox", metadata,
    Column("alert_id", Big, primary_key=True, autoincrement=False),
    Column("account_id", String(80), nullable=False),
    Column("at", Big, nullable=False))

# A failed purchase's idempotency key (to find it superseded by a later success).
invoice_keys = sa.Table(
    "invoice_keys", metadata,
    Column("invoice_id", String(32), primary_key=True),
    Column("account_id", String(80), nullable=False),
    Column("idempotency_key", String(255), nullable=False))

# A failed invoice paid later by pay_invoice: by which key and user, and when.
invoice_payments = sa.Table(
    "invoice_payments", metadata,
    Column("account_id", String(80), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("invoice_id", String(32), nullable=False, unique=True),
    Column("user_id", String(64), nullable=False),
    Column("paid_us", Big, nullable=False))

_ALERT_TABLES = [alert_settings, alert_marks, alerts, alert_outbox, invoice_keys,
                 invoice_payments]


def _add_alerts(conn: sa.Connection) -> None:
    """Alerts, their settings and outbox, and invoice payments (as _add_webhooks: version 1
    of a fresh database already made these tables, checkfirst skips them there)."""
    metadata.create_all(conn, tables=_ALERT_TABLES, checkfirst=True)
    if conn.dialect.name == "postgresql":
        sa.Sequence("alerts_ids").create(conn, checkfirst=True)


def _index_usage_by_key(conn: sa.Connection) -> None:
    """Roll-ups by split and key: a top-N chart sums one split (`dim`) over a year of
    months, then fetches a few keys' days and the days' buckets (dim 0). The primary keys
    lead with the day or month, so both had to read every split of every day in the range
    (bench/history_postgres.py: 86 ms of filtering for 1,000 rows on a 1,000-member year)."""
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS usage_day_by_key "
                         "ON usage_day (account_id, dim, key, day)"))
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS usage_month_by_dim "
                         "ON usage_month (account_id, dim, month)"))


def _keep_first_answers(conn: sa.Connection) -> None:
    """Each idempotency record keeps its first answer's JSON, so a replay sends it byte for
    byte after any change of the models. Records kept before this step get the answer
    rebuilt from their rows, as a replay built it until now (a fresh database has the
    column from version 1, and no records)."""
    from .sql_keys import fill_missing_answers
    if "answer" not in {c["name"] for c in sa.inspect(conn).get_columns("idempotency")}:
        conn.execute(sa.text("ALTER TABLE idempotency ADD COLUMN answer TEXT"))
    fill_missing_answers(conn)


def _index_finished_deliveries(conn: sa.Connection) -> None:
    """Finished webhook deliveries by their time, for the deliverer's pruning
    (SqlWebhooks.prune_finished): without it, finding the old delivered and abandoned rows
    reads every delivery an account ever had, and they were never deleted."""
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS webhook_deliveries_finished "
                         "ON webhook_deliveries (status, created_us)"))


def _paid_invoices_read_as_paid(conn: sa.Connection) -> None:
    """Failed invoices paid later (pay_invoice) kept their decline note until this release,
    which rewrites it when one is paid (invoice_rules.paid_description): those paid before
    read as paid too. After _keep_first_answers, so that the answers it rebuilds are the
    ones first sent, which replays keep sending byte for byte."""
    from ..invoice_rules import DECLINE_NOTE, paid_description
    i = invoices.c
    rows = conn.execute(sa.select(i.id, i.description).join(
        invoice_payments, invoice_payments.c.invoice_id == i.id).where(
        i.status == "paid", i.description.contains(DECLINE_NOTE, autoescape=True))).all()
    if rows:
        conn.execute(invoices.update().where(i.id == sa.bindparam("b_id")).values(
            description=sa.bindparam("b_description")),
            [{"b_id": id_, "b_description": paid_description(text)} for id_, text in rows])


# The schema's versions in order: a database at version n runs STEPS[n:] on migrate().
STEPS = [_create_books, _add_webhooks, _add_alerts, _index_usage_by_key,
         _keep_first_answers, _index_finished_deliveries, _paid_invoices_read_as_paid]
