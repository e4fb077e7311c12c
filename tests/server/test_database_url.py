"""`serve --db`: every accepted form, and one clear sentence with exit code 2 for a bad one.

Regression (issue 8, deliverable 4): the journal release took `postgresql://…` for a file
name, made a folder `postgresql:` and served from a SQLite file inside it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from creditdesk.server.database import DatabaseError, check, parse

MAIN = "import sys; from creditdesk.cli import main; sys.exit(main())"
TOKEN = "operator-token-for-the-db-tests"


def serve(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `creditdesk serve` expecting it to refuse to start (it must not serve)."""
    environment = {**os.environ, "CREDITDESK_OPERATOR_TOKEN": TOKEN, **(env or {})}
    return subprocess.run([sys.executable, "-c", MAIN, "serve", "--port", "0", *args],
                          cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=30)


def assert_refused(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    message = result.stderr.strip()
    assert message.count("\n") == 0, message        # one sentence, one line
    for word in words:
        assert word in message


@pytest.mark.parametrize(("text", "kind", "path"), [
    ("books.db", "sqlite", "books.db"),
    ("sqlite:///rel/books.db", "sqlite", "rel/books.db"),
    ("sqlite:////abs/books.db", "sqlite", "/abs/books.db"),
    ("postgresql://ann:pw@db.example:5433/books", "postgresql", None),
    ("postgresql+psycopg://ann@/books?host=/run/pg", "postgresql", None),
])
def test_accepted_forms(text, kind, path):
    database = parse(text)
    assert database.kind == kind
    assert database.path == (Path(path) if path else None)
    if kind == "postgresql":
        assert database.url.startswith("postgresql+psycopg://")
        assert "pw" not in database.shown


@pytest.mark.parametrize("text", ["mysql://x/y", "sqlite://", "sqlite:/x", "postgres:/x", ""])
def test_malformed_or_unknown_urls_are_refused_by_name(text):
    with pytest.raises(DatabaseError, match="--db"):
        parse(text)


def test_a_postgresql_url_is_not_taken_for_a_file_name(tmp_path):
    # Nothing listens on port 1: the old server made ./postgresql: and served anyway.
    result = serve(tmp_path, "--db", "postgresql://ann:secret@127.0.0.1:1/books")
    assert_refused(result, "PostgreSQL", "books", "127.0.0.1:1")
    assert "secret" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_password_is_told_in_one_sentence(tmp_path, postgres_cluster, postgres_url):
    # The test cluster trusts local users; make this one role need its password.
    hba = postgres_cluster.folder / "pgdata" / "pg_hba.conf"
    rules = hba.read_text()
    if "fixture_user" not in rules:
        hba.write_text("local all fixture_user scram-sha-256\n" + rules)
    postgres_cluster.execute("DROP ROLE IF EXISTS fixture_user")
    postgres_cluster.execute("CREATE ROLE fixture_user LOGIN PASSWORD 'right'")
    postgres_cluster.execute("SELECT pg_reload_conf()")
    as_user = postgres_url.replace("//postgres@", "//fixture_user:{}@")
    check(parse(as_user.format("right")))
    result = serve(tmp_path, "--db", as_user.format("wrong-one"))
    assert_refused(result, "wrong user name or password")
    assert "wrong-one" not in result.stderr


def test_an_unknown_database_is_told_by_name(postgres_url):
    from sqlalchemy import make_url
    bad = make_url(postgres_url).set(database="nosuch").render_as_string(hide_password=False)
    with pytest.raises(DatabaseError, match='"nosuch" does not exist'):
        check(parse(bad))


def test_a_folder_is_refused(tmp_path):
    assert_refused(serve(tmp_path, "--db", str(tmp_path)), "is a folder")


def test_a_corrupt_file_is_refused(tmp_path):
    path = tmp_path / "books.db"
    path.write_bytes(b"this is not a database at all" * 200)
    assert_refused(serve(tmp_path, "--db", str(path)), "not a usable SQLite file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_a_read_only_file_is_refused(tmp_path):
    path = tmp_path / "books.db"
    sqlite3.connect(path).close()
    path.chmod(0o400)
    assert_refused(serve(tmp_path, "--db", str(path)), "read-only")


def test_a_read_only_file_is_refused_even_for_root(tmp_path, monkeypatch):
    # os.access answers for root as if it could write anything; the check must then find
    # out from the file system itself, so probe it with a patched access() instead.
    path = tmp_path / "books.db"
    sqlite3.connect(path).close()
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != path)
    with pytest.raises(DatabaseError, match="read-only"):
        check(parse(str(path)))


def test_on_postgresql_the_operator_token_must_be_given(tmp_path, postgres_url):
    environment = {key: value for key, value in os.environ.items()
                   if key != "CREDITDESK_OPERATOR_TOKEN"}
    result = subprocess.run([sys.executable, "-c", MAIN, "serve", "--port", "0", "--db",
                             postgres_url], cwd=tmp_path, env=environment,
                            capture_output=True, text=True, timeout=30)
    assert_refused(result, "operator token", "CREDITDESK_OPERATOR_TOKEN")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("workers", ["0", "x", "65"])
def test_bad_worker_counts_are_refused(tmp_path, workers):
    result = serve(tmp_path, "--workers", workers)
    assert result.returncode == 2
    assert "--workers" in result.stderr and "Traceback" not in result.stderr
