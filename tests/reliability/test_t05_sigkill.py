"""T5: SIGKILL the wallet process at every recovery point, with the bank misbehaving too.

The bank (a generic_rest mock on loopback, in this process) outlives every wallet process;
each wallet run (``tests/outbox/crash_wallet.py``) requests the payouts it has not recorded,
drains the outbox and dies at its appointed point. After the last kill, clean runs finish
the work. Then: the users' debits minus refunds are exactly what the bank paid out, each
rejected payout was refunded once, no payout id was paid twice, and the wallet's ledger
reconciles against the bank's transactions with no break.

Moved here from tests/outbox/test_crash.py; the quick scale kills 5 times per point (as
that test did), the full scale 200 times. Each point runs with the wallet database and the
journal on SQLite, and again both on PostgreSQL (the wallet's tables and the outbox in one
schema, the PostgresJournal in another, of a fresh database; 3 kills per point at the quick
scale).
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import postgres_server
from tests.outbox import wallet
from tests.reliability.conftest import SCALE, Report
from walletlink import Client, RetryPolicy
from walletlink.models import TransferStatus
from walletlink.money import Money
from walletlink.outbox import entries
from walletlink.testing import FakeClock, FaultPlan, MockBank

ROOT = Path(__file__).resolve().parents[2]
POINTS = ("before_commit", "after_commit", "after_send", "during_feedback")
USERS = {"alice": 900_00, "bob": 600_00, "carol": 5_00}


def payouts(seed: int, count: int) -> list[tuple[str, str, int, bool]]:
    """Payouts of random users and amounts; every fourth goes to a closed account."""
    rng = random.Random(seed)
    return [
        (f"PAYOUT-{seed}-{n}", rng.choice(list(USERS)), rng.randint(1, 60) * 100, n % 4 == 3)
        for n in range(count)
    ]


class World:
    """One bank on loopback and one wallet's files, driven run by run."""

    def __init__(self, tmp_path: Path, seed: int, kills: int, pg_dsn: str | None = None) -> None:
        self.clock = FakeClock(wallet.START)
        self.bank = MockBank("generic_rest", bank_id="acme", clock=self.clock)
        self.bank.open_account(wallet.WALLET_ACCOUNT, Money("100000.00", "EUR"))
        self.bank.open_account(wallet.CREDITOR, Money("0.00", "EUR"))
        self.bank.open_account(wallet.CLOSED_CREDITOR, Money("0.00", "EUR"), closed=True)
        self.served = self.bank.serve()
        self.kills = kills
        if pg_dsn is None:
            self.db = wallet.Store(str(tmp_path / "wallet.sqlite3"))
            journal = str(tmp_path / "journal.sqlite3")
        else:
            from walletlink.journal import PostgresJournal

            self.db = wallet.Store(pg_dsn, schema="wallet")
            journal = "walletlink"
            PostgresJournal.migrate(pg_dsn, schema=journal)
        # Each run spends up to two payouts before it dies: enough money for every run to
        # reach its kill point (carol stays poor, so that some payouts are refused).
        factor = max(1, kills // 5)
        self.users = {
            name: cents * (factor if cents > 100_00 else 1) for name, cents in USERS.items()
        }
        wallet.create(self.db, self.users)
        self.spec: dict[str, Any] = {
            "db": self.db.target,
            "schema": self.db.schema,
            "journal": journal,
            "base_url": self.served.url,
            "api_key": self.bank.api_key,
            "webhook_secret": self.bank.webhook_secret,
            # Enough payouts that every run, dying after its first or second, has work left.
            "payouts": payouts(seed, count=3 * kills + 2),
        }

    def run(self, kill_at: tuple[str, int] | None) -> int:
        spec = {**self.spec, "kill_at": list(kill_at) if kill_at else None}
        result = subprocess.run(
            [sys.executable, "-m", "tests.outbox.crash_wallet", json.dumps(spec)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode in (0, -signal.SIGKILL), result.stderr[-3000:]
        self.bank.advance(61)  # the bank moves on while the wallet is down
        return result.returncode

    def finish(self) -> None:
        """Clean runs, first still with faults, then without, until the outbox is empty."""
        for _ in range(2):
            self.run(None)
        self.bank.set_faults(FaultPlan.none())
        for _ in range(10):
            if self.open_entries() == 0:
                return
            self.run(None)
        raise AssertionError(f"{self.open_entries()} outbox entries never finished")

    def open_entries(self) -> int:
        conn = wallet.connect(self.db)
        try:
            return sum(1 for e in entries(conn) if e.state != "done")
        finally:
            conn.close()

    def close(self) -> None:
        self.served.close()
        self.bank.close()


KILLS = {"sqlite": SCALE.pick(5, 200), "postgres": SCALE.pick(3, 200)}


@pytest.fixture(params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with contextlib.ExitStack() as stack:
        pg_dsn = None
        if request.param == "postgres":
            from walletlink.testing.postgres import temporary_database

            pg_dsn = stack.enter_context(temporary_database(postgres_server()))
        world = World(tmp_path, seed=1, kills=KILLS[request.param], pg_dsn=pg_dsn)
        stack.callback(world.close)
        yield world


def faults(seed: int) -> FaultPlan:
    return FaultPlan(
        seed=seed,
        drop_response_after_commit=0.1,
        reset_after_commit=0.05,
        reset_before_commit=0.05,
        server_error=0.05,
        unavailable=0.05,
    )


def check_exactly_once(world: World) -> None:
    totals = wallet.totals(world.db)
    transfers = world.bank.transfers()
    paid = sum((t.amount.minor_units for t in transfers if t.status is TransferStatus.SETTLED), 0)
    rejected = sum(
        (t.amount.minor_units for t in transfers if t.status is TransferStatus.REJECTED), 0
    )
    per_payout = [t.end_to_end_id for t in transfers]
    assert len(per_payout) == len(set(per_payout))  # at most one bank transfer per payout id
    assert world.bank.duplicates_at_bank == 0
    assert totals["debits"] - totals["refunds"] == paid  # debits net of refunds were paid
    assert totals["refunds"] == rejected  # every rejected payout refunded ...
    assert totals["most_refunds_per_payout"] <= 1  # ... exactly once
    assert totals["balances"] + paid == sum(world.users.values())  # money is conserved
    with Client([world.bank.config()], retry=RetryPolicy(sleep=lambda _: None)) as client:
        world.bank.mount(client.session)
        result = wallet.reconcile_with_bank(world.db, client)
    assert not result.has_breaks, result.break_counts()
    assert len(result.matched) == sum(1 for t in transfers if t.status is TransferStatus.SETTLED)


def kill_repeatedly(world: World, point: str, kills: int, seed: int) -> int:
    """Kill the wallet ``kills`` times at ``point``, finish cleanly; how many died."""
    world.bank.set_faults(faults(seed))
    # Die at the first or the second time the point is reached, by turns, so that runs
    # both make progress and die in the middle of it.
    codes = [world.run((point, 1 + n % 2)) for n in range(kills)]
    killed = codes.count(-signal.SIGKILL)
    # The first run of during_feedback may see no final outcome yet: the bank decides later.
    assert killed >= kills - 1, codes
    world.finish()
    return killed


@pytest.mark.parametrize("point", POINTS)
def test_t5_sigkill_at_each_point_pays_each_payout_once(
    world: World, point: str, report: Report
) -> None:
    killed = kill_repeatedly(world, point, kills=world.kills, seed=1)
    orphans = world.open_entries()
    transfers = world.bank.transfers()
    report(
        "T5",
        f"{point} ({'PostgreSQL' if world.db.postgres else 'SQLite'}): {killed} SIGKILLs, "
        f"{len(transfers)} bank transfers, "
        f"{world.bank.duplicates_at_bank} dup, {orphans} orphans, outbox drained",
    )
    assert orphans == 0
    check_exactly_once(world)
