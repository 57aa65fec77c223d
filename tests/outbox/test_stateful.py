"""A hypothesis state machine over a wallet ledger, its outbox, two drainers and a bank.

Steps request payouts, drain with either drainer, crash a drainer after the bank answered or
while the wallet posts its feedback, turn bank faults on and off, and let time pass. After
every step: money is conserved, no payout id has two bank transfers, no payout is refunded
twice. ``finish`` drains everything with a healthy bank and checks that what the users were
debited, net of refunds, is exactly what the bank paid, and every rejection was refunded.

The machine runs with the wallet database and the journal on SQLite, and again on
PostgreSQL: each example gets a schema for the wallet's tables and the outbox and one for
its PostgresJournal, in the session's fresh database (``postgres_dsn``).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.outbox import wallet
from walletlink import Client, RetryPolicy
from walletlink.errors import ValidationError
from walletlink.journal import Journal, SQLiteJournal
from walletlink.models import Transfer, TransferRequest, TransferStatus
from walletlink.money import Money
from walletlink.outbox import Outcome, drain, entries
from walletlink.testing import FakeClock, FaultPlan, MockBank

USERS = {"alice": 500_00, "bob": 300_00}
TIMINGS = {
    "lease": timedelta(seconds=10),
    "retry_after": timedelta(seconds=5),
    "poll_after": timedelta(seconds=5),
}


class Crash(BaseException):
    """The drainer process dies here: nothing after this line runs."""


class CrashingClient(Client):
    crash_after_send = False

    def transfer(self, bank_id: str, request: TransferRequest) -> Transfer:
        transfer = super().transfer(bank_id, request)
        if self.crash_after_send:
            raise Crash
        return transfer


class WalletMachine(RuleBasedStateMachine):
    #: The PostgreSQL database to run on, or None for SQLite files.
    pg_dsn: ClassVar[str | None] = None

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="walletlink-outbox-"))
        self.journals = self.open_store()
        self.clock = FakeClock(wallet.START)
        self.bank = MockBank("generic_rest", bank_id="acme", clock=self.clock)
        self.bank.open_account(wallet.WALLET_ACCOUNT, Money("100000.00", "EUR"))
        self.bank.open_account(wallet.CREDITOR, Money("0.00", "EUR"))
        self.bank.open_account(wallet.CLOSED_CREDITOR, Money("0.00", "EUR"), closed=True)
        self.clients = [
            CrashingClient(
                [self.bank.config()],
                journal=journal,
                retry=RetryPolicy(sleep=self.clock.sleep, clock=self.clock.monotonic),
                clock=self.clock.now,
            )
            for journal in self.journals
        ]
        for client in self.clients:
            self.bank.mount(client.session)
        self.count = 0

    def open_store(self) -> list[Journal]:
        """Create the wallet; two journal handles, as two drainer processes would have."""
        if self.pg_dsn is None:
            self.db = wallet.Store(str(self.folder / "wallet.sqlite3"))
            wallet.create(self.db, USERS)
            return [SQLiteJournal(self.folder / "journal.sqlite3") for _ in range(2)]
        from walletlink.journal import PostgresJournal

        suffix = uuid.uuid4().hex[:12]
        self.db = wallet.Store(self.pg_dsn, schema=f"wallet_{suffix}")
        wallet.create(self.db, USERS)
        PostgresJournal.migrate(self.pg_dsn, schema=f"journal_{suffix}")
        return [
            PostgresJournal(self.pg_dsn, schema=f"journal_{suffix}", pool_size=1) for _ in range(2)
        ]

    def teardown(self) -> None:
        for client in self.clients:
            client.close()
        for journal in self.journals:
            journal.close()
        self.bank.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def connect(self) -> Any:
        return wallet.connect(self.db)

    def drain_with(self, which: int, on_outcome: object = wallet.on_outcome) -> None:
        drain(self.clients[which], self.connect, on_outcome, **TIMINGS)  # type: ignore[arg-type]

    @rule(
        user=st.sampled_from(sorted(USERS)),
        amount=st.integers(min_value=1, max_value=200_00),
        closed=st.booleans(),
    )
    def request_payout(self, user: str, amount: int, closed: bool) -> None:
        self.count += 1
        conn = self.connect()
        try:
            wallet.request_payout(conn, user, f"P-{self.count}", amount, closed=closed)
        except ValidationError:
            pass  # the wallet refuses a payout the balance does not cover
        finally:
            conn.close()

    @rule(which=st.integers(0, 1))
    def drain_once(self, which: int) -> None:
        self.drain_with(which)

    @rule(which=st.integers(0, 1))
    def crash_after_send(self, which: int) -> None:
        self.clients[which].crash_after_send = True
        try:
            self.drain_with(which)
        except Crash:
            pass
        finally:
            self.clients[which].crash_after_send = False

    @rule(which=st.integers(0, 1))
    def crash_during_feedback(self, which: int) -> None:
        def dying(conn: Any, outcome: Outcome) -> None:
            wallet.on_outcome(conn, outcome)
            raise Crash

        with contextlib.suppress(Crash):
            self.drain_with(which, dying)

    @rule(seed=st.integers(0, 2**16))
    def bank_misbehaves(self, seed: int) -> None:
        self.bank.set_faults(
            FaultPlan(
                seed=seed,
                drop_response_after_commit=0.2,
                reset_before_commit=0.1,
                server_error=0.1,
                malformed_body=0.05,
            )
        )

    @rule()
    def bank_recovers(self) -> None:
        self.bank.set_faults(FaultPlan.none())

    @rule(seconds=st.integers(1, 120))
    def time_passes(self, seconds: int) -> None:
        self.bank.advance(seconds)

    @precondition(lambda self: self.count > 0)
    @rule()
    def finish(self) -> None:
        self.bank.set_faults(FaultPlan.none())
        for _ in range(10):
            self.bank.advance(61)
            self.drain_with(0)
        conn = self.connect()
        try:
            assert [e.id for e in entries(conn) if e.state != "done"] == []
        finally:
            conn.close()
        totals = wallet.totals(self.db)
        assert totals["debits"] - totals["refunds"] == self.bank_total(TransferStatus.SETTLED)
        assert totals["refunds"] == self.bank_total(TransferStatus.REJECTED)

    def bank_total(self, status: TransferStatus) -> int:
        return sum(t.amount.minor_units for t in self.bank.transfers() if t.status is status)

    @invariant()
    def money_is_conserved(self) -> None:
        totals = wallet.totals(self.db)
        in_flight = totals["debits"] - totals["refunds"]
        assert totals["balances"] + in_flight == sum(USERS.values())
        assert self.bank_total(TransferStatus.SETTLED) <= in_flight

    @invariant()
    def one_bank_transfer_per_payout_id(self) -> None:
        ids = [t.end_to_end_id for t in self.bank.transfers()]
        assert len(ids) == len(set(ids))
        assert self.bank.duplicates_at_bank == 0

    @invariant()
    def no_payout_is_refunded_twice(self) -> None:
        assert wallet.totals(self.db)["most_refunds_per_payout"] <= 1


def _machine(examples: int, steps: int, pg_dsn: str | None = None) -> type[WalletMachine]:
    # A subclass per size: settings() marks the class it decorates, not a copy.
    sized = type(f"WalletMachine{examples}x{steps}", (WalletMachine,), {"pg_dsn": pg_dsn})
    return settings(max_examples=examples, stateful_step_count=steps, deadline=None)(sized)


TestWalletOutbox = _machine(examples=15, steps=25).TestCase


def test_wallet_outbox_on_postgresql(postgres_dsn: str) -> None:
    """The machine with the wallet and the journal on PostgreSQL, a few examples."""
    _machine(examples=5, steps=25, pg_dsn=postgres_dsn).TestCase("runTest").runTest()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_wallet_outbox_long_run(backend: str, request: pytest.FixtureRequest) -> None:
    """T14's size: 1,000 examples of 50 steps."""
    pg_dsn = request.getfixturevalue("postgres_dsn") if backend == "postgres" else None
    _machine(examples=1000, steps=50, pg_dsn=pg_dsn).TestCase("runTest").runTest()
