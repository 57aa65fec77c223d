"""Fixtures shared across the suite.

``postgres_dsn`` is a real PostgreSQL database for this test session: ``make test`` starts a
throwaway server (scripts/pgtest.sh) and exports ``WALLETLINK_TEST_PG_DSN``; the fixture
creates a fresh database on it and drops it afterwards. Without the variable the tests that
use it are skipped, except under ``CI=true``, where a missing server is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

PG_DSN_VARIABLE = "WALLETLINK_TEST_PG_DSN"


def postgres_server() -> str:
    """The test server's DSN; skips the test without one (fails it under ``CI=true``)."""
    server = os.environ.get(PG_DSN_VARIABLE)
    if not server:
        message = f"no PostgreSQL server: set {PG_DSN_VARIABLE} or run `make test`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return server


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of an empty PostgreSQL database, private to this test session."""
    server = postgres_server()
    from walletlink.testing.postgres import temporary_database

    with temporary_database(server) as dsn:
        yield dsn
