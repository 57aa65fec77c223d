"""The deadline of one logical call (walletlink._core.Call): Timeout.total on the retry
policy's clock, shared by every request of the call's flow."""

from __future__ import annotations

import pytest

from walletlink import CallOptions, ConnectError, RetryPolicy, Timeout
from walletlink._core import Call
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
