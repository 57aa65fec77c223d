"""A tiny wallet ledger for the outbox tests: users, payouts and ledger entries.

It lives in a SQLite file or in a PostgreSQL schema (a :class:`Store`), the outbox table
beside it. It has no unique constraint on refunds on purpose: the outbox alone must make
each refund happen once, and the tests count them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import attrs

from walletlink import Client, outbox
from walletlink.accounts import Iban
from walletlink.errors import ValidationError
from walletlink.models import Party, TransferRequest
from walletlink.money import Money
from walletlink.outbox import Outcome
from walletlink.reconcile import ReconciliationResult, Record, reconcile
from walletlink.reconcile.inputs import records_from_transactions

WALLET_ACCOUNT = Iban("DE89370400440532013000")
CREDITOR = Iban("GB33BUKB20201555555555")
CLOSED_CREDITOR = Iban("FR1420041010050500013M02606")
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BOOKING_DAY: date = START.date()

# The entries' id is the only difference between the two databases' schemas.
SCHEMA = """
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, balance_minor INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS payouts (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, amount_minor INTEGER NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    id {id} PRIMARY KEY, user_id TEXT NOT NULL, payout_id TEXT NOT NULL,
    kind TEXT NOT NULL, amount_minor INTEGER NOT NULL
)
"""


@attrs.frozen
class Store:
    """Where the wallet lives: a SQLite file (``schema`` None) or a PostgreSQL schema."""

    target: str  # the SQLite file's path, or the PostgreSQL database's DSN
    schema: str | None = None

    @property
    def postgres(self) -> bool:
        return self.schema is not None


def connect(store: Store) -> Any:
    """A sqlite3 connection, or a psycopg one whose search_path is the wallet's schema."""
    if store.schema is None:
        return sqlite3.connect(store.target, timeout=30)
    import psycopg

    # A statement waiting on a lock a leaked connection holds would hang: fail fast instead.
    options = f"-c search_path={store.schema} -c lock_timeout=10000"
    return psycopg.connect(store.target, options=options)


def run(conn: Any, statement: str, params: tuple[Any, ...] = ()) -> Any:
    """Execute a ``?``-style statement on either driver; the cursor."""
    if not isinstance(conn, sqlite3.Connection):
        statement = statement.replace("?", "%s")
    return conn.execute(statement, params)


def create(store: Store, users: dict[str, int]) -> None:
    if store.schema is not None:
        import psycopg

        with psycopg.connect(store.target, autocommit=True) as admin:
            admin.execute(f'CREATE SCHEMA "{store.schema}"')
    conn = connect(store)
    try:
        if store.schema is None:
            conn.execute("PRAGMA journal_mode=WAL")
        ddl = SCHEMA.format(id="BIGSERIAL" if store.postgres else "INTEGER")
        for statement in ddl.split(";"):
            conn.execute(statement)
        outbox.install(conn)
        for user, cents in users.items():
            run(conn, "INSERT INTO users VALUES (?, ?)", (user, cents))
        conn.commit()
    finally:
        conn.close()


def payout_request(payout_id: str, amount_minor: int, *, closed: bool = False) -> TransferRequest:
    return TransferRequest(
        amount=Money.from_minor(amount_minor, "EUR"),
        debtor_account=WALLET_ACCOUNT,
        creditor=Party(name="Ada Lovelace", account=CLOSED_CREDITOR if closed else CREDITOR),
        remittance=f"payout {payout_id}",
        payout_id=payout_id,
    )


def request_payout(
    conn: Any,
    user: str,
    payout_id: str,
    amount_minor: int,
    *,
    closed: bool = False,
    before_commit: Callable[[], None] | None = None,
) -> None:
    """The wallet's payout endpoint: debit, record and stage, in one transaction."""
    # SQLite: take the write lock before reading; PostgreSQL: lock the user's row.
    if isinstance(conn, sqlite3.Connection):
        conn.execute("BEGIN IMMEDIATE")
        query = "SELECT balance_minor FROM users WHERE id = ?"
    else:
        query = "SELECT balance_minor FROM users WHERE id = ? FOR UPDATE"
    try:
        (balance,) = run(conn, query, (user,)).fetchone()
        if balance < amount_minor:
            raise ValidationError("insufficient wallet balance")
        run(
            conn,
            "UPDATE users SET balance_minor = balance_minor - ? WHERE id = ?",
            (amount_minor, user),
        )
        run(
            conn,
            "INSERT INTO payouts VALUES (?, ?, ?, 'requested')",
            (payout_id, user, amount_minor),
        )
        run(
            conn,
            "INSERT INTO entries (user_id, payout_id, kind, amount_minor) "
            "VALUES (?, ?, 'debit', ?)",
            (user, payout_id, amount_minor),
        )
        outbox.enqueue(conn, "acme", payout_request(payout_id, amount_minor, closed=closed))
        if before_commit is not None:
            before_commit()
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def on_outcome(conn: Any, outcome: Outcome) -> None:
    """The wallet's feedback: settle the payout, or refund the user. Not committed here."""
    (user, amount) = run(
        conn, "SELECT user_id, amount_minor FROM payouts WHERE id = ?", (outcome.payout_id,)
    ).fetchone()
    if outcome.refund_due:
        run(conn, "UPDATE users SET balance_minor = balance_minor + ? WHERE id = ?", (amount, user))
        run(
            conn,
            "INSERT INTO entries (user_id, payout_id, kind, amount_minor) "
            "VALUES (?, ?, 'refund', ?)",
            (user, outcome.payout_id, amount),
        )
    status = "refunded" if outcome.refund_due else "settled"
    run(conn, "UPDATE payouts SET status = ? WHERE id = ?", (status, outcome.payout_id))


def totals(store: Store) -> dict[str, int]:
    """Sums the checks need: balances, debits, refunds and refunds per payout."""
    conn = connect(store)
    try:
        (balances,) = conn.execute("SELECT COALESCE(SUM(balance_minor), 0) FROM users").fetchone()
        (debits,) = conn.execute(
            "SELECT COALESCE(SUM(amount_minor), 0) FROM entries WHERE kind = 'debit'"
        ).fetchone()
        (refunds,) = conn.execute(
            "SELECT COALESCE(SUM(amount_minor), 0) FROM entries WHERE kind = 'refund'"
        ).fetchone()
        (most_refunds,) = conn.execute(
            "SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM entries "
            "WHERE kind = 'refund' GROUP BY payout_id) AS per_payout"
        ).fetchone()
        return {
            "balances": balances,
            "debits": debits,
            "refunds": refunds,
            "most_refunds_per_payout": most_refunds,
        }
    finally:
        conn.close()


def ledger_records(store: Store) -> list[Record]:
    """How the wallet's books see its bank account: one debit per settled payout."""
    conn = connect(store)
    try:
        rows = conn.execute(
            "SELECT id, amount_minor FROM payouts WHERE status = 'settled' ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    return [
        Record(
            id=f"wallet-{payout_id}",
            account=WALLET_ACCOUNT.value,
            currency="EUR",
            amount_minor=-amount,
            value_date=BOOKING_DAY,
            end_to_end_id=payout_request(payout_id, amount).end_to_end_id,
        )
        for payout_id, amount in rows
    ]


def reconcile_with_bank(store: Store, client: Client) -> ReconciliationResult:
    """The wallet's settled payouts against the bank's transactions on the wallet account."""
    day = BOOKING_DAY
    transactions = client.transactions("acme", WALLET_ACCOUNT, day, day + timedelta(days=1))
    bank_rows = records_from_transactions(transactions, account=WALLET_ACCOUNT.value)
    return reconcile(ledger_records(store), bank_rows, as_of=day + timedelta(days=1))
