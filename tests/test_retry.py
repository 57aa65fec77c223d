"""The retry policy: what is retried, how long it waits, and what stops it. Nothing sleeps."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walletlink._retry import (
    MAX_RETRY_AFTER,
    CircuitBreaker,
    CircuitState,
    Decision,
    RetryBudget,
    RetryEvent,
    RetryPolicy,
    RetrySignal,
    classify,
    parse_retry_after,
)
from walletlink.errors import (
    CircuitOpenError,
    ConnectError,
    ConnectionLostError,
    ProtocolError,
    RateLimitedError,
    TransportTimeoutError,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def policy(clock: FakeClock) -> RetryPolicy:
    return RetryPolicy(sleep=clock.sleep, clock=clock, rng=random.Random(7))


class Response:
    def __init__(self, status: int, retry_after: str | None = None) -> None:
        self.status = status
        self.retry_after = retry_after


def signal_of(response: Response) -> RetrySignal | None:
    if response.status < 400:
        return None
    return RetrySignal(response.status, response.retry_after)


def scripted(*outcomes: Response | BaseException) -> Callable[[], Response]:
    """A send() that plays the outcomes in order and counts its calls in ``.calls``."""
    pending: Iterator[Response | BaseException] = iter(outcomes)

    def send() -> Response:
        send.calls += 1  # type: ignore[attr-defined]
        outcome = next(pending)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    send.calls = 0  # type: ignore[attr-defined]
    return send


def calls(send: Callable[[], Response]) -> int:
    return send.calls  # type: ignore[attr-defined,no-any-return]


# -- classification ---------------------------------------------------------------------------

CASES = [
    # outcome, retried when idempotent, retried when not
    (None, False, False),
    (ConnectError("refused"), True, True),
    (TransportTimeoutError("read timeout"), True, False),
    (ConnectionLostError("reset"), True, False),
    (ProtocolError("garbage"), False, False),
    (RetrySignal(409), True, False),
    (RetrySignal(429), True, False),
    (RetrySignal(500), True, False),
    (RetrySignal(502), True, False),
    (RetrySignal(503), True, False),
    (RetrySignal(504), True, False),
    (RetrySignal(400), False, False),
    (RetrySignal(401), False, False),
    (RetrySignal(404), False, False),
    (RetrySignal(422), False, False),
    (RetrySignal(501), False, False),
    (RetrySignal(503, should_retry=False), False, False),
    (RetrySignal(400, should_retry=True), True, False),
]


@pytest.mark.parametrize(("outcome", "idempotent_retry", "other_retry"), CASES)
def test_what_is_retried(
    outcome: BaseException | RetrySignal | None, idempotent_retry: bool, other_retry: bool
) -> None:
    """Only a connect error is safe to retry for a request the bank may have executed."""
    assert classify(outcome, idempotent=True).retry == idempotent_retry
    assert classify(outcome, idempotent=False).retry == other_retry


def test_decisions_name_the_outcome() -> None:
    assert classify(RetrySignal(503, 2.0), idempotent=True) == Decision(True, "status_503", 2.0)
    assert classify(TransportTimeoutError("t"), idempotent=False) == Decision(False, "read_timeout")


# -- Retry-After --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("0", 0.0),
        ("  120 ", 120.0),
        ("9999999999", 9999999999.0),
        ("9" * 5000, MAX_RETRY_AFTER),
        ("Fri, 02 Jan 2026 03:05:05 GMT", 60.0),
        ("Fri, 02 Jan 2026 03:04:05 -0000", 0.0),
        ("Thu, 01 Jan 2026 00:00:00 GMT", 0.0),  # in the past
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER),
        (None, None),
        ("", None),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("٣", None),  # a digit, but not an ASCII one
        ("Fri, 99 Foo 2026 99:99:99 GMT", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@given(st.text(max_size=40))
def test_parse_retry_after_never_raises(header: str) -> None:
    seconds = parse_retry_after(header, now=NOW)
    assert seconds is None or 0.0 <= seconds <= MAX_RETRY_AFTER


def test_signal_reads_retry_after_from_headers_or_the_raw_value() -> None:
    headers = {"content-type": "application/json", "retry-after": "Fri, 02 Jan 2026 03:04:35 GMT"}
    assert RetrySignal.from_response(429, headers, now=NOW) == RetrySignal(429, 30.0)
    assert RetrySignal(429, "7") == RetrySignal(429, 7.0)
    assert RetrySignal(429, 1e300) == RetrySignal(429, MAX_RETRY_AFTER)


def test_retry_after_within_the_cap_is_honoured(policy: RetryPolicy, clock: FakeClock) -> None:
    send = scripted(Response(429, "2"), Response(200))
    result = policy.call_with_retries(send, idempotent=True, classify_result=signal_of)
    assert (result.status, clock.sleeps) == (200, [2.0])


@pytest.mark.parametrize("header", ["3600", "9999999999", "9" * 5000, "61"])
def test_retry_after_past_the_cap_raises_at_once(
    policy: RetryPolicy, clock: FakeClock, header: str
) -> None:
    """A server asking for an hour gets a typed error, not a hung client (T8, bug B8)."""
    send = scripted(Response(503, header))
    with pytest.raises(RateLimitedError) as caught:
        policy.call_with_retries(send, idempotent=True, classify_result=signal_of)
    assert (caught.value.retry_after, caught.value.http_status) == (
        min(float(header[:12]), MAX_RETRY_AFTER),
        503,
    )
    assert (calls(send), clock.sleeps) == (1, [])


# -- backoff ---------------------------------------------------------------------------------------


@given(st.integers(min_value=1, max_value=10**6), st.integers(min_value=0, max_value=2**32))
def test_backoff_never_overflows(attempt: int, seed: int) -> None:
    policy = RetryPolicy(rng=random.Random(seed), max_backoff=5.0)
    assert 0.0 <= policy.backoff(attempt) <= 5.0


def _schedule(policy: RetryPolicy) -> list[float]:
    return [policy.backoff(attempt) for attempt in range(1, 6)]


def test_schedules_differ_between_clients_and_repeat_for_a_seed() -> None:
    """Jitter keeps clients out of lockstep (bug B9); a seed makes a run reproducible."""
    assert _schedule(RetryPolicy(rng=random.Random(1))) != _schedule(
        RetryPolicy(rng=random.Random(2))
    )
    assert _schedule(RetryPolicy(rng=random.Random(3))) == _schedule(
        RetryPolicy(rng=random.Random(3))
    )
    unseeded = {tuple(_schedule(RetryPolicy())) for _ in range(100)}
    assert len(unseeded) >= 95


# -- call_with_retries -----------------------------------------------------------------------------


def test_connect_errors_are_retried_even_without_a_key(
    policy: RetryPolicy, clock: FakeClock
) -> None:
    events: list[RetryEvent] = []
    send = scripted(ConnectError("refused"), ConnectError("refused"), Response(201))
    result = policy.call_with_retries(
        send, idempotent=False, classify_result=signal_of, on_retry=events.append
    )
    assert (result.status, calls(send)) == (201, 3)
    assert [(e.attempt, e.reason, e.delay) for e in events] == [
        (1, "connect_error", clock.sleeps[0]),
        (2, "connect_error", clock.sleeps[1]),
    ]
    assert 0.0 <= clock.sleeps[0] <= 0.5
    assert 0.0 <= clock.sleeps[1] <= 1.0
    assert isinstance(events[0].exception, ConnectError)


def test_a_read_timeout_on_a_write_without_a_key_is_not_retried(
    policy: RetryPolicy, clock: FakeClock
) -> None:
    """Bugs B2-B4: the bank may have executed it; a retry could pay twice."""
    timeout = TransportTimeoutError("read timed out")
    send = scripted(timeout, Response(200))
    with pytest.raises(TransportTimeoutError) as caught:
        policy.call_with_retries(send, idempotent=False, classify_result=signal_of)
    assert (caught.value, calls(send), clock.sleeps) == (timeout, 1, [])


def test_exhausted_exceptions_reraise_the_last_one(policy: RetryPolicy, clock: FakeClock) -> None:
    errors = [TransportTimeoutError(f"timeout {n}") for n in range(4)]
    send = scripted(*errors)
    with pytest.raises(TransportTimeoutError) as caught:
        policy.call_with_retries(send, idempotent=True, classify_result=signal_of)
    assert (caught.value, calls(send), len(clock.sleeps)) == (errors[-1], 4, 3)


def test_exhausted_statuses_return_the_last_response(policy: RetryPolicy) -> None:
    last = Response(503)
    send = scripted(Response(500), Response(502), Response(504), last)
    assert policy.call_with_retries(send, idempotent=True, classify_result=signal_of) is last
    assert calls(send) == 4


@pytest.mark.parametrize(("status", "idempotent"), [(503, False), (400, True), (404, True)])
def test_final_answers_come_back_after_one_attempt(
    policy: RetryPolicy, clock: FakeClock, status: int, idempotent: bool
) -> None:
    send = scripted(Response(status))
    result = policy.call_with_retries(send, idempotent=idempotent, classify_result=signal_of)
    assert (result.status, calls(send), clock.sleeps) == (status, 1, [])


def test_other_exceptions_are_never_retried(policy: RetryPolicy) -> None:
    send = scripted(ValueError("a bug"), Response(200))
    with pytest.raises(ValueError, match="a bug"):
        policy.call_with_retries(send, idempotent=True)
    assert calls(send) == 1


def test_the_total_time_bound_stops_before_sleeping_past_it(clock: FakeClock) -> None:
    policy = RetryPolicy(
        max_attempts=100, max_elapsed=5.0, initial_backoff=1.0, max_backoff=1.0,
        sleep=clock.sleep, clock=clock, rng=random.Random(0),
    )  # fmt: skip
    start = clock.now

    def slow_failure() -> Response:
        clock.now += 1.5  # each attempt itself takes time
        return Response(503)

    result = policy.call_with_retries(slow_failure, idempotent=True, classify_result=signal_of)
    assert result.status == 503
    assert clock.now - start <= 5.0 + 1.5  # the bound applies to waits; one attempt may overrun
    assert len(clock.sleeps) <= 3


def test_max_attempts_one_means_no_retry(clock: FakeClock) -> None:
    policy = RetryPolicy(max_attempts=1, sleep=clock.sleep, clock=clock)
    send = scripted(ConnectError("refused"))
    with pytest.raises(ConnectError):
        policy.call_with_retries(send, idempotent=True)
    assert (calls(send), clock.sleeps) == (1, [])


def test_policy_is_immutable_and_validated() -> None:
    policy = RetryPolicy()
    assert policy.evolve(max_attempts=2).max_attempts == 2
    assert policy.max_attempts == 4
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="max_backoff"):
        RetryPolicy(max_backoff=-1.0)


# -- budget ---------------------------------------------------------------------------------------


def test_an_empty_budget_stops_retries(policy: RetryPolicy) -> None:
    budget = RetryBudget(capacity=10, retry_cost=5, success_refill=1)
    first = scripted(Response(503), Response(503), Response(503), Response(503))
    policy.call_with_retries(first, idempotent=True, classify_result=signal_of, budget=budget)
    assert (calls(first), budget.available) == (3, 0)  # two retries, then the budget is gone

    second = scripted(ConnectError("refused"), Response(200))
    with pytest.raises(ConnectError):
        policy.call_with_retries(second, idempotent=True, budget=budget)
    assert calls(second) == 1


def test_successes_refill_the_budget(policy: RetryPolicy) -> None:
    budget = RetryBudget(capacity=20, retry_cost=5, timeout_cost=10)
    send = scripted(TransportTimeoutError("slow"), Response(200))
    policy.call_with_retries(send, idempotent=True, classify_result=signal_of, budget=budget)
    assert budget.available == 20  # the retry cost 10 and its success gave it back
    budget.acquire()
    policy.call_with_retries(scripted(Response(200)), idempotent=True, budget=budget)
    assert budget.available == 16


def test_a_budget_can_refill_with_time(clock: FakeClock) -> None:
    budget = RetryBudget(capacity=10, retry_cost=10, refill_rate=2.0, clock=clock)
    assert budget.acquire() == 10
    assert budget.acquire() is None
    clock.now += 5.0
    assert budget.acquire() == 10


# -- circuit breaker ----------------------------------------------------------------------------


def test_the_breaker_opens_after_ten_failures_and_refuses_before_sending(
    policy: RetryPolicy, clock: FakeClock
) -> None:
    breaker = CircuitBreaker(clock=clock, bank_id="acme")
    no_retry = policy.evolve(max_attempts=1)
    for _ in range(10):
        no_retry.call_with_retries(
            scripted(Response(503)), idempotent=True, classify_result=signal_of, breaker=breaker
        )
    assert breaker.state == CircuitState.OPEN
    send = scripted(Response(200))
    with pytest.raises(CircuitOpenError) as caught:
        policy.call_with_retries(send, idempotent=True, breaker=breaker)
    assert (calls(send), caught.value.bank_id) == (0, "acme")


def test_failures_outside_the_window_do_not_open_it(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=3, window=10.0, clock=clock)
    for _ in range(5):
        breaker.record_failure()
        breaker.record_failure()
        clock.now += 11.0
    assert breaker.state == CircuitState.CLOSED
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == CircuitState.CLOSED


def _opened(clock: FakeClock) -> CircuitBreaker:
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=30.0, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 30.0
    assert breaker.state == CircuitState.HALF_OPEN
    return breaker


def test_half_open_lets_exactly_one_probe_through(clock: FakeClock) -> None:
    breaker = _opened(clock)
    breaker.before_call()
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    assert not breaker.would_allow()


def test_a_successful_probe_closes_the_breaker(clock: FakeClock) -> None:
    breaker = _opened(clock)
    breaker.before_call()
    breaker.record_success()
    assert breaker.state == CircuitState.CLOSED
    breaker.before_call()
    breaker.before_call()


def test_a_failed_probe_opens_it_again(clock: FakeClock) -> None:
    breaker = _opened(clock)
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == CircuitState.OPEN
    clock.now += 29.0
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    clock.now += 1.0
    breaker.before_call()


def test_a_probe_without_a_verdict_frees_the_slot(clock: FakeClock) -> None:
    breaker = _opened(clock)
    breaker.before_call()
    breaker.release()
    breaker.before_call()


def test_a_breaker_opening_mid_call_stops_the_retries(
    policy: RetryPolicy, clock: FakeClock
) -> None:
    breaker = CircuitBreaker(failure_threshold=2, clock=clock)
    send = scripted(Response(503), Response(503), Response(200))
    result = policy.call_with_retries(
        send, idempotent=True, classify_result=signal_of, breaker=breaker
    )
    assert (result.status, calls(send)) == (503, 2)


def test_the_probe_goes_through_call_with_retries(policy: RetryPolicy, clock: FakeClock) -> None:
    breaker = _opened(clock)
    send = scripted(Response(200))
    assert policy.call_with_retries(send, idempotent=True, breaker=breaker).status == 200
    assert breaker.state == CircuitState.CLOSED


# -- the async twin ---------------------------------------------------------------------------

OUTCOMES: list[list[Response | BaseException]] = [
    [Response(503), Response(503), Response(200)],
    [ConnectError("refused"), Response(429, "2"), Response(200)],
    [TransportTimeoutError("slow"), TransportTimeoutError("slow"), Response(200)],
    [Response(503), Response(503), Response(503), Response(503)],
    [ConnectError("a"), ConnectError("b"), ConnectError("c"), ConnectError("d")],
    [Response(400)],
]


def _run_async(
    policy: RetryPolicy, outcomes: list[Response | BaseException], budget: RetryBudget
) -> tuple[object, int]:
    send = scripted(*outcomes)

    async def asend() -> Response:
        return send()

    try:
        result: object = asyncio.run(
            policy.acall_with_retries(
                asend, idempotent=True, classify_result=signal_of, budget=budget
            )
        )
    except Exception as exc:
        result = type(exc)
    return result, calls(send)


@pytest.mark.parametrize("outcomes", OUTCOMES)
def test_async_retries_follow_the_same_schedule_and_accounting(
    outcomes: list[Response | BaseException],
) -> None:
    """acall_with_retries makes the same attempts, waits and budget charges as
    call_with_retries, waiting with async_sleep and never with sleep."""
    blocking_clock, async_clock = FakeClock(), FakeClock()
    blocking = RetryPolicy(sleep=blocking_clock.sleep, clock=blocking_clock, rng=random.Random(3))

    async def asleep(seconds: float) -> None:
        async_clock.sleep(seconds)

    def forbidden(seconds: float) -> None:
        raise AssertionError("the async path used the blocking sleep")

    asynchronous = RetryPolicy(
        sleep=forbidden, async_sleep=asleep, clock=async_clock, rng=random.Random(3)
    )
    send = scripted(*outcomes)
    blocking_budget, async_budget = (
        RetryBudget(clock=blocking_clock),
        RetryBudget(clock=async_clock),
    )
    try:
        expected: object = blocking.call_with_retries(
            send, idempotent=True, classify_result=signal_of, budget=blocking_budget
        )
    except Exception as exc:
        expected = type(exc)
    got, async_calls = _run_async(asynchronous, outcomes, async_budget)
    same_result = got is expected or (
        isinstance(got, Response)
        and isinstance(expected, Response)
        and got.status == expected.status
    )
    assert same_result
    assert (async_calls, async_clock.sleeps) == (calls(send), blocking_clock.sleeps)
    assert async_budget.available == blocking_budget.available
