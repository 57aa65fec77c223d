"""T3: the same keys submitted by several processes at once, each with its own journal.

The bank (a generic_rest mock on loopback, in this process) is the only place the
submitters meet, so this is its idempotency store under a real race: a key in flight
answers 409, the loser retries under the same key and gets the winner's answer replayed.
Pass: exactly one bank transfer per key, and every submitter ends with the same transfer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.reliability.conftest import Report, Scale
from tests.reliability.submitter import CREDITOR, DEBTOR
from walletlink.money import Money
from walletlink.testing import MockBank, MockResponse
from walletlink.testing.idempotency import Claim, ClaimState

ROOT = Path(__file__).resolve().parents[2]
#: How long a winner holds its key in flight waiting for a rival (a bound, rarely reached).
HOLD_SECONDS = 1.0


def hold_keys_in_flight(bank: MockBank) -> None:
    """Keep each key in flight until another submitter has hit it (or for HOLD_SECONDS).

    The mock bank executes a transfer in microseconds, so without this the processes would
    almost never meet on a key in flight and the 409 path would go untested. Waiting on an
    event, not a timer: the winner goes on the moment a rival has been answered 409.
    """
    store = bank.idempotency
    begin, complete = store.begin, store.complete
    contended: dict[str, threading.Event] = {}
    lock = threading.Lock()

    def event(key: str) -> threading.Event:
        with lock:
            return contended.setdefault(key, threading.Event())

    def racing_begin(scope: str, key: str, fingerprint: str) -> Claim[MockResponse]:
        claim = begin(scope, key, fingerprint)
        if claim.state is ClaimState.IN_FLIGHT:
            event(key).set()
        return claim

    def racing_complete(scope: str, key: str, response: MockResponse) -> None:
        event(key).wait(timeout=HOLD_SECONDS)
        complete(scope, key, response)

    hooks: dict[str, Any] = {"begin": racing_begin, "complete": racing_complete}
    for name, hook in hooks.items():
        setattr(store, name, hook)


def race(processes: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    """Start every submitter at once (each waits on its stdin), then read their answers."""
    for process in processes:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n", process.communicate()[1][-3000:]
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    results = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
        results.append(json.loads(out))
    return results


def test_t3_keys_raced_by_concurrent_processes(
    tmp_path: Path, scale: Scale, report: Report
) -> None:
    keys, submitters = scale.pick((40, 4), (1_000, 8))
    bank = MockBank("generic_rest", bank_id="acme")
    bank.open_account(DEBTOR, Money("1000000.00", "EUR"))
    bank.open_account(CREDITOR, Money("0.00", "EUR"))
    hold_keys_in_flight(bank)
    with bank.serve() as served:
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.reliability.submitter", json.dumps(spec)],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for spec in (
                {
                    "base_url": served.url,
                    "api_key": bank.api_key,
                    "webhook_secret": bank.webhook_secret,
                    "journal": str(tmp_path / f"journal-{n}.sqlite3"),
                    "keys": keys,
                    "seed": n,
                }
                for n in range(submitters)
            )
        ]
        try:
            results = race(processes)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                process.communicate()
    bank.close()
    views = bank.transfers()
    same = sum(len({result["ids"][f"race-{n}"] for result in results}) == 1 for n in range(keys))
    conflicts = bank.stats.get("idempotency_conflicts", 0)
    replays = bank.stats.get("replays", 0)
    report(
        "T3",
        f"{keys} keys x {submitters} processes: {len(views)} bank transfers, "
        f"{conflicts} answered 409 in flight, {replays} replayed, {same}/{keys} keys with "
        f"one result in every process, {bank.duplicates_at_bank} dup",
    )
    assert (keys, keys, 0) == (len(views), same, bank.duplicates_at_bank)
    # Every loser got the winner's answer: a replay, or its lookup after a 409.
    assert replays + conflicts >= keys * (submitters - 1) - sum(r["unknown"] for r in results)
