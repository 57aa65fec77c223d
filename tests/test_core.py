"""The deadline of one logical call (walletlink._core.Call): Timeout.total on the retry
policy's clock, shared by every request of the call's flow."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.acme import DEBTOR, make_bank
from walletlink import (
    AsyncClient,
    BankConfig,
    CallOptions,
    Client,
    ConnectError,
    ProtocolError,
    RetryPolicy,
    Timeout,
)
from walletlink._core import Call
from walletlink.adapters.base import Flow
from walletlink.http import PreparedRequest
from walletlink.testing import FakeClock, MockBank


def test_the_total_cuts_each_read_and_the_retry_time_then_refuses_to_send() -> None:
    clock = FakeClock()
    policy = RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, max_elapsed=30)
    call = Call.start(CallOptions(timeout=Timeout(read=20, total=10)), policy)
    config = MockBank("generic_rest", clock=clock).config()
    timeout = call.timeout(config)
    assert (call.attempt_timeout(timeout).read, call.retry_policy().max_elapsed) == (10, 10)
    clock.advance(4)  # the first request of the flow took 4 s: the next one has 6 left
    assert (call.attempt_timeout(timeout).read, call.retry_policy().max_elapsed) == (6, 6)
    clock.advance(6)
    with pytest.raises(ConnectError, match="total timeout"):
        call.attempt_timeout(timeout)


def test_without_a_total_nothing_is_cut() -> None:
    clock = FakeClock()
    policy = RetryPolicy(clock=clock.monotonic)
    call = Call.start(None, policy)
    config = MockBank("generic_rest", clock=clock).config(timeout=(2, 9))
    timeout = call.timeout(config)
    clock.advance(1000)
    assert (call.attempt_timeout(timeout), call.retry_policy()) == (
        Timeout(connect=2, read=9),
        policy,
    )


def test_the_banks_total_applies_when_the_call_sets_none() -> None:
    clock = FakeClock()
    call = Call.start(CallOptions(retry=RetryPolicy(clock=clock.monotonic)), RetryPolicy())
    config = MockBank("generic_rest", clock=clock).config(timeout=Timeout(total=5))
    timeout = call.timeout(config)
    clock.advance(2)
    assert call.attempt_timeout(timeout).read == 3


# -- shared requests (walletlink._core.SharedReplies) ---------------------------------------


def _balances_flow(
    key: str, *, before: Callable[[], object] = lambda: None, refuse: bool = False
) -> Flow[int]:
    """A flow of one shared request (the acme bank's balances stand in for a token)."""
    before()
    response = yield PreparedRequest(
        method="GET",
        path=f"/v1/accounts/{DEBTOR.value}/balances",
        headers={"Authorization": f"Bearer {key}"},
        shared="token:test",
    )
    if refuse:
        raise ProtocolError("this flow cannot read the reply")
    return response.status


@pytest.mark.parametrize(("refuse", "sent"), [(False, 1), (True, 2)])
def test_a_flow_that_missed_a_shared_reply_is_handed_it_unless_its_sender_refused_it(
    refuse: bool, sent: int
) -> None:
    """B's flow step begins (its mark is taken), then B stalls before yielding its request;
    A sends the shared request and reads (or refuses) the reply; then B yields. B is handed
    A's reply, and sends nothing, exactly when A's flow read it."""
    clock = FakeClock()
    bank = make_bank(clock)
    counted: list[int] = []
    with Client([bank.config()], clock=clock.now) as client:
        bank.mount(client.session)
        started, go = threading.Event(), threading.Event()

        def stalled() -> None:
            started.set()
            assert go.wait(timeout=30)

        with ThreadPoolExecutor(1) as pool:
            later = pool.submit(
                client.run_flow, "acme", _balances_flow(bank.api_key, before=stalled)
            )
            assert started.wait(timeout=30)
            if refuse:
                with pytest.raises(ProtocolError, match="cannot read"):
                    client.run_flow("acme", _balances_flow(bank.api_key, refuse=True))
            else:
                counted.append(client.run_flow("acme", _balances_flow(bank.api_key)))
            go.set()
            counted.append(later.result(timeout=30))
        after = bank.stats.get("requests")
        # A flow that begins after the last reply is never handed an old one.
        counted.append(client.run_flow("acme", _balances_flow(bank.api_key)))
    assert set(counted) == {200}
    assert after == sent
    assert bank.stats.get("requests") == sent + 1


def test_the_async_client_hands_on_a_reply_that_ended_its_flow() -> None:
    """The last request of a flow may be shared: the async driver publishes it even though
    reading it ended the flow (a StopIteration a coroutine must not let escape)."""
    clock = FakeClock()
    bank = make_bank(clock)

    async def scenario(config: BankConfig) -> list[int]:
        # Over loopback: the first task's request really waits on the socket.
        async with AsyncClient([config], clock=clock.now) as client:
            flows = [client.run_flow("acme", _balances_flow(bank.api_key)) for _ in range(2)]
            return list(await asyncio.gather(*flows))

    pytest.importorskip("httpx")
    with bank.serve() as served:
        assert asyncio.run(scenario(served.config())) == [200, 200]
    assert bank.stats.get("requests") == 1
