"""walletlink's client against plain ``requests``, on the same loopback mock bank, one run.

    .venv/bin/python benchmarks/bench_client.py [N]

Both sides send the same N ``POST /v1/transfers`` requests (same bytes, same headers) to a
generic_rest ``MockBank`` served on 127.0.0.1 over a keep-alive connection. walletlink runs
with the in-memory journal ("journal off") and with the SQLite journal on disk, both with
its default durability (each intent fsynced before the first byte goes out) and with
``durability="normal"`` (WAL without fsync: survives a process crash, not a power cut).
The printed ratio is walletlink's wall time over plain requests'. Goals: <= 1.15x with the
journal off, <= 1.3x with SQLite.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from walletlink import Client, Money, Party, RetryPolicy, TransferRequest
from walletlink.accounts import Iban
from walletlink.journal import Journal, MemoryJournal, SQLiteJournal
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


def run_plain(url: str, api_key: str, batch: list[TransferRequest]) -> float:
    """The same HTTP calls, hand-built: what a team without walletlink would write."""
    import json

    session = requests.Session()
    started = time.perf_counter()
    for request in batch:
        body = json.dumps(request.canonical(), separators=(",", ":"), sort_keys=True).encode()
        reply = session.post(
            url + "/v1/transfers",
            data=body,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Idempotency-Key": request.idempotency_key,
            },
            timeout=(5, 30),
        )
        reply.raise_for_status()
        reply.json()
    elapsed = time.perf_counter() - started
    session.close()
    return elapsed


def run_walletlink(served_config: object, journal: Journal, batch: list[TransferRequest]) -> float:
    clock = FakeClock()
    client = Client(
        [served_config],  # type: ignore[list-item]
        journal=journal,
        retry=RetryPolicy(sleep=clock.sleep, clock=clock.monotonic),
    )
    started = time.perf_counter()
    for request in batch:
        client.transfer("bench", request)
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


def measure(n: int, rounds: int = 3) -> dict[str, float]:
    """Median wall time of each contender over ``rounds`` runs of ``n`` transfers."""
    times: dict[str, list[float]] = {
        "requests": [],
        "journal_off": [],
        "sqlite": [],
        "sqlite_normal": [],
    }
    with tempfile.TemporaryDirectory() as folder:
        for round_number in range(rounds):
            contenders: list[tuple[str, Callable[[MockBank, object], float]]] = [
                (
                    "requests",
                    lambda bank, config: run_plain(served.url, bank.api_key, _requests(n)),
                ),
                (
                    "journal_off",
                    lambda bank, config: run_walletlink(config, MemoryJournal(), _requests(n)),
                ),
                (
                    "sqlite",
                    lambda bank, config, r=round_number: run_walletlink(
                        config,
                        SQLiteJournal(Path(folder) / f"j{r}.sqlite3"),
                        _requests(n),
                    ),
                ),
                (
                    "sqlite_normal",
                    lambda bank, config, r=round_number: run_walletlink(
                        config,
                        SQLiteJournal(Path(folder) / f"n{r}.sqlite3", durability="normal"),
                        _requests(n),
                    ),
                ),
            ]
            for name, run in contenders:
                bank = _bank()
                with bank.serve() as served:
                    times[name].append(run(bank, served.config()))
                assert len(bank.transfers()) == n
    return {name: statistics.median(values) for name, values in times.items()}


def report(n: int, figures: dict[str, float]) -> str:
    base = figures["requests"]
    lines = [f"{n} transfers over loopback (median of 3 runs)"]
    for name, label in (
        ("requests", "plain requests"),
        ("journal_off", "walletlink, in-memory journal"),
        ("sqlite", "walletlink, SQLite (fsync intents)"),
        ("sqlite_normal", "walletlink, SQLite (durability=normal)"),
    ):
        seconds = figures[name]
        lines.append(
            f"  {label:<40} {seconds:7.3f} s  {n / seconds:8.0f} transfers/s  "
            f"{seconds / base:5.2f}x"
        )
    return "\n".join(lines)


def test_bench_client_correctness() -> None:
    """Both paths put exactly N transfers at the bank (the benchmark's correctness part)."""
    figures = measure(5, rounds=1)
    assert set(figures) == {"requests", "journal_off", "sqlite", "sqlite_normal"}
    assert all(seconds > 0 for seconds in figures.values())


@pytest.mark.slow
def test_bench_client_full() -> None:
    print(report(1000, measure(1000)))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    print(report(n, measure(n)))


if __name__ == "__main__":
    main()
