"""Fixtures shared across the suite.

``postgres_dsn`` is a real PostgreSQL database for this test session: ``make test`` starts a
throwaway server (scripts/pgtest.sh) and exports ``WALLETLINK_TEST_PG_DSN``; the fixture
creates a fresh database on it and drops it afterwards. Without the variable the tests that
use it are skipped, except under ``CI=true``, where a missing server is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_DSN_VARIABLE = "WALLETLINK_TEST_PG_DSN"


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of an empty PostgreSQL database, private to this test session."""
    server = os.environ.get(PG_DSN_VARIABLE)
    if not server:
        message = f"no PostgreSQL server: set {PG_DSN_VARIABLE} or run `make test`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    psycopg = pytest.importorskip("psycopg")
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    name = f"wltest_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(server, dbname=name)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
