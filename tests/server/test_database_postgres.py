"""The session's throwaway PostgreSQL: it runs, and each test gets a database of its own."""

from __future__ import annotations


def _databases(cluster) -> set[str]:
    import psycopg
    with psycopg.connect(cluster.libpq_uri()) as connection:
        rows = connection.execute("SELECT datname FROM pg_database").fetchall()
    return {name for (name,) in rows}


def test_each_test_gets_its_own_empty_database(postgres_cluster, postgres_url):
    import sqlalchemy as sa
    name = sa.make_url(postgres_url).database
    assert name in _databases(postgres_cluster)
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        tables = connection.execute(sa.text(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema='public'"))
        assert tables.scalar() == 0
        connection.execute(sa.text("CREATE TABLE probe (n int)"))
    engine.dispose()


def test_the_server_is_in_a_temporary_folder_not_the_clone(postgres_cluster):
    from pathlib import Path
    clone = Path(__file__).resolve().parents[2]
    assert clone not in postgres_cluster.folder.resolve().parents
    assert Path.home() not in postgres_cluster.folder.resolve().parents
