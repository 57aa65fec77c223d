"""Several walletlink servers in several processes, sharing one journal.

Each worker is a process with its own :class:`~walletlink.Client` and journal object: the
shape of a wallet backend scaled out behind a load balancer. Workers start from a
``forkserver`` (the parent serves the mock bank from threads, and forking a threaded process
is unsafe), so everything they receive is plain, picklable data.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from walletlink import BankConfig, Client, Hooks, RetryPolicy, TransferRequest
from walletlink.errors import UnknownOutcomeError, WalletLinkError
from walletlink.journal import Journal, SQLiteJournal
from walletlink.testing import FakeClock

# ("sqlite", path) or ("postgres", dsn, schema)
JournalSpec = tuple[str, ...]
# Far longer than a test takes, so a lease never expires by itself mid-test.
LEASE = timedelta(minutes=10)


def open_journal(spec: JournalSpec, *, owner: str | None = None) -> Journal:
    if spec[0] == "sqlite":
        return SQLiteJournal(Path(spec[1]), lease=LEASE, owner=owner)
    from walletlink.journal.postgres import PostgresJournal

    return PostgresJournal(spec[1], schema=spec[2], lease=LEASE, owner=owner, pool_size=2)


def make_client(
    config: BankConfig,
    journal: Journal,
    *,
    hooks: Hooks | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Client:
    fake = FakeClock()  # retries never sleep for real
    return Client(
        [config],
        journal=journal,
        retry=RetryPolicy(sleep=fake.sleep, clock=fake.monotonic, rng=random.Random(1)),
        hooks=hooks,
        clock=clock or (lambda: datetime.now(UTC)),
    )


def requests_from(raw: Sequence[tuple[dict[str, Any], str]]) -> list[TransferRequest]:
    return [TransferRequest.from_canonical(canonical, key) for canonical, key in raw]


def submit_all(
    spec: JournalSpec,
    config: BankConfig,
    raw: Sequence[tuple[dict[str, Any], str]],
    seed: int,
    start: Any,
    results: Any,
) -> None:
    """One server: submit every request (in its own order) once the others are ready."""
    journal = open_journal(spec)
    client = make_client(config, journal)
    pending = requests_from(raw)
    random.Random(seed).shuffle(pending)
    outcomes: dict[str, str] = {}
    start.wait()
    try:
        for request in pending:
            try:
                outcomes[request.idempotency_key] = client.transfer(config.bank_id, request).id
            except UnknownOutcomeError:
                outcomes[request.idempotency_key] = "unknown"  # in flight elsewhere
            except WalletLinkError as exc:
                outcomes[request.idempotency_key] = type(exc).__name__
    finally:
        client.close()
        journal.close()
    results.put(outcomes)


def die_at(
    spec: JournalSpec, config: BankConfig, raw: Sequence[tuple[dict[str, Any], str]], point: str
) -> None:
    """One server that is SIGKILLed at ``point`` of sending (or resolving) a transfer.

    * ``before_send``: the intent is journalled, the request is about to leave;
    * ``after_reply``: the bank executed it and answered; the answer is not journalled;
    * ``while_resolving``: the outcome was unknown and this server, resolving it, holds its
      lease and is looking it up.
    """

    def kill(*_: object) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    def on_request(bank_id: str, request: Any, url: str) -> None:
        if point == "before_send" or (point == "while_resolving" and request.method == "GET"):
            kill()

    def on_response(bank_id: str, response: Any) -> None:
        if point == "after_reply":
            kill()

    journal = open_journal(spec)
    client = make_client(
        config, journal, hooks=Hooks(on_request=on_request, on_response=on_response)
    )
    (request,) = requests_from(raw)
    try:
        client.transfer(config.bank_id, request)
    except UnknownOutcomeError:
        client.resolve_unknown()
    raise AssertionError(f"the server survived {point}")  # the parent sees exit code 1
