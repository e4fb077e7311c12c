"""The schema step that makes invoices paid by pay_invoice before this release read as
paid (`_paid_invoices_read_as_paid`), on SQLite and PostgreSQL: their decline note goes,
unpaid and paid-at-issue invoices keep their text, and a replay of the payment still sends
the first answer as it was sent, decline note and all."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from creditdesk.store import SqlStore
from creditdesk.store.schema import STEPS, _paid_invoices_read_as_paid
from tests.store.test_sql_store import _engine, _org_on


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'books.db'}"
    return request.getfixturevalue("postgres_url")


def descriptions(store: SqlStore) -> dict[str, str]:
    with store.engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT id, description FROM invoices")).all())


def test_a_database_one_step_behind_gets_its_paid_invoices_read_as_paid(url):
    store, engine, clock = _org_on(url, members=1)
    owner = engine.session("u0")
    owner.purchase_credits("acme", 200, idempotency_key="p1")      # paid when issued
    engine.payments.decline("acme")
    for key in ("f1", "f2"):
        with pytest.raises(Exception, match="declined"):
            owner.purchase_credits("acme", 200, idempotency_key=key)
    engine.payments.decline("acme", False)
    failed = [i for i in owner.invoices("acme") if i.status == "failed"]
    declined_text = failed[0].description
    assert " (declined: " in declined_text
    paid = owner.pay_invoice("acme", failed[0].id, idempotency_key="pay")
    now = descriptions(store)
    assert now[paid.id] == paid.description != declined_text
    # As a database of the release before: the paid invoice kept its decline note, and so
    # did the answer its payment first sent.
    sent = paid.model_copy(update={"description": declined_text}).model_dump_json()
    version = STEPS.index(_paid_invoices_read_as_paid) + 1
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE invoices SET description = :d WHERE id = :i"),
                     {"d": declined_text, "i": paid.id})
        conn.execute(sa.text("UPDATE idempotency SET answer = :a WHERE key = 'pay'"),
                     {"a": sent})
        conn.execute(sa.text("DELETE FROM schema_version WHERE version >= :v"),
                     {"v": version})
    store.close()

    again = SqlStore(url)
    assert again.migrate() == len(STEPS)
    assert descriptions(again) == now           # paid reads as paid; the others as before
    replay = _engine(again, clock).session("u0").pay_invoice("acme", paid.id,
                                                             idempotency_key="pay")
    assert replay.model_dump_json() == sent
    again.close()
