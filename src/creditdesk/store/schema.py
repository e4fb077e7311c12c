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

# Key -> the ledger row of its first success and what that success recharged.
idempotency = sa.Table(
    "idempotency", metadata,
    Column("account_id", String(80), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("seq", Big, nullable=False),
    Column("recharged", Big, nullable=False, default=0))

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


# The schema's versions in order: a database at version n runs STEPS[n:] on migrate().
STEPS = [_create_books]
