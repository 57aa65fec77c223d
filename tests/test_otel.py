"""walletlink.otel: a span per logical request and per attempt, redacted, opt-in."""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.acme import DEBTOR, fail_first_post, make_bank, transfer_request
from walletlink import (
    AsyncClient,
    Client,
    ConfigurationError,
    RetryPolicy,
    TransferNotFoundError,
)
from walletlink.accounts import Iban
from walletlink.otel import SPAN_ATTRIBUTES, instrument
from walletlink.testing import FakeClock, MockBank


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bank(clock: FakeClock) -> Iterator[MockBank]:
    bank = make_bank(clock)
    fail_first_post(bank)
    yield bank
    bank.close()


@pytest.fixture
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def check(exporter: InMemorySpanExporter, bank: MockBank, transfer_id: str) -> None:
    finished = exporter.get_finished_spans()
    call = next(s for s in finished if s.kind is SpanKind.INTERNAL)
    attempts = [s for s in finished if s.kind is SpanKind.CLIENT]
    assert [a.attributes["http.response.status_code"] for a in attempts] == [503, 201]
    assert [a.attributes["walletlink.attempt"] for a in attempts] == [1, 2]
    assert all(a.parent is not None and a.parent.span_id == call.context.span_id for a in attempts)
    assert call.attributes["walletlink.transfer_id"] == transfer_id
    assert call.status.status_code is StatusCode.UNSET
    assert len(finished) == 3
    for span in finished:
        assert set(span.attributes) <= set(SPAN_ATTRIBUTES)
        shown = repr(dict(span.attributes)) + span.name
        assert "DE89370400440532013000" not in shown
        assert bank.config().credentials["api_key"] not in shown


def test_a_transfer_is_a_call_span_with_one_child_per_attempt(
    bank: MockBank, clock: FakeClock, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    retry = RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(0))
    with Client([bank.config()], retry=retry, clock=clock.now) as client:
        bank.mount(client.session)
        client.balances("acme", DEBTOR)  # before instrument(): not traced
        instrument(client, tracer_provider=provider)
        transfer = client.transfer("acme", transfer_request(payout_id="PAYOUT-7"))
    check(exporter, bank, transfer.id)


def test_the_async_client_is_traced_alike(
    bank: MockBank, clock: FakeClock, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    retry = RetryPolicy(async_sleep=clock.asleep, clock=clock.monotonic, rng=random.Random(0))

    async def scenario() -> str:
        async with AsyncClient([bank.config()], retry=retry, clock=clock.now) as client:
            bank.mount_async(client)
            instrument(client, tracer_provider=provider)
            return (await client.transfer("acme", transfer_request(payout_id="PAYOUT-7"))).id

    check(exporter, bank, asyncio.run(scenario()))


def test_a_failed_call_span_has_the_error_status(
    clock: FakeClock, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    bank = MockBank("generic_rest", bank_id="acme", clock=clock)
    with Client([bank.config()], clock=clock.now) as client:
        bank.mount(client.session)
        instrument(client, tracer_provider=provider)
        with pytest.raises(TransferNotFoundError, match="no transfer"):
            client.get_transfer("wl_nothing")  # no request: no span
        with pytest.raises(Exception, match="no such account"):
            client.balances("acme", Iban("FR1420041010050500013M02606"))
    call = next(s for s in exporter.get_finished_spans() if s.kind is SpanKind.INTERNAL)
    assert (call.status.status_code, call.attributes["walletlink.outcome"]) == (
        StatusCode.ERROR,
        "BankRejectedError",
    )
    assert len(exporter.get_finished_spans()) == 2


def test_without_the_api_the_error_names_the_extra(
    bank: MockBank, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with Client([bank.config()]) as client, pytest.raises(ConfigurationError, match="otel"):
        instrument(client)
