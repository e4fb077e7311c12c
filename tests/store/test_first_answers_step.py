"""The schema step that keeps each first answer with its idempotency record
(`_keep_first_answers`), on SQLite and PostgreSQL: a database one step behind, whose
records hold no answers, gets each one rebuilt from its rows, equal to what was first sent."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from creditdesk.store import SqlStore
from creditdesk.store.schema import STEPS, _keep_first_answers
from creditdesk.store.sql_keys import fill_missing_answers
from tests.store.test_sql_store import _engine, _org_on


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'books.db'}"
    return request.getfixturevalue("postgres_url")


def first_answers(engine, clock) -> dict[str, str]:
    """key -> the JSON of its first answer, for every kind of record: debits with and
    without the balance, one that recharged, a purchase, a payment that added credits
    (a failed purchase) and one that wrote no ledger row (a failed renewal)."""
    owner, member = engine.session("u0"), engine.session("u1")
    answers = {"d-owner": owner.record_usage("acme", 300, campaign="a",
                                             idempotency_key="d-owner"),
               "d-member": member.record_usage("acme", 200, campaign="b",
                                               idempotency_key="d-member"),
               "p1": owner.purchase_credits("acme", 400, idempotency_key="p1")}
    owner.configure_auto_recharge("acme", enabled=True, threshold=700, amount=200)
    answers["d-recharge"] = member.record_usage("acme", 300, campaign="b",
                                                idempotency_key="d-recharge")
    assert answers["d-recharge"].recharged > 0 and answers["d-member"].balance is None
    owner.configure_auto_recharge("acme", enabled=False, threshold=0, amount=200)
    engine.payments.decline("acme")
    with pytest.raises(Exception, match="declined"):
        owner.purchase_credits("acme", 200, idempotency_key="f1")
    clock.advance(timedelta(days=35))           # the renewal is declined too: past due
    owner.balance("acme")
    engine.payments.decline("acme", False)
    failed = [i for i in owner.invoices("acme") if i.status == "failed"]
    assert {i.kind for i in failed} == {"purchase", "subscription"}
    for invoice in failed:
        answers[f"pay-{invoice.kind}"] = owner.pay_invoice("acme", invoice.id,
                                                           idempotency_key=f"pay-{invoice.kind}")
    return {key: answer.model_dump_json() for key, answer in answers.items()}


def kept(store: SqlStore) -> dict[str, str | None]:
    with store.engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT key, answer FROM idempotency")).all())


def test_a_database_one_step_behind_gets_every_answer_it_first_sent(url):
    store, engine, clock = _org_on(url, members=2)
    sent = first_answers(engine, clock)
    assert kept(store) == sent          # this release keeps them as it sends them
    # Later steps go back too, and run again: each is one a database one step behind runs.
    version = STEPS.index(_keep_first_answers) + 1
    # As a database of the release before the step: no column, at the version before.
    with store.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE idempotency DROP COLUMN answer"))
        conn.execute(sa.text("DELETE FROM schema_version WHERE version >= :v"),
                     {"v": version})
    assert store.schema_version() == version - 1
    store.close()

    again = SqlStore(url)
    assert again.migrate() == len(STEPS)
    assert kept(again) == sent
    later = _engine(again, clock)
    owner = later.session("u0")
    assert owner.record_usage("acme", 300, campaign="a",
                              idempotency_key="d-owner").model_dump_json() == sent["d-owner"]
    paid = next(i for i in owner.invoices("acme") if i.kind == "subscription"
                and i.paid_at is not None and i.paid_at != i.created_at)
    assert owner.pay_invoice("acme", paid.id, idempotency_key="pay-subscription"
                             ).model_dump_json() == sent["pay-subscription"]
    again.close()


def test_the_step_leaves_kept_answers_alone(tmp_path):
    """Run again (a fresh database has the column from version 1), it fills only records
    without an answer: one kept as first sent is never rebuilt."""
    url = f"sqlite:///{tmp_path / 'books.db'}"
    store, engine, _ = _org_on(url, members=2)
    engine.session("u0").record_usage("acme", 300, campaign="a", idempotency_key="k")
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE idempotency SET answer = '{\"as\":\"first sent\"}'"))
        _keep_first_answers(conn)
    assert kept(store) == {"k": '{"as":"first sent"}'}
    store.close()


def test_answers_rebuilt_a_few_records_at_a_time_are_each_its_own(tmp_path):
    """The step stores answers in batches (one UPDATE for many records): batches of two,
    across every kind of record, still give each record the answer it first sent."""
    url = f"sqlite:///{tmp_path / 'books.db'}"
    store, engine, clock = _org_on(url, members=2)
    sent = first_answers(engine, clock)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE idempotency SET answer = NULL"))
        assert fill_missing_answers(conn, batch_size=2) == len(sent)
    assert kept(store) == sent
    store.close()
