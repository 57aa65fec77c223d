"""The outbox on the caller's own connections: SQLAlchemy (duck typed) and PostgreSQL.

The PostgreSQL tests run when ``WALLETLINK_TEST_PG_DSN`` names a server they may create
throwaway databases on (``postgresql://postgres@127.0.0.1:55433/postgres``, say).
"""

from __future__ import annotations

import os
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.outbox import wallet
from walletlink import Client, RetryPolicy
from walletlink.money import Money
from walletlink.outbox import Outcome, drain, enqueue, entries, install
from walletlink.outbox._db import wrap
from walletlink.testing import FakeClock, MockBank

PG_DSN = os.environ.get("WALLETLINK_TEST_PG_DSN")
needs_pg = pytest.mark.skipif(PG_DSN is None, reason="set WALLETLINK_TEST_PG_DSN to run")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wallet.START)


@pytest.fixture
def bank(clock: FakeClock) -> Iterator[MockBank]:
    bank = MockBank("generic_rest", bank_id="acme", clock=clock)
    bank.open_account(wallet.WALLET_ACCOUNT, Money("1000.00", "EUR"))
    bank.open_account(wallet.CREDITOR, Money("0.00", "EUR"))
    bank.open_account(wallet.CLOSED_CREDITOR, Money("0.00", "EUR"), closed=True)
    yield bank
    bank.close()


@pytest.fixture
def client(bank: MockBank, clock: FakeClock) -> Iterator[Client]:
    # A MemoryJournal shared by every drainer thread: one process, as these tests are.
    client = Client(
        [bank.config()],
        retry=RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(0)),
        clock=clock.now,
    )
    bank.mount(client.session)
    yield client
    client.close()


def test_a_sqlalchemy_connection_is_used_in_its_own_transaction(
    bank: MockBank, client: Client, tmp_path: Path
) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'sa.sqlite3'}")
    with engine.connect() as conn:
        install(conn)
        conn.commit()
        enqueue(conn, "acme", wallet.payout_request("P-1", 1_00))
        conn.rollback()
        assert entries(conn) == []
        enqueue(conn, "acme", wallet.payout_request("P-2", 2_00, closed=True))
        conn.commit()
    seen: list[Outcome] = []
    drain(client, engine.connect, lambda conn, outcome: seen.append(outcome))
    bank.advance(61)
    client.clock = FakeClock(wallet.START.replace(hour=10)).now
    report = drain(client, engine.connect, lambda conn, outcome: seen.append(outcome))
    assert [o.payout_id for o in report.outcomes] == ["P-2"]
    assert [o.refund_due for o in seen] == [True]
    with engine.connect() as conn:
        assert [(e.payout_id, e.state) for e in entries(conn)] == [("P-2", "done")]
    engine.dispose()


def test_a_driver_other_than_sqlite_or_postgresql_is_refused() -> None:
    class Connection:
        def cursor(self) -> None:
            raise AssertionError("never used")

    Connection.__module__ = "json"  # a module with no DB-API paramstyle
    with pytest.raises(Exception, match="DB-API connection"):
        wrap(Connection())


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture
def pg() -> Iterator[Callable[[], Any]]:
    """A factory of connections to a fresh database, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    assert PG_DSN is not None
    name = f"walletlink_outbox_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = psycopg.conninfo.make_conninfo(PG_DSN, dbname=name)

    def connect() -> Any:
        # A drainer that waited on another's row lock would hang: fail fast instead.
        return psycopg.connect(dsn, options="-c lock_timeout=5000")

    with connect() as conn:
        install(conn)
        conn.execute("CREATE TABLE users (id TEXT PRIMARY KEY, balance_minor BIGINT NOT NULL)")
        conn.execute("CREATE TABLE refunds (payout_id TEXT NOT NULL, amount_minor BIGINT)")
        conn.execute("INSERT INTO users VALUES ('alice', 100000)")
        conn.commit()
    yield connect
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def pg_payout(conn: Any, payout_id: str, amount: int, *, closed: bool = False) -> None:
    """The wallet's payout endpoint on PostgreSQL: debit and stage in one transaction."""
    conn.execute(
        "UPDATE users SET balance_minor = balance_minor - %s WHERE id = 'alice'", (amount,)
    )
    enqueue(conn, "acme", wallet.payout_request(payout_id, amount, closed=closed))


def pg_feedback(conn: Any, outcome: Outcome) -> None:
    if outcome.refund_due:
        amount = outcome.request.amount.minor_units
        conn.execute(
            "UPDATE users SET balance_minor = balance_minor + %s WHERE id = 'alice'", (amount,)
        )
        conn.execute("INSERT INTO refunds VALUES (%s, %s)", (outcome.payout_id, amount))


@needs_pg
def test_pg_enqueue_commits_and_rolls_back_with_the_wallet(pg: Callable[[], Any]) -> None:
    with pg() as conn:
        pg_payout(conn, "P-1", 10_00)
        conn.rollback()
        pg_payout(conn, "P-2", 20_00)
        conn.commit()
        assert [e.payout_id for e in entries(conn)] == ["P-2"]
        assert conn.execute("SELECT balance_minor FROM users").fetchone() == (100000 - 20_00,)


@needs_pg
def test_pg_skip_locked_claims_step_over_a_row_another_drainer_holds(
    pg: Callable[[], Any], client: Client, bank: MockBank
) -> None:
    with pg() as conn:
        pg_payout(conn, "P-1", 1_00)
        pg_payout(conn, "P-2", 2_00)
        conn.commit()
    with pg() as holder:
        # Another drainer is in the middle of claiming P-1: its row is locked.
        holder.execute("SELECT id FROM walletlink_outbox WHERE payout_id = 'P-1' FOR UPDATE")
        report = drain(client, pg, pg_feedback, limit=1)
        holder.rollback()
    assert report.claimed == 1
    assert [t.end_to_end_id for t in bank.transfers()] == ["P-2"]


@needs_pg
def test_pg_concurrent_drainers_send_each_intent_once_and_refund_once(
    pg: Callable[[], Any], client: Client, bank: MockBank, clock: FakeClock
) -> None:
    with pg() as conn:
        for n in range(40):
            pg_payout(conn, f"P-{n}", 1_00, closed=n % 5 == 0)
        conn.commit()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            drain(client, pg, pg_feedback)
        except BaseException as exc:  # reported below; a thread cannot raise into the test
            errors.append(exc)

    for _round in range(2):
        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        bank.advance(61)
        clock.advance(61)
    assert errors == []
    assert len(bank.transfers()) == 40
    assert bank.duplicates_at_bank == 0
    with pg() as conn:
        assert conn.execute("SELECT COUNT(*), SUM(amount_minor) FROM refunds").fetchone() == (
            8,
            8_00,
        )
        assert conn.execute("SELECT balance_minor FROM users").fetchone() == (100000 - 32_00,)
        assert {e.state for e in entries(conn)} == {"done"}
