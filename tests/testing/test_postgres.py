"""walletlink.testing.postgres.temporary_database on the test server."""

from __future__ import annotations

import pytest

from tests.conftest import postgres_server


def test_a_temporary_database_exists_only_inside_the_block() -> None:
    psycopg = pytest.importorskip("psycopg")
    from walletlink.testing.postgres import temporary_database

    server = postgres_server()
    with temporary_database(server) as dsn:
        with psycopg.connect(dsn) as conn:
            (name,) = conn.execute("SELECT current_database()").fetchone()
        assert name.startswith("wltest_")
    with psycopg.connect(server) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchall()
    assert found == []
