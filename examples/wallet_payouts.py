"""A wallet that pays its users out exactly once: ledger, outbox, drainer, reconciliation.

The wallet keeps users' balances in its own SQLite database. A payout debits the user and
stages the bank payout in walletlink's outbox *in the same transaction*; a drainer sends
each staged payout through the client (whose journal makes it one payment however often it
is retried) and posts the bank's answer back: a rejected payout is refunded, once. The bank
is walletlink's generic_rest mock, dropping replies after it has paid, resetting connections
and failing with 5xx, so every recovery path runs. At the end the wallet's ledger is
reconciled against the bank's transactions and shows no break:

    .venv/bin/python examples/wallet_payouts.py
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from walletlink import (
    Client,
    Iban,
    Money,
    Party,
    RetryPolicy,
    SQLiteJournal,
    Transaction,
    TransferRequest,
    TransferStatus,
    outbox,
)
from walletlink.outbox import Outcome
from walletlink.reconcile import Record, reconcile
from walletlink.reconcile.inputs import records_from_transactions
from walletlink.testing import FakeClock, FaultPlan, MockBank

WALLET_ACCOUNT = Iban("DE89370400440532013000")  # the wallet's own account at the bank
PAYEES = {
    "ada": Iban("GB33BUKB20201555555555"),
    "grace": Iban("NL91ABNA0417164300"),
    "alan": Iban("BE68539007547034"),  # closed at the bank: payouts to it are rejected
}
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

SCHEMA = """
CREATE TABLE users (
    id TEXT PRIMARY KEY, balance_minor INTEGER NOT NULL CHECK (balance_minor >= 0)
);
CREATE TABLE payouts (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users, amount_minor INTEGER NOT NULL,
    status TEXT NOT NULL  -- requested, settled, refunded
);
CREATE TABLE ledger (
    id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, payout_id TEXT NOT NULL,
    kind TEXT NOT NULL, amount_minor INTEGER NOT NULL,
    UNIQUE (payout_id, kind)  -- belt and braces: the outbox already feeds back once
);
"""


class InsufficientBalance(Exception):
    pass


def open_wallet(path: Path, users: dict[str, int]) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")  # drainers and the endpoint never block readers
    conn.executescript(SCHEMA)
    outbox.install(conn)  # or: walletlink outbox migrate --db wallet.sqlite3
    conn.executemany("INSERT INTO users VALUES (?, ?)", users.items())
    conn.commit()
    conn.close()


def request_payout(conn: sqlite3.Connection, payout_id: str, user: str, amount: Money) -> None:
    """The wallet's payout endpoint: debit the user and stage the payout, atomically."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        query = "SELECT balance_minor FROM users WHERE id = ?"
        (balance,) = conn.execute(query, (user,)).fetchone()
        if balance < amount.minor_units:
            raise InsufficientBalance(f"{user} cannot pay out {amount}")
        conn.execute(
            "UPDATE users SET balance_minor = balance_minor - ? WHERE id = ?",
            (amount.minor_units, user),
        )
        conn.execute(
            "INSERT INTO payouts VALUES (?, ?, ?, 'requested')",
            (payout_id, user, amount.minor_units),
        )
        conn.execute(
            "INSERT INTO ledger (user_id, payout_id, kind, amount_minor) VALUES (?, ?, 'debit', ?)",
            (user, payout_id, amount.minor_units),
        )
        request = TransferRequest(
            amount=amount,
            debtor_account=WALLET_ACCOUNT,
            creditor=Party(name=user.title(), account=PAYEES[user]),
            remittance=f"wallet payout {payout_id}",
            payout_id=payout_id,  # the wallet's identity: the key is derived from it
        )
        outbox.enqueue(conn, "acme", request)  # staged, not sent
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def on_outcome(conn: sqlite3.Connection, outcome: Outcome) -> None:
    """The bank decided: post the wallet's side. The drainer commits it with the outbox."""
    (user, amount) = conn.execute(
        "SELECT user_id, amount_minor FROM payouts WHERE id = ?", (outcome.payout_id,)
    ).fetchone()
    if outcome.refund_due:
        conn.execute(
            "UPDATE users SET balance_minor = balance_minor + ? WHERE id = ?", (amount, user)
        )
        conn.execute(
            "INSERT INTO ledger (user_id, payout_id, kind, amount_minor) "
            "VALUES (?, ?, 'refund', ?)",
            (user, outcome.payout_id, amount),
        )
        reason = outcome.reason.code.value if outcome.reason else "unknown"
        print(f"  {outcome.payout_id}: {outcome.status}, {reason}: refunded to {user}")
    status = "refunded" if outcome.refund_due else "settled"
    conn.execute("UPDATE payouts SET status = ? WHERE id = ?", (status, outcome.payout_id))


def ledger_records(conn: sqlite3.Connection) -> list[Record]:
    """The wallet's books of its bank account: one debit per settled payout."""
    rows = conn.execute("SELECT id, amount_minor FROM payouts WHERE status = 'settled'")
    return [
        Record(
            id=f"payout-{payout_id}",
            account=WALLET_ACCOUNT.value,
            currency="EUR",
            amount_minor=-amount,
            value_date=START.date(),
            end_to_end_id=payout_id,  # a plain payout id is the end-to-end id as it is
        )
        for payout_id, amount in rows
    ]


def run(folder: Path) -> int:
    clock = FakeClock(START)
    bank = MockBank("generic_rest", bank_id="acme", clock=clock)
    bank.open_account(WALLET_ACCOUNT, Money("5000.00", "EUR"))
    for name, account in PAYEES.items():
        bank.open_account(account, Money("0.00", "EUR"), closed=name == "alan")
    bank.set_faults(
        FaultPlan(seed=7, drop_response_after_commit=0.2, reset_before_commit=0.1, server_error=0.1)
    )
    db = folder / "wallet.sqlite3"
    open_wallet(db, {"ada": 300_00, "grace": 200_00, "alan": 100_00})

    conn = sqlite3.connect(db)
    rng = random.Random(42)
    for n in range(12):
        user = rng.choice(sorted(PAYEES))
        amount = Money.from_minor(rng.randint(5, 90) * 100, "EUR")
        try:
            request_payout(conn, f"PAYOUT-{n:03d}", user, amount)
        except InsufficientBalance as refused:
            print(f"  refused: {refused}")
    conn.close()

    journal = SQLiteJournal(folder / "journal.sqlite3")
    retry = RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(0))
    client = Client(
        [bank.config()], journal=journal, retry=retry, clock=clock.now, require_caller_ids=True
    )
    with client:
        bank.mount(client.session)  # in-process: requests never touch a socket

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(db, timeout=30)

        for _ in range(10):  # a drainer on a timer: each run sends, polls and feeds back
            outbox.drain(client, connect, on_outcome)
            bank.advance(61)
        day = START.date()
        transactions = list(
            client.transactions("acme", WALLET_ACCOUNT, day, day + timedelta(days=1))
        )
    journal.close()
    return report(db, bank, transactions)


def report(db: Path, bank: MockBank, transactions: list[Transaction]) -> int:
    """Check exactly once: the wallet's books against the bank's, to the cent."""
    conn = sqlite3.connect(db)
    done = len(outbox.entries(conn, state="done"))
    totals = dict(
        conn.execute("SELECT kind, SUM(amount_minor) FROM ledger GROUP BY kind").fetchall()
    )
    debits, refunds = totals.get("debit", 0), totals.get("refund", 0)
    bank_rows = records_from_transactions(transactions, account=WALLET_ACCOUNT.value)
    result = reconcile(ledger_records(conn), bank_rows, as_of=START.date() + timedelta(days=1))
    conn.close()
    settled = [t for t in bank.transfers() if t.status is TransferStatus.SETTLED]
    paid = sum(t.amount.minor_units for t in settled)
    faults = sum(n for name, n in bank.stats.items() if name.startswith("fault."))
    print(f"{done} payouts done, through {faults} injected bank faults")
    print(f"users debited {eur(debits)}, refunded {eur(refunds)}; the bank paid {eur(paid)}")
    print(f"bank transfers: {len(bank.transfers())}, duplicates: {bank.duplicates_at_bank}")
    breaks = sum(result.break_counts().values())
    print(f"reconciliation: {len(result.matched)} matched, {breaks} breaks")
    ok = debits - refunds == paid and not result.has_breaks and bank.duplicates_at_bank == 0
    print("exactly once: yes" if ok else "exactly once: NO")
    return 0 if ok else 1


def eur(minor: int) -> Money:
    return Money.from_minor(minor, "EUR")


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        return run(Path(folder))


if __name__ == "__main__":
    raise SystemExit(main())
