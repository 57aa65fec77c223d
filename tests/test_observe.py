"""The structured request log: a stable ``extra=`` per attempt and per logical request,
with no secret or account number in it; the same records reach Hooks.on_attempt/on_call."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator

import pytest

from tests.acme import CREDITOR, DEBTOR, fail_first_post, make_bank
from walletlink import (
    BankRejectedError,
    Client,
    Hooks,
    Money,
    Party,
    RequestRecord,
    RetryPolicy,
    TransferRequest,
)
from walletlink._observe import LOG_FIELDS
from walletlink.accounts import Iban
from walletlink.testing import FakeClock, MockBank


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bank(clock: FakeClock) -> Iterator[MockBank]:
    bank = make_bank(clock)
    yield bank
    bank.close()


def make_client(bank: MockBank, clock: FakeClock, hooks: Hooks | None = None) -> Client:
    retry = RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(0))
    client = Client([bank.config()], retry=retry, hooks=hooks, clock=clock.now)
    bank.mount(client.session)
    return client


def test_every_request_logs_the_documented_fields(
    bank: MockBank, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    fail_first_post(bank)
    request = TransferRequest(
        amount=Money("12.30", "EUR"),
        debtor_account=DEBTOR,
        creditor=Party(name="Ada Lovelace", account=CREDITOR),
        payout_id="PAYOUT-1",
    )
    with make_client(bank, clock) as client, caplog.at_level(logging.DEBUG, "walletlink"):
        transfer = client.transfer("acme", request)
    records = [r for r in caplog.records if hasattr(r, "operation")]
    rows = [tuple(getattr(r, name) for name in LOG_FIELDS) for r in records]
    # The write: attempt 1 (503), attempt 2 (201), then the call, after 2 attempts.
    fields = [(r[0], r[2], r[3], r[4], r[5], r[7]) for r in rows]
    assert fields == [
        ("acme", "POST", transfer.id, 1, 503, "ok"),
        ("acme", "POST", transfer.id, 2, 201, "ok"),
        ("acme", "POST", transfer.id, 2, 201, "ok"),
    ]
    assert [r.levelno for r in records] == [logging.DEBUG, logging.DEBUG, logging.INFO]
    assert all(isinstance(r.elapsed, float) and r.elapsed >= 0 for r in records)
    assert all(isinstance(r.operation, str) for r in records)
    text = " ".join(str(r.__dict__) for r in records)
    assert "DE89370400440532013000" not in text
    assert bank.config().credentials["api_key"] not in text


def test_a_refused_call_is_named_by_its_error_type(bank: MockBank, clock: FakeClock) -> None:
    """The attempt got an answer (outcome ok, status 404); the call ended in an error."""
    records: list[RequestRecord] = []
    hooks = Hooks(on_call=records.append, on_attempt=records.append)
    other = Iban("FR1420041010050500013M02606")
    with make_client(bank, clock, hooks) as client, pytest.raises(BankRejectedError):
        client.balances("acme", other)
    rows = [(r.kind, r.operation, r.attempt, r.status, r.outcome) for r in records]
    assert rows == [
        ("attempt", "balances", 1, 404, "ok"),
        ("call", "balances", 1, 404, "BankRejectedError"),
    ]
    assert records[0].call_id == records[1].call_id
    assert "FR1420041010050500013M02606" not in repr(records)
