"""Per-call options on the blocking client: timeout (connect, read, total), retry policy and
idempotency key override the bank's and the client's defaults for one call only."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from tests.acme import DEBTOR, make_bank, transfer_request
from walletlink import (
    BankUnavailableError,
    CallOptions,
    Client,
    ConfigurationError,
    RetryPolicy,
    Timeout,
    UnknownOutcomeError,
)
from walletlink.testing import FakeClock, FaultKind, FaultPlan, MockBank


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bank(clock: FakeClock) -> Iterator[MockBank]:
    bank = make_bank(clock)
    yield bank
    bank.close()


def policy(clock: FakeClock, **changes: Any) -> RetryPolicy:
    return RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(0), **changes)


@pytest.fixture
def client(bank: MockBank, clock: FakeClock) -> Iterator[Client]:
    client = Client([bank.config()], retry=policy(clock), clock=clock.now)
    bank.mount(client.session)
    yield client
    client.close()


def test_options_are_validated() -> None:
    assert CallOptions(timeout=(3, 10)).timeout == Timeout(connect=3, read=10)
    assert CallOptions(timeout=7).timeout == Timeout(read=7)
    with pytest.raises(ConfigurationError, match="timeout"):
        CallOptions(timeout="soon")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="retry"):
        CallOptions(retry=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="idempotency_key"):
        CallOptions(idempotency_key=" ")


def test_a_per_call_read_timeout_reaches_the_wire(bank: MockBank, client: Client) -> None:
    bank.set_faults(FaultPlan(latency=(5.0, 5.0)))
    assert client.balances("acme", DEBTOR)  # the bank's 30 s read timeout: answered
    with pytest.raises(UnknownOutcomeError):
        client.transfer("acme", transfer_request(), options=CallOptions(timeout=(1, 2)))
    assert len(bank.transfers()) == 1  # executed, then the reply came too late


def test_a_per_call_retry_policy_replaces_the_clients(
    bank: MockBank, clock: FakeClock, client: Client
) -> None:
    bank.set_faults(FaultPlan.of(FaultKind.UNAVAILABLE, only_methods={"GET"}))
    with pytest.raises(BankUnavailableError):
        client.balances("acme", DEBTOR, options=CallOptions(retry=policy(clock, max_attempts=1)))
    assert bank.stats.get("fault.unavailable", 0) == 1
    with pytest.raises(BankUnavailableError):
        client.balances("acme", DEBTOR)
    assert bank.stats.get("fault.unavailable", 0) == 1 + 4  # the client's four attempts


def test_a_total_timeout_bounds_every_retry_of_the_call(bank: MockBank, clock: FakeClock) -> None:
    retry = policy(clock, max_attempts=50, max_elapsed=120, initial_backoff=1, max_backoff=1)
    client = Client([bank.config(timeout=Timeout(total=10))], retry=retry, clock=clock.now)
    bank.mount(client.session)
    bank.set_faults(FaultPlan.of(FaultKind.UNAVAILABLE, only_methods={"GET"}))
    start = clock.monotonic()
    with pytest.raises(BankUnavailableError):
        client.balances("acme", DEBTOR)
    spent = clock.monotonic() - start
    # Backoffs are up to 1 s each: without the total, 50 attempts would take far longer.
    assert 0 < spent <= 10
    client.close()


def test_the_call_key_overrides_the_requests_key(bank: MockBank, client: Client) -> None:
    wanted = transfer_request()
    first = client.transfer("acme", wanted, options=CallOptions(idempotency_key="pay-1"))
    again = client.transfer("acme", wanted, options=CallOptions(idempotency_key="pay-1"))
    assert (first.idempotency_key, again.id, len(bank.transfers())) == ("pay-1", first.id, 1)
    assert wanted.idempotency_key != "pay-1"
