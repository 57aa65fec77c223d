"""Several servers (processes, each with its own Client) on one journal: SQLite or PostgreSQL.

Keys × concurrent submitters across processes, a SIGKILL at each recovery point, and
``resolve_unknown()`` on several servers at once. The counts keep each test to seconds.
"""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.journal._servers import (
    LEASE,
    JournalSpec,
    die_at,
    make_client,
    open_journal,
    submit_all,
)
from walletlink import Money, Party, TransferRequest, TransferStatus
from walletlink.accounts import Iban
from walletlink.errors import UnknownOutcomeError
from walletlink.testing import FakeClock, FaultPlan, MockBank

DEBTOR = Iban("DE89370400440532013000")
CREDITOR = Iban("GB33BUKB20201555555555")
# forkserver: children fork from a clean single-threaded server that has walletlink loaded
# already (the parent serves the mock bank from threads, so a plain fork is unsafe, and a
# spawn re-imports everything per child).
CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload(["walletlink", "walletlink.journal.postgres", __name__])


@pytest.fixture(params=["sqlite", "postgres"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> JournalSpec:
    if request.param == "sqlite":
        return ("sqlite", str(tmp_path / "shared.sqlite3"))
    pytest.importorskip("psycopg")
    from walletlink.journal.postgres import PostgresJournal

    dsn = request.getfixturevalue("postgres_dsn")
    schema = f"s_{uuid.uuid4().hex[:12]}"
    PostgresJournal.migrate(dsn, schema=schema)
    return ("postgres", dsn, schema)


@pytest.fixture
def bank() -> Iterator[MockBank]:
    bank = MockBank("generic_rest", bank_id="acme", clock=FakeClock())
    bank.open_account(DEBTOR, Money("1000.00", "EUR"))
    bank.open_account(CREDITOR, Money("0.00", "EUR"))
    yield bank
    bank.close()


def _requests(count: int) -> list[TransferRequest]:
    return [
        TransferRequest(
            amount=Money("1.00", "EUR"),
            debtor_account=DEBTOR,
            creditor=Party("Ada Lovelace", CREDITOR),
            remittance=f"invoice {n}",
        )
        for n in range(count)
    ]


def _raw(requests: list[TransferRequest]) -> list[tuple[dict[str, Any], str]]:
    return [(request.canonical(), request.idempotency_key) for request in requests]


def _after_every_lease() -> datetime:
    """The clock of a server that recovers once a dead server's leases have expired."""
    return datetime.now(UTC) + LEASE * 2


def test_concurrent_servers_send_each_key_once(spec: JournalSpec, bank: MockBank) -> None:
    """12 keys, each submitted by 3 servers at once: each is paid once; on PostgreSQL each
    is also *sent* once (a server seeing another's lease sends nothing)."""
    keys, servers = 12, 3
    pending = _requests(keys)
    with bank.serve() as served:
        start, results = CONTEXT.Barrier(servers), CONTEXT.Queue()
        workers = [
            CONTEXT.Process(
                target=submit_all,
                args=(spec, served.config(), _raw(pending), seed, start, results),
            )
            for seed in range(servers)
        ]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        sent = bank.stats["requests"]
        journal = open_journal(spec)
        client = make_client(served.config(), journal)
        try:
            client.resolve_unknown()
            assert [0] * servers == [worker.exitcode for worker in workers]
            assert keys == len(bank.transfers())
            assert bank.duplicates_at_bank == 0
            assert journal.unresolved() == []
            journal.verify()
            ids = {r.idempotency_key: r.transfer_id for r in journal.records()}
        finally:
            client.close()
            journal.close()
    for outcome in outcomes:
        assert {k: ids[k] for k, v in outcome.items() if v != "unknown"} == {
            k: v for k, v in outcome.items() if v != "unknown"
        }
    if spec[0] == "postgres":
        assert keys == sent  # one POST per key, and nothing else, reached the bank


@pytest.mark.parametrize("point", ["before_send", "after_reply", "while_resolving"])
def test_a_server_killed_at_a_recovery_point_is_recovered_by_the_others(
    spec: JournalSpec, bank: MockBank, point: str
) -> None:
    (pending,) = _requests(1)
    if point == "while_resolving":
        bank.set_faults(FaultPlan(drop_response_after_commit=1.0, only_methods=frozenset({"POST"})))
    with bank.serve() as served:
        args = (spec, served.config(), _raw([pending]), point)
        victim = CONTEXT.Process(target=die_at, args=args)
        victim.start()
        victim.join(timeout=120)
        assert victim.exitcode == -9
        bank.set_faults(FaultPlan.none())
        if spec[0] == "postgres" or point == "while_resolving":
            # The dead server's lease still runs: nobody touches the record yet.
            before = bank.stats.get("requests", 0)
            now = _resolve_on_servers(spec, served.config(), servers=2, clock=_now)
            assert ([[], []], before) == (now, bank.stats.get("requests", 0))
        resolved = _resolve_on_servers(spec, served.config(), servers=2)
    journal = open_journal(spec)
    try:
        record = journal.get(pending.idempotency_key)
        assert record is not None
        assert [record.transfer_id] == [t.id for ts in resolved for t in ts]  # resolved once
        assert record.status is TransferStatus.PENDING
        assert len(bank.transfers()) == 1
        assert bank.duplicates_at_bank == 0
        assert journal.unresolved() == []
        journal.verify()
    finally:
        journal.close()


def _now() -> datetime:
    return datetime.now(UTC)


def _resolve_on_servers(
    spec: JournalSpec,
    config: Any,
    *,
    servers: int,
    clock: Callable[[], datetime] = _after_every_lease,
) -> list[list[Any]]:
    """``resolve_unknown()`` on several servers at once, each with its own journal object."""
    journals = [open_journal(spec, owner=f"server-{n}") for n in range(servers)]
    clients = [make_client(config, journal, clock=clock) for journal in journals]
    start = threading.Barrier(servers)
    results: list[list[Any]] = [[] for _ in clients]

    def resolve(n: int) -> None:
        start.wait()
        results[n] = clients[n].resolve_unknown()

    threads = [threading.Thread(target=resolve, args=(n,)) for n in range(servers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client, journal in zip(clients, journals, strict=True):
        client.close()
        journal.close()
    return results


def test_resolve_unknown_on_every_server_at_once_resolves_each_record_once(
    spec: JournalSpec, bank: MockBank
) -> None:
    pending = _requests(10)
    bank.set_faults(FaultPlan(drop_response_after_commit=1.0, only_methods=frozenset({"POST"})))
    with bank.serve() as served:
        journal = open_journal(spec)
        for request in pending:
            # A client per transfer: one client's circuit breaker would open after a few.
            client = make_client(served.config(), journal)
            with pytest.raises(UnknownOutcomeError):
                client.transfer("acme", request)
            client.close()
        journal.close()
        bank.set_faults(FaultPlan.none())
        before = bank.stats["requests"]
        resolved = _resolve_on_servers(spec, served.config(), servers=3)
        lookups = bank.stats["requests"] - before
    ids = sorted(t.idempotency_key for ts in resolved for t in ts)
    assert sorted(r.idempotency_key for r in pending) == ids  # every one, and each once
    assert len(pending) == lookups
    assert len(bank.transfers()) == len(pending)
    assert bank.duplicates_at_bank == 0
