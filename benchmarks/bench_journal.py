"""Transfers per second with N client processes: PostgreSQL vs SQLite vs no journal.

    WALLETLINK_TEST_PG_DSN=… .venv/bin/python benchmarks/bench_journal.py [PER_PROCESS]

(``make bench`` and ``make pgtest-start`` provide the server; ``scripts/pgtest.sh dsn``
prints its DSN.) Each of N processes (1, 2, 4, 8) is one server: its own ``Client`` and
journal object, sending PER_PROCESS transfers under distinct keys to one generic_rest
``MockBank`` served on 127.0.0.1 by the parent. "no journal" gives each process a private
``MemoryJournal``; "sqlite" shares one file (default durability: each intent fsynced);
"postgres" shares one schema (server defaults: every commit flushed). Time runs from the
moment every process is ready to the moment the last one finishes.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from walletlink import BankConfig, Client, Money, Party, RetryPolicy, TransferRequest
from walletlink.accounts import Iban
from walletlink.journal import Journal, MemoryJournal, SQLiteJournal
from walletlink.testing import FakeClock, MockBank

DEBTOR = Iban("DE89370400440532013000")
CREDITOR = Iban("GB33BUKB20201555555555")
PROCESSES = (1, 2, 4, 8)
CONTENDERS = ("none", "sqlite", "postgres")
# forkserver: children fork from a clean single-threaded server that has walletlink loaded
# already (the parent serves the mock bank from threads, so a plain fork is unsafe, and a
# spawn re-imports everything per child).
CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload(["walletlink", "walletlink.journal.postgres", __name__])


def _journal(kind: str, target: str) -> Journal:
    if kind == "none":
        return MemoryJournal()
    if kind == "sqlite":
        return SQLiteJournal(Path(target))
    from walletlink.journal.postgres import PostgresJournal

    dsn, schema = target.split("\x00")
    return PostgresJournal(dsn, schema=schema, pool_size=1)


def _worker(
    kind: str, target: str, config: BankConfig, seed: int, count: int, ready: Any, out: Any
) -> None:
    journal = _journal(kind, target)
    clock = FakeClock()
    client = Client(
        [config],
        journal=journal,
        retry=RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(seed)),
        clock=lambda: datetime.now(UTC),
    )
    batch = [
        TransferRequest(
            amount=Money.from_minor(100 + n, "EUR"),
            debtor_account=DEBTOR,
            creditor=Party(name="Ada Lovelace", account=CREDITOR),
            remittance=f"bench {seed}-{n}",
        )
        for n in range(count)
    ]
    ready.wait(timeout=120)
    # time.monotonic is CLOCK_MONOTONIC: one clock for every process on the machine.
    started = time.monotonic()
    for request in batch:
        client.transfer(config.bank_id, request)
    out.put((started, time.monotonic()))
    client.close()
    journal.close()


def _collect(out: Any, workers: list[Any]) -> list[tuple[float, float]]:
    """Every worker's span; a worker that died fails the run at once instead of leaving the
    others waiting at the barrier until a timeout."""
    spans: list[tuple[float, float]] = []
    deadline = time.monotonic() + 600
    while len(spans) < len(workers):
        try:
            spans.append(out.get(timeout=1))
        except queue.Empty:
            died = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            if died:
                raise AssertionError(f"a benchmark worker died (exit codes {died})") from None
            if time.monotonic() > deadline:
                raise AssertionError("the benchmark workers did not finish in time") from None
    return spans


def run(kind: str, target: str, processes: int, count: int) -> float:
    """Transfers per second; checks every transfer reached the bank exactly once."""
    bank = MockBank("generic_rest", bank_id="bench", clock=FakeClock())
    bank.open_account(DEBTOR, Money("100000000.00", "EUR"))
    bank.open_account(CREDITOR, Money("0.00", "EUR"))
    if kind != "none":
        # Create the schema once, here: the workers then only open an existing journal.
        _journal(kind, target).close()
    with bank.serve() as served:
        ready, out = CONTEXT.Barrier(processes), CONTEXT.Queue()
        workers = [
            CONTEXT.Process(
                target=_worker, args=(kind, target, served.config(), n, count, ready, out)
            )
            for n in range(processes)
        ]
        for worker in workers:
            worker.start()
        spans = _collect(out, workers)
        for worker in workers:
            worker.join(timeout=60)
    assert [0] * processes == [worker.exitcode for worker in workers]
    assert processes * count == len(bank.transfers())
    assert bank.duplicates_at_bank == 0
    if kind != "none":
        journal = _journal(kind, target)
        try:
            assert journal.unresolved() == []
            assert processes * count == sum(1 for _ in journal.records())
            journal.verify()
        finally:
            journal.close()
    elapsed = max(end for _, end in spans) - min(start for start, _ in spans)
    return processes * count / elapsed


def _targets(folder: str, dsn: str | None) -> Iterator[tuple[str, str]]:
    for kind in CONTENDERS:
        if kind == "postgres":
            if dsn is None:
                continue
            from walletlink.journal.postgres import PostgresJournal

            schema = f"bench_{uuid.uuid4().hex[:12]}"
            PostgresJournal.migrate(dsn, schema=schema)
            yield kind, f"{dsn}\x00{schema}"
        else:
            yield kind, str(Path(folder) / f"{uuid.uuid4().hex}.sqlite3")


def measure(
    dsn: str | None, count: int, processes: tuple[int, ...] = PROCESSES
) -> dict[tuple[str, int], float]:
    figures: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory() as folder:
        for n in processes:
            for kind, target in _targets(folder, dsn):
                figures[(kind, n)] = run(kind, target, n, count)
    return figures


def report(figures: dict[tuple[str, int], float], count: int) -> str:
    kinds = [k for k in CONTENDERS if any(key[0] == k for key in figures)]
    counts = sorted({n for _, n in figures})
    lines = [
        f"transfers/s, {count} transfers per process, generic_rest mock bank on loopback",
        "| processes | " + " | ".join(kinds) + " |",
        "|---:|" + "---:|" * len(kinds),
    ]
    for n in counts:
        cells = " | ".join(f"{figures[(k, n)]:,.0f}" for k in kinds)
        lines.append(f"| {n} | {cells} |")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def bench_dsn() -> Iterator[str]:
    sys.path.insert(0, str(Path(__file__).parent.parent))
    from tests.conftest import postgres_server
    from walletlink.testing.postgres import temporary_database

    with temporary_database(postgres_server()) as dsn:
        yield dsn


def test_bench_journal_correctness(bench_dsn: str) -> None:
    """Every contender, at tiny size, puts each transfer at the bank exactly once."""
    figures = measure(bench_dsn, 3, processes=(1, 2))
    assert {(k, n) for k in CONTENDERS for n in (1, 2)} == set(figures)
    assert all(rate > 0 for rate in figures.values())


@pytest.mark.slow
def test_bench_journal_full(bench_dsn: str) -> None:
    print(report(measure(bench_dsn, 200), 200))


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    server = os.environ.get("WALLETLINK_TEST_PG_DSN")
    if server is None:
        print("WALLETLINK_TEST_PG_DSN is not set: PostgreSQL is left out", file=sys.stderr)
        print(report(measure(None, count), count))
        return
    from walletlink.testing.postgres import temporary_database

    with temporary_database(server) as dsn:
        print(report(measure(dsn, count), count))


if __name__ == "__main__":
    main()
