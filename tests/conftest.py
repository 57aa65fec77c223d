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
from hypothesis import settings

# CI replays the same examples on every run, so a red CI is a reproducible bug rather than
# the luck of a draw; developers' runs stay random and keep exploring. No deadline anywhere:
# a shared 2-core machine makes timing a property of the neighbours, not of the code.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")

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
