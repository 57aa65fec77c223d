"""A tiny wallet ledger over SQLite for the outbox tests: users, payouts and ledger entries.

It has no unique constraint on refunds on purpose: the outbox alone must make each refund
happen once, and the tests count them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

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

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, balance_minor INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS payouts (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, amount_minor INTEGER NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, payout_id TEXT NOT NULL,
    kind TEXT NOT NULL, amount_minor INTEGER NOT NULL
);
"""


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, timeout=30)


def create(path: Path, users: dict[str, int]) -> None:
    conn = connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        outbox.install(conn)
        conn.executemany("INSERT INTO users VALUES (?, ?)", users.items())
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
    conn: sqlite3.Connection,
    user: str,
    payout_id: str,
    amount_minor: int,
    *,
    closed: bool = False,
    before_commit: Callable[[], None] | None = None,
) -> None:
    """The wallet's payout endpoint: debit, record and stage, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        (balance,) = conn.execute(
            "SELECT balance_minor FROM users WHERE id = ?", (user,)
        ).fetchone()
        if balance < amount_minor:
            raise ValidationError("insufficient wallet balance")
        conn.execute(
            "UPDATE users SET balance_minor = balance_minor - ? WHERE id = ?", (amount_minor, user)
        )
        conn.execute(
            "INSERT INTO payouts VALUES (?, ?, ?, 'requested')", (payout_id, user, amount_minor)
        )
        conn.execute(
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


def on_outcome(conn: sqlite3.Connection, outcome: Outcome) -> None:
    """The wallet's feedback: settle the payout, or refund the user. Not committed here."""
    (user, amount) = conn.execute(
        "SELECT user_id, amount_minor FROM payouts WHERE id = ?", (outcome.payout_id,)
    ).fetchone()
    if outcome.refund_due:
        conn.execute(
            "UPDATE users SET balance_minor = balance_minor + ? WHERE id = ?", (amount, user)
        )
        conn.execute(
            "INSERT INTO entries (user_id, payout_id, kind, amount_minor) "
            "VALUES (?, ?, 'refund', ?)",
            (user, outcome.payout_id, amount),
        )
    status = "refunded" if outcome.refund_due else "settled"
    conn.execute("UPDATE payouts SET status = ? WHERE id = ?", (status, outcome.payout_id))


def totals(path: Path) -> dict[str, int]:
    """Sums the checks need: balances, debits, refunds and refunds per payout."""
    conn = connect(path)
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
            "WHERE kind = 'refund' GROUP BY payout_id)"
        ).fetchone()
        return {
            "balances": balances,
            "debits": debits,
            "refunds": refunds,
            "most_refunds_per_payout": most_refunds,
        }
    finally:
        conn.close()


def ledger_records(path: Path) -> list[Record]:
    """How the wallet's books see its bank account: one debit per settled payout."""
    conn = connect(path)
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


def reconcile_with_bank(path: Path, client: Client) -> ReconciliationResult:
    """The wallet's settled payouts against the bank's transactions on the wallet account."""
    day = BOOKING_DAY
    transactions = client.transactions("acme", WALLET_ACCOUNT, day, day + timedelta(days=1))
    bank_rows = records_from_transactions(transactions, account=WALLET_ACCOUNT.value)
    return reconcile(ledger_records(path), bank_rows, as_of=day + timedelta(days=1))
