"""Several processes opening one brand-new SQLite journal file at the same instant.

The first open of a file creates its schema; four processes released together from a
barrier all try to. Every one must open the journal (none dies of ``database is locked`` or
of a table another created a moment earlier), the schema version is written once, every key
is created by exactly one process, and no key is claimed by two.
"""

from __future__ import annotations

import multiprocessing
import queue
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.journal._first_open import NOW, open_and_claim
from walletlink import Money, Party, TransferRequest
from walletlink.accounts import Iban
from walletlink.journal import SQLiteJournal

# forkserver: children fork from a clean server with walletlink already imported, so four
# start within milliseconds of each other and meet at the barrier before the first open.
CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload(["walletlink", "walletlink.journal", "tests.journal._first_open"])
PROCESSES = 4
ROUNDS = 5
KEYS = 12


def _raw() -> list[tuple[dict[str, Any], str]]:
    requests = [
        TransferRequest(
            amount=Money("1.00", "EUR"),
            debtor_account=Iban("DE89370400440532013000"),
            creditor=Party("Ada Lovelace", Iban("GB33BUKB20201555555555")),
            remittance=f"invoice {n}",
        )
        for n in range(KEYS)
    ]
    return [(request.canonical(), request.idempotency_key) for request in requests]


def _race(path: Path, raw: list[tuple[dict[str, Any], str]]) -> list[tuple[Any, ...]]:
    start, out = CONTEXT.Barrier(PROCESSES), CONTEXT.Queue()
    workers = [
        CONTEXT.Process(target=open_and_claim, args=(str(path), raw, n, start, out))
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    reports = []
    try:
        while len(reports) < PROCESSES:
            try:
                reports.append(out.get(timeout=5))
            except queue.Empty:
                died = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
                assert not died, f"a worker died without reporting (exit codes {died})"
    finally:
        for worker in workers:
            worker.join(timeout=60)
    assert [w.exitcode for w in workers] == [0] * PROCESSES
    return reports


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_processes_opening_a_new_journal_file_at_once_all_succeed(
    tmp_path: Path, round_: int
) -> None:
    path = tmp_path / f"fresh-{round_}.sqlite3"
    raw = _raw()
    reports = _race(path, raw)
    errors = [(worker, error) for worker, error, _, _ in reports if error is not None]
    assert errors == []
    created = [key for _, _, keys, _ in reports for key in keys]
    assert sorted(created) == sorted(key for _, key in raw)  # each key created exactly once
    claimed = [key for _, _, _, keys in reports for key in keys]
    assert len(claimed) == len(set(claimed))  # no key leased by two processes
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with SQLiteJournal(path) as journal:
        journal.verify()
        assert len(journal.unresolved("acme")) == KEYS
        assert {r.idempotency_key for r in journal.claim_unresolved("acme", now=NOW)} == (
            {key for _, key in raw} - set(claimed)
        )


# -- the switch to WAL, step by step ---------------------------------------------------------


def test_opening_waits_for_a_writer_that_holds_a_fresh_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the processes above race into: a connection (another process creating the
    file) holds the write lock while this one switches to WAL. SQLite refuses the switch at
    once, without its busy handler; the journal waits, and opens once the writer is done."""
    from walletlink.journal import sqlite as module

    path = tmp_path / "fresh.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            writer.execute("ROLLBACK")  # the other process's first transaction ends

    monkeypatch.setattr(module, "_sleep", sleep)
    with SQLiteJournal(path) as journal:
        journal.verify()
    writer.close()
    assert waits == [0.001, 0.002, 0.004]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_file_held_past_the_busy_timeout_is_a_locked_error_not_a_half_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from walletlink.journal import sqlite as module

    path = tmp_path / "held.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    now = [100.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    monkeypatch.setattr(module, "_sleep", sleep)
    monkeypatch.setattr(module, "_monotonic", lambda: now[0])
    with pytest.raises(sqlite3.OperationalError, match="could not switch to WAL mode within 2"):
        SQLiteJournal(path, busy_timeout=2.0)
    assert now[0] >= 102.0
    writer.execute("ROLLBACK")
    writer.close()
    with SQLiteJournal(path) as journal:  # once free, the same file opens as usual
        journal.verify()
