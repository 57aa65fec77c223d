"""AsyncClient against the blocking Client on a thread pool: N concurrent transfers, loopback.

    .venv/bin/python benchmarks/bench_async.py [N] [THREADS]

Both sides send the same N transfers at once to a generic_rest ``MockBank`` served on
127.0.0.1 by a separate process, with the in-memory journal: ``AsyncClient`` with
``asyncio.gather`` on one event loop, and one shared ``Client`` driven by a
``ThreadPoolExecutor`` of THREADS workers (32 by default). Both keep at most THREADS
connections open (``max_connections`` / the pool size): the mock bank's threaded server,
like a real bank's front end, does not take 200 connections at once. The printed ratio is
the wall time over the thread pool's (below 1.00: faster than the pool); a third row sends
the same POSTs on plain httpx, to tell walletlink's cost from httpx's.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import socket
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection

import pytest

from walletlink import AsyncClient, BankConfig, Client, Money, Party, RetryPolicy, TransferRequest
from walletlink.accounts import Iban
from walletlink.journal import MemoryJournal
from walletlink.testing import FakeClock, MockBank

DEBTOR = Iban("DE89370400440532013000")
CREDITOR = Iban("GB33BUKB20201555555555")


def _requests(n: int) -> list[TransferRequest]:
    return [
        TransferRequest(
            amount=Money.from_minor(100 + i, "EUR"),
            debtor_account=DEBTOR,
            creditor=Party(name="Ada Lovelace", account=CREDITOR),
            remittance=f"bench {i}",
        )
        for i in range(n)
    ]


def _bank() -> MockBank:
    bank = MockBank("generic_rest", bank_id="bench", clock=FakeClock())
    bank.open_account(DEBTOR, Money("100000000.00", "EUR"))
    bank.open_account(CREDITOR, Money("0.00", "EUR"))
    return bank


def run_threads(config: BankConfig, batch: list[TransferRequest], threads: int) -> float:
    client = Client([config], journal=MemoryJournal(), retry=RetryPolicy(max_attempts=1))
    # requests keeps 10 connections per host by default: give every worker its own.
    adapter = client.session.get_adapter(config.base_url)
    adapter.init_poolmanager(threads, threads)  # type: ignore[attr-defined]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda request: client.transfer("bench", request), batch))
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


def run_async(config: BankConfig, batch: list[TransferRequest], connections: int) -> float:
    async def main() -> float:
        retry = RetryPolicy(max_attempts=1)
        journal = MemoryJournal()
        client = AsyncClient([config], journal=journal, retry=retry, max_connections=connections)
        async with client:
            started = time.perf_counter()
            await asyncio.gather(*(client.transfer("bench", request) for request in batch))
            return time.perf_counter() - started

    return asyncio.run(main())


def run_raw_httpx(config: BankConfig, batch: list[TransferRequest], connections: int) -> float:
    """The same POSTs, hand-built on plain httpx: what the async client costs on its own."""
    import httpx

    async def main() -> float:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        transport = httpx.AsyncHTTPTransport(limits=limits, socket_options=nodelay)
        key = config.credentials["api_key"]
        async with httpx.AsyncClient(transport=transport) as client:

            async def post(request: TransferRequest) -> None:
                canonical = request.canonical()
                body = json.dumps(canonical, separators=(",", ":"), sort_keys=True).encode()
                headers = {
                    "Authorization": f"Bearer {key}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": request.idempotency_key,
                }
                url = config.base_url + "/v1/transfers"
                reply = await client.post(url, content=body, headers=headers)
                reply.raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(post(request) for request in batch))
            return time.perf_counter() - started

    return asyncio.run(main())


def _serve(conn: Connection) -> None:
    """The mock bank in its own process, so that its server threads do not compete with
    the client under test for the GIL (they would starve a single event loop)."""
    bank = _bank()
    with bank.serve() as served:
        conn.send(served.config())
        conn.recv()  # until the run is over
        conn.send((len(bank.transfers()), bank.duplicates_at_bank))


def _run_served(run: Callable[[BankConfig], float], n: int) -> float:
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    server = context.Process(target=_serve, args=(theirs,), daemon=True)
    server.start()
    try:
        seconds = run(ours.recv())
        ours.send("done")
        assert ours.recv() == (n, 0)  # every transfer at the bank, none twice
    finally:
        server.join(timeout=10)
    return seconds


def measure(n: int, threads: int = 32, rounds: int = 3) -> dict[str, float]:
    """Median wall time of each side over ``rounds`` runs of ``n`` concurrent transfers."""
    times: dict[str, list[float]] = {"threads": [], "async": [], "raw_httpx": []}
    for _ in range(rounds):
        times["raw_httpx"].append(
            _run_served(lambda config: run_raw_httpx(config, _requests(n), threads), n)
        )
        times["threads"].append(
            _run_served(lambda config: run_threads(config, _requests(n), threads), n)
        )
        times["async"].append(
            _run_served(lambda config: run_async(config, _requests(n), threads), n)
        )
    return {name: statistics.median(values) for name, values in times.items()}


def report(n: int, threads: int, figures: dict[str, float]) -> str:
    base = figures["threads"]
    lines = [f"{n} concurrent transfers over loopback (median of 3 runs; ratio to the pool)"]
    for name, label in (
        ("threads", f"Client, {threads}-thread pool"),
        ("async", f"AsyncClient, {threads} connections"),
        ("raw_httpx", f"plain httpx, {threads} connections"),
    ):
        seconds = figures[name]
        lines.append(
            f"  {label:<32} {seconds:7.3f} s  {n / seconds:7.0f} transfers/s  "
            f"{seconds / base:5.2f}x"
        )
    async_over_raw = figures["async"] / figures["raw_httpx"]
    lines.append(f"  AsyncClient / plain httpx: {async_over_raw:.2f}x")
    return "\n".join(lines)


def test_bench_async_correctness() -> None:
    """Both sides put exactly N transfers at the bank, none twice."""
    figures = measure(6, threads=3, rounds=1)
    assert set(figures) == {"threads", "async", "raw_httpx"}
    assert all(seconds > 0 for seconds in figures.values())


@pytest.mark.slow
def test_bench_async_full() -> None:
    print(report(200, 32, measure(200)))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    print(report(n, threads, measure(n, threads)))


if __name__ == "__main__":
    main()
