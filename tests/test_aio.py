"""AsyncClient: the same operations as Client, awaited over httpx, the journal off the loop.

The conformance suite (walletlink.testing.conformance) already runs every adapter's checks
against both clients; these tests pin what is particular to the async one."""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.acme import DEBTOR, make_bank, transfer_request
from walletlink import (
    AsyncClient,
    BankConfig,
    CallOptions,
    ConfigurationError,
    ConnectError,
    Hooks,
    ProtocolError,
    RetryEvent,
    RetryPolicy,
    Timeout,
    TransferStatus,
    TransportError,
    UnknownOutcomeError,
)
from walletlink.journal import MemoryJournal, SQLiteJournal
from walletlink.testing import FakeClock, FaultKind, FaultPlan, MockBank, MockRequest
from walletlink.testing._http import MockResponse


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bank(clock: FakeClock) -> Iterator[MockBank]:
    bank = make_bank(clock)
    yield bank
    bank.close()


def policy(clock: FakeClock, **changes: Any) -> RetryPolicy:
    def no_blocking_sleep(seconds: float) -> None:
        raise AssertionError("the async client slept in the event loop")

    return RetryPolicy(
        sleep=no_blocking_sleep,
        async_sleep=clock.asleep,
        clock=clock.monotonic,
        rng=random.Random(0),
        **changes,
    )


def make_client(bank: MockBank, clock: FakeClock, **options: Any) -> AsyncClient:
    options.setdefault("retry", policy(clock))
    client = AsyncClient([bank.config()], clock=clock.now, **options)
    bank.mount_async(client)
    return client


def test_a_transfer_is_sent_settled_and_returned_from_the_journal(
    bank: MockBank, clock: FakeClock
) -> None:
    wanted = transfer_request()

    async def scenario() -> tuple[str, TransferStatus, str, int]:
        async with make_client(bank, clock) as client:
            transfer = await client.transfer("acme", wanted)
            bank.advance(120)
            settled = await client.get_transfer(transfer.id)
            again = await client.transfer("acme", wanted)
            return transfer.id, settled.status, again.id, len(bank.transfers())

    first, settled, again, at_bank = asyncio.run(scenario())
    assert (settled, again, at_bank) == (TransferStatus.SETTLED, first, 1)


@pytest.mark.parametrize(("kind", "on_loop"), [("sqlite", False), ("memory", True)])
def test_a_blocking_journal_is_called_off_the_event_loop(
    bank: MockBank, clock: FakeClock, tmp_path: Path, kind: str, on_loop: bool
) -> None:
    """A blocking (SQLite) journal call on the loop would stall every other task; the
    in-memory journal (``blocks = False``) is cheaper to call right there."""
    seen: list[bool] = []
    journal = SQLiteJournal(tmp_path / "j.sqlite3") if kind == "sqlite" else MemoryJournal()
    original = journal.record_intent

    def record_intent(**kwargs: Any) -> Any:
        try:
            asyncio.get_running_loop()
            seen.append(True)
        except RuntimeError:
            seen.append(False)
        return original(**kwargs)

    journal.record_intent = record_intent  # type: ignore[method-assign]

    async def scenario() -> None:
        async with make_client(bank, clock, journal=journal) as client:
            await client.transfer("acme", transfer_request())

    asyncio.run(scenario())
    journal.close()
    assert seen == [on_loop]


def test_retries_wait_with_the_injected_async_sleep(bank: MockBank, clock: FakeClock) -> None:
    answer = bank.handle
    failures = [503, 503]
    events: list[RetryEvent] = []

    def flaky(mock: MockRequest) -> MockResponse:
        if mock.method == "GET" and failures:
            return MockResponse(status=failures.pop())
        return answer(mock)

    bank.handle = flaky  # type: ignore[method-assign]
    slept: list[float] = []

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    retry = policy(clock).evolve(async_sleep=asleep)

    async def scenario() -> int:
        hooks = Hooks(on_retry=lambda bank_id, event: events.append(event))
        async with make_client(bank, clock, retry=retry, hooks=hooks) as client:
            return len(await client.balances("acme", DEBTOR))

    assert asyncio.run(scenario()) >= 1
    assert len(slept) == 2
    assert [event.status for event in events] == [503, 503]


def test_transactions_is_an_async_iterator_over_every_page(
    bank: MockBank, clock: FakeClock
) -> None:
    start = clock.now().date()

    async def scenario() -> list[int]:
        async with make_client(bank, clock) as client:
            for index in range(3):
                await client.transfer(
                    "acme", transfer_request(f"{index + 1}.00", remittance=f"p{index}")
                )
            bank.advance(120)
            end = clock.now().date() + timedelta(days=1)
            pages = client.transactions("acme", DEBTOR, start, end)
            return sorted(
                [t.amount.minor_units async for t in pages if t.direction.value == "debit"]
            )

    assert asyncio.run(scenario()) == [100, 200, 300]


def test_concurrent_transfers_are_each_paid_once(bank: MockBank, clock: FakeClock) -> None:
    distinct = [transfer_request("1.00", remittance=f"r{index}") for index in range(20)]
    same = transfer_request("2.00", remittance="same")

    async def scenario() -> tuple[set[str], set[str]]:
        async with make_client(bank, clock) as client:
            first = await asyncio.gather(*(client.transfer("acme", r) for r in distinct))
            again = await asyncio.gather(*(client.transfer("acme", same) for _ in range(5)))
            return {t.idempotency_key for t in first}, {t.id for t in again}

    keys, same_ids = asyncio.run(scenario())
    assert (len(keys), len(same_ids)) == (20, 1)
    assert (len(bank.transfers()), bank.duplicates_at_bank) == (21, 0)


def test_a_lost_reply_is_unknown_and_resolved_by_lookup(
    bank: MockBank, clock: FakeClock, tmp_path: Path
) -> None:
    journal = SQLiteJournal(tmp_path / "journal.sqlite3")
    bank.set_faults(FaultPlan.of(FaultKind.RESET_AFTER_COMMIT, only_methods={"POST"}))

    lost = transfer_request()

    async def scenario() -> list[str]:
        async with make_client(bank, clock, journal=journal) as client:
            with pytest.raises(UnknownOutcomeError):
                await client.transfer("acme", lost)
            bank.set_faults(FaultPlan.none())
            return [t.idempotency_key for t in await client.resolve_unknown("acme")]

    try:
        assert asyncio.run(scenario()) == [lost.idempotency_key]
        assert (len(bank.transfers()), journal.unresolved("acme")) == (1, [])
    finally:
        journal.close()


def test_a_per_call_read_timeout_reaches_the_wire(bank: MockBank, clock: FakeClock) -> None:
    """The call's Timeout(read=2) is the attempt's read timeout: a 5 s reply times out,
    and the unanswered write is UNKNOWN, never resent under a new key."""
    bank.set_faults(FaultPlan(latency=(5.0, 5.0)))

    async def scenario() -> None:
        async with make_client(bank, clock) as client:
            await client.balances("acme", DEBTOR)  # 30 s by default: answered
            with pytest.raises(UnknownOutcomeError):
                await client.transfer("acme", transfer_request(), options=CallOptions(timeout=2))

    asyncio.run(scenario())
    assert len(bank.transfers()) == 1


def test_a_refused_connection_is_a_connect_error(clock: FakeClock) -> None:
    bank = MockBank("generic_rest", bank_id="acme", clock=clock)
    config = bank.config(base_url="http://127.0.0.1:9")

    async def scenario() -> None:
        retry = policy(clock, max_attempts=1)
        async with AsyncClient([config], retry=retry, clock=clock.now) as client:
            await client.balances("acme", DEBTOR)

    with pytest.raises(ConnectError):
        asyncio.run(scenario())


def test_an_untrusted_certificate_is_refused_on_loopback(
    bank: MockBank, clock: FakeClock, tmp_path: Path
) -> None:
    import trustme

    from walletlink.testing import ServerTLS

    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    tls = ServerTLS(
        cert_chain_pem=b"".join(blob.bytes() for blob in leaf.cert_chain_pems),
        key_pem=leaf.private_key_pem.bytes(),
    )
    pinned = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pinned))

    async def scenario(config: BankConfig) -> int:
        async with AsyncClient([config], retry=policy(clock), clock=clock.now) as client:
            return len(await client.balances("acme", DEBTOR))

    with bank.serve(tls=tls) as served:
        with pytest.raises(TransportError, match="TLS"):
            asyncio.run(scenario(served.config()))
        assert asyncio.run(scenario(served.config(ca_bundle=str(pinned)))) >= 1
    assert bank.transfers() == []


def test_without_httpx_the_error_names_the_extra(
    bank: MockBank, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)
    monkeypatch.delitem(sys.modules, "walletlink._atransport", raising=False)
    with pytest.raises(ConfigurationError, match=r"pip install 'walletlink\[async\]'"):
        AsyncClient([bank.config()])


def test_a_total_timeout_bounds_the_retries(bank: MockBank, clock: FakeClock) -> None:
    """Timeout(total=10) stops retrying a failing read before 10 s of the policy's clock,
    although max_elapsed would allow a minute."""
    bank.set_faults(FaultPlan.of(FaultKind.UNAVAILABLE, only_methods={"GET"}))
    retry = policy(clock, max_attempts=50, max_elapsed=60, initial_backoff=1, max_backoff=1)
    start = clock.monotonic()

    async def scenario() -> None:
        async with make_client(bank, clock, retry=retry) as client:
            await client.balances("acme", DEBTOR, options=CallOptions(timeout=Timeout(total=10)))

    with pytest.raises(Exception, match="503"):
        asyncio.run(scenario())
    assert clock.monotonic() - start <= 10


def test_a_reply_over_the_cap_is_refused_while_it_streams(bank: MockBank, clock: FakeClock) -> None:
    answer = bank.handle

    def huge(mock: MockRequest) -> MockResponse:
        if mock.method == "GET":
            return MockResponse(status=200, body=b"x" * 5000)
        return answer(mock)

    bank.handle = huge  # type: ignore[method-assign]

    async def scenario() -> None:
        client = AsyncClient([bank.config(max_response_bytes=1024)], retry=policy(clock))
        bank.mount_async(client)
        async with client:
            await client.balances("acme", DEBTOR)

    with pytest.raises(ProtocolError, match="1024-byte limit"):
        asyncio.run(scenario())


def test_an_in_process_refusal_is_a_connect_error_retried_then_raised(
    bank: MockBank, clock: FakeClock
) -> None:
    bank.set_faults(FaultPlan.of(FaultKind.CONNECT_REFUSED))
    events: list[RetryEvent] = []

    async def scenario() -> None:
        hooks = Hooks(on_retry=lambda bank_id, event: events.append(event))
        async with make_client(bank, clock, hooks=hooks) as client:
            await client.transfer("acme", transfer_request())

    with pytest.raises(ConnectError):
        asyncio.run(scenario())
    assert [event.reason for event in events] == ["connect_error"] * 3
    assert bank.transfers() == []
