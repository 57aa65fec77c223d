"""The retry policy: what is retried, how long to wait, when to stop. Built on tenacity.

The rules (``docs/retries.md`` explains why):

* a connect error is always retried: the request never left;
* a read timeout or a dropped connection, and the statuses 409, 429, 500, 502, 503, 504,
  are retried only for an *idempotent* request (a read, or a write carrying an idempotency
  key the bank honours), because the bank may already have acted on it;
* no other 4xx is retried;
* ``Retry-After`` is honoured up to ``retry_after_cap``; past it :class:`RateLimitedError` is
  raised at once, without sleeping;
* waits are exponential with full jitter, and retries stop at ``max_attempts``, at
  ``max_elapsed`` seconds, when the per-bank :class:`RetryBudget` is empty, or when the
  bank's :class:`CircuitBreaker` opens.

Time comes from the policy's ``clock`` and ``sleep``, so tests replace both and never sleep.
"""

from __future__ import annotations

import asyncio
import collections
import email.utils
import enum
import random
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Generic, TypeVar

import attrs
import tenacity

from walletlink.errors import (
    CircuitOpenError,
    ConnectError,
    ConnectionLostError,
    RateLimitedError,
    TransportTimeoutError,
)

__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "MAX_RETRY_AFTER",
    "CircuitBreaker",
    "CircuitState",
    "Decision",
    "RetryBudget",
    "RetryEvent",
    "RetryPolicy",
    "RetrySignal",
    "classify",
    "parse_retry_after",
]

T = TypeVar("T")

DEFAULT_RETRY_STATUSES: Final = frozenset({409, 429, 500, 502, 503, 504})
#: Larger ``Retry-After`` values are clamped to this (about 317 years), never overflowed.
MAX_RETRY_AFTER: Final = 1e10
_TIMEOUT_REASONS: Final = frozenset({"read_timeout", "connection_lost"})
# Unseeded policies share one generator, so two clients never retry in lockstep (bug B9).
_SHARED_RNG: Final = random.Random()


# -- Retry-After ------------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or an HTTP-date).

    Returns ``None`` for a missing or unreadable value. Dates in the past give ``0.0``.
    Huge values are clamped to :data:`MAX_RETRY_AFTER` so no caller meets an
    ``OverflowError`` (urllib3 #1338).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        # Too many digits cannot be below the clamp; int() of a huge string is slow and
        # capped by sys.set_int_max_str_digits, so do not even try.
        return MAX_RETRY_AFTER if len(text) > 11 else min(float(int(text)), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with no claim about the local zone
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


# -- classification ---------------------------------------------------------------------------


def _seconds(value: float | str | None) -> float | None:
    # Callers may pass the raw header: parse it here so nobody hand-rolls float(header).
    if isinstance(value, str):
        return parse_retry_after(value)
    if value is None:
        return None
    return min(max(float(value), 0.0), MAX_RETRY_AFTER)


@attrs.frozen
class RetrySignal:
    """A response that may deserve a retry: its status and the server's hints.

    ``retry_after`` takes seconds or the raw ``Retry-After`` header value (parsed with
    :func:`parse_retry_after`). ``should_retry`` carries an explicit server hint
    (``Stripe-Should-Retry`` and kin): when set it overrides the status rule, but never
    makes a non-idempotent request retryable.
    """

    status: int
    retry_after: float | None = attrs.field(default=None, converter=_seconds)
    should_retry: bool | None = None

    @classmethod
    def from_response(
        cls, status: int, headers: Mapping[str, str], *, now: datetime | None = None
    ) -> RetrySignal:
        """Read ``Retry-After`` from any mapping of headers (case-insensitive)."""
        return cls(status, parse_retry_after(_header(headers, "Retry-After"), now=now))


@attrs.frozen
class Decision:
    """Whether to try again, and why (``reason`` names the outcome for logs and metrics)."""

    retry: bool
    reason: str
    retry_after: float | None = None


def classify(
    outcome: BaseException | RetrySignal | None,
    *,
    idempotent: bool,
    retry_statuses: frozenset[int] = DEFAULT_RETRY_STATUSES,
) -> Decision:
    """Decide about one attempt's outcome: an exception, a retryable-looking status, or
    ``None`` for a final answer."""
    if outcome is None:
        return Decision(False, "success")
    if isinstance(outcome, ConnectError):
        return Decision(True, "connect_error")
    if isinstance(outcome, ConnectionLostError):
        return Decision(idempotent, "connection_lost")
    if isinstance(outcome, TransportTimeoutError):
        return Decision(idempotent, "read_timeout")
    if isinstance(outcome, BaseException):
        return Decision(False, type(outcome).__name__)
    reason = f"status_{outcome.status}"
    wanted = outcome.status in retry_statuses
    if outcome.should_retry is not None:
        wanted = outcome.should_retry
    return Decision(wanted and idempotent, reason, outcome.retry_after)


@attrs.frozen
class RetryEvent:
    """Passed to ``on_retry`` just before sleeping between two attempts."""

    attempt: int  # the attempt that just failed, from 1
    delay: float  # seconds until the next attempt
    reason: str  # "connect_error", "read_timeout", "status_503", ...
    status: int | None = None
    exception: BaseException | None = attrs.field(default=None, eq=False)


# -- budget and breaker -------------------------------------------------------------------------


class RetryBudget:
    """A token bucket per bank that bounds retries when a bank is struggling (botocore's
    standard-mode quota).

    First attempts are free. A retry costs ``retry_cost`` tokens (``timeout_cost`` after a
    timeout, which hints at an overloaded bank); a call that succeeds without retrying
    returns ``success_refill`` token, and one that succeeds after retrying returns what its
    last retry cost. With the bucket empty, failures surface at once instead of multiplying
    the load. ``refill_rate`` (tokens per second of ``clock``, 0 by default as in botocore)
    lets a budget recover with time alone, for banks that are called rarely.
    """

    def __init__(
        self,
        capacity: float = 500,
        *,
        retry_cost: float = 5,
        timeout_cost: float = 10,
        success_refill: float = 1,
        refill_rate: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min(capacity, retry_cost, timeout_cost, success_refill, refill_rate) < 0:
            raise ValueError("budget sizes and rates must not be negative")
        self.capacity = capacity
        self.retry_cost = retry_cost
        self.timeout_cost = timeout_cost
        self.success_refill = success_refill
        self.refill_rate = refill_rate
        self._clock = clock
        self._tokens = capacity
        self._refilled_at = clock()
        self._lock = threading.Lock()

    @property
    def available(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens

    def _refill(self) -> None:
        now = self._clock()
        if self.refill_rate:
            gained = (now - self._refilled_at) * self.refill_rate
            self._tokens = min(self.capacity, self._tokens + gained)
        self._refilled_at = now

    def acquire(self, *, timeout: bool = False) -> float | None:
        """Take the cost of one retry; return it, or ``None`` when the budget is spent."""
        cost = self.timeout_cost if timeout else self.retry_cost
        with self._lock:
            self._refill()
            if cost > self._tokens:
                return None
            self._tokens -= cost
            return cost

    def release(self, amount: float) -> None:
        with self._lock:
            self._refill()
            self._tokens = min(self.capacity, self._tokens + amount)


class CircuitState(enum.StrEnum):
    CLOSED = "closed"  # calls flow
    OPEN = "open"  # calls are refused before sending
    HALF_OPEN = "half_open"  # exactly one probe may go through


class CircuitBreaker:
    """Closed → open after ``failure_threshold`` consecutive failures within ``window``
    seconds; open refuses calls with :class:`CircuitOpenError` for ``reset_timeout``
    seconds; then half-open lets one probe through: its success closes the circuit, its
    failure opens it again.

    A failure is a transport error or a 5xx; any other answer shows the bank is up.
    Outcomes reported while the circuit is open come from calls started before it opened
    and are ignored.
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 10,
        window: float = 60.0,
        reset_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        bank_id: str | None = None,
    ) -> None:
        if failure_threshold < 1 or window <= 0 or reset_timeout < 0:
            raise ValueError("failure_threshold >= 1, window > 0 and reset_timeout >= 0")
        self.failure_threshold = failure_threshold
        self.window = window
        self.reset_timeout = reset_timeout
        self.bank_id = bank_id
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._failures: collections.deque[float] = collections.deque()
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> CircuitState:
        """The state as of now (an open circuit past its timeout reads as half-open)."""
        with self._lock:
            if self._state is CircuitState.OPEN and self._cooled_down():
                return CircuitState.HALF_OPEN
            return self._state

    def _cooled_down(self) -> bool:
        return self._clock() - self._opened_at >= self.reset_timeout

    def would_allow(self) -> bool:
        """Whether :meth:`before_call` would let a call through now (takes nothing)."""
        with self._lock:
            if self._state is CircuitState.OPEN:
                return self._cooled_down()
            return not (self._state is CircuitState.HALF_OPEN and self._probing)

    def before_call(self) -> None:
        """Let a call through or raise :class:`CircuitOpenError`; in half-open, the one
        call let through is the probe and must report back (success, failure or release)."""
        with self._lock:
            if self._state is CircuitState.CLOSED:
                return
            if self._state is CircuitState.OPEN and self._cooled_down():
                self._state = CircuitState.HALF_OPEN
            if self._state is CircuitState.HALF_OPEN and not self._probing:
                self._probing = True
                return
            wait = max(0.0, self.reset_timeout - (self._clock() - self._opened_at))
        raise CircuitOpenError(
            f"circuit open after repeated failures; next probe in {wait:.1f}s",
            bank_id=self.bank_id,
        )

    def record_success(self) -> None:
        with self._lock:
            if self._state is not CircuitState.OPEN:
                self._state = CircuitState.CLOSED
                self._failures.clear()
                self._probing = False

    def record_failure(self) -> None:
        with self._lock:
            now = self._clock()
            if self._state is CircuitState.HALF_OPEN:
                self._open(now)
            elif self._state is CircuitState.CLOSED:
                self._failures.append(now)
                while self._failures and self._failures[0] <= now - self.window:
                    self._failures.popleft()
                if len(self._failures) >= self.failure_threshold:
                    self._open(now)

    def release(self) -> None:
        """A call ended with an outcome that says nothing about the bank's health."""
        with self._lock:
            self._probing = False

    def _open(self, now: float) -> None:
        self._state = CircuitState.OPEN
        self._opened_at = now
        self._failures.clear()
        self._probing = False


# -- the policy ---------------------------------------------------------------------------------


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not value >= 0:
        raise ValueError(f"{attribute.name} must be a non-negative number")


def _at_least_one(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or value < 1:
        raise ValueError(f"{attribute.name} must be at least 1")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How a client retries one bank call. Immutable: ``attrs.evolve`` (or :meth:`evolve`)
    makes a changed copy, e.g. for a per-call override."""

    max_attempts: int = attrs.field(default=4, validator=_at_least_one)  # including the first
    max_elapsed: float = attrs.field(default=30.0, validator=_positive)  # seconds, all attempts
    initial_backoff: float = attrs.field(default=0.5, validator=_positive)
    max_backoff: float = attrs.field(default=8.0, validator=_positive)  # cap of each delay
    retry_after_cap: float = attrs.field(default=60.0, validator=_positive)
    retry_statuses: frozenset[int] = attrs.field(
        default=DEFAULT_RETRY_STATUSES, converter=frozenset
    )
    sleep: Callable[[float], None] = attrs.field(default=time.sleep, eq=False)
    #: The wait of :class:`~walletlink.AsyncClient` (``FakeClock.asleep`` in tests).
    async_sleep: Callable[[float], Awaitable[None]] = attrs.field(default=asyncio.sleep, eq=False)
    clock: Callable[[], float] = attrs.field(default=time.monotonic, eq=False)
    rng: random.Random | None = attrs.field(default=None, eq=False)  # seed it in tests

    def evolve(self, **changes: Any) -> RetryPolicy:
        return attrs.evolve(self, **changes)

    def classify(
        self, outcome: BaseException | RetrySignal | None, *, idempotent: bool
    ) -> Decision:
        return classify(outcome, idempotent=idempotent, retry_statuses=self.retry_statuses)

    def backoff(self, attempt: int) -> float:
        """The full-jitter delay after failed attempt ``attempt`` (from 1):
        ``uniform(0, min(max_backoff, initial_backoff * 2 ** (attempt - 1)))``."""
        # 2**62 already dwarfs any cap; a bounded exponent keeps the float finite.
        ceiling = min(self.max_backoff, self.initial_backoff * 2.0 ** min(attempt - 1, 62))
        return (self.rng or _SHARED_RNG).uniform(0.0, ceiling)

    def call_with_retries(
        self,
        send: Callable[[], T],
        *,
        idempotent: bool,
        classify_result: Callable[[T], RetrySignal | None] | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
        budget: RetryBudget | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> T:
        """Run ``send`` until it gives a final outcome or the policy says stop.

        ``send()`` makes one attempt: it returns a result (a response) or raises
        ``ConnectError``/``TransportTimeoutError`` (or anything else, which is never
        retried). ``classify_result(result)`` returns ``None`` for a final result, or a
        :class:`RetrySignal` for a status that may deserve a retry; whether it gets one is
        the policy's call (status, idempotency, hints).

        When retries run out on a result, the last result is *returned* (the caller maps it
        to an error); on an exception, the last exception is re-raised. A ``Retry-After``
        above ``retry_after_cap`` raises :class:`RateLimitedError` without sleeping. An
        open ``breaker`` raises :class:`CircuitOpenError` before the first send; once
        sending has begun, an open breaker or an empty ``budget`` just stops retrying.
        ``on_retry`` is called before each sleep.
        """
        call = _Call(self, idempotent, classify_result, on_retry, budget, breaker)
        # Nearly every call succeeds at once: make the first attempt directly and build the
        # tenacity machinery only when the policy wants a retry. The first outcome is then
        # replayed to tenacity as its attempt 1, so the schedule and accounting are the same.
        try:
            first = _First(result=call.attempt(send))
        except BaseException as exc:
            first = _First(failure=exc)
        if not call.last.retry:
            return call.finish(first.replay())

        def attempt(send: Callable[[], T]) -> T:
            return first.take() if first.pending else call.attempt(send)

        retrying = tenacity.Retrying(sleep=self.sleep, **call.tenacity_kwargs())
        return call.finish(retrying(attempt, send))

    async def acall_with_retries(
        self,
        send: Callable[[], Awaitable[T]],
        *,
        idempotent: bool,
        classify_result: Callable[[T], RetrySignal | None] | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
        budget: RetryBudget | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> T:
        """:meth:`call_with_retries` for a coroutine ``send``: the same rules, schedule and
        accounting, waiting with ``async_sleep`` (``asyncio.sleep`` unless injected)."""
        call = _Call(self, idempotent, classify_result, on_retry, budget, breaker)
        try:
            first = _First(result=await call.attempt_async(send))
        except BaseException as exc:
            first = _First(failure=exc)
        if not call.last.retry:
            return call.finish(first.replay())

        async def attempt(send: Callable[[], Awaitable[T]]) -> T:
            return first.take() if first.pending else await call.attempt_async(send)

        retrying = tenacity.AsyncRetrying(sleep=self.async_sleep, **call.tenacity_kwargs())
        return call.finish(await retrying(attempt, send))


class _First(Generic[T]):
    """The first attempt's outcome, to return or raise as it was, or to replay once to
    tenacity as its attempt 1."""

    def __init__(self, *, result: T | None = None, failure: BaseException | None = None) -> None:
        self.result = result
        self.failure = failure
        self.pending = True

    def replay(self) -> T:
        if self.failure is not None:
            raise self.failure
        return self.result  # type: ignore[return-value]  # set whenever failure is not

    def take(self) -> T:
        self.pending = False
        return self.replay()


def _last_outcome(state: tenacity.RetryCallState) -> Any:
    # Retries are over: hand back the last result, or raise the last exception as it was.
    assert state.outcome is not None
    return state.outcome.result()


class _Call(Generic[T]):
    """The state of one ``call_with_retries``: what the last attempt decided, time and cost."""

    def __init__(
        self,
        policy: RetryPolicy,
        idempotent: bool,
        classify_result: Callable[[T], RetrySignal | None] | None,
        on_retry: Callable[[RetryEvent], None] | None,
        budget: RetryBudget | None,
        breaker: CircuitBreaker | None,
    ) -> None:
        self.policy = policy
        self.idempotent = idempotent
        self.classify_result = classify_result
        self.on_retry = on_retry
        self.budget = budget
        self.breaker = breaker
        self.start = policy.clock()
        self.last = Decision(False, "not_started")
        self.status: int | None = None
        self.last_cost: float | None = None

    def attempt(self, send: Callable[[], T]) -> T:
        self.before_attempt()
        try:
            result = send()
        except BaseException as exc:
            self.failed(exc)
            raise
        return self.answered(result)

    async def attempt_async(self, send: Callable[[], Awaitable[T]]) -> T:
        self.before_attempt()
        try:
            result = await send()
        except BaseException as exc:
            self.failed(exc)
            raise
        return self.answered(result)

    def before_attempt(self) -> None:
        if self.breaker is not None:
            self.last = Decision(False, "circuit_open")
            self.breaker.before_call()

    def failed(self, exc: BaseException) -> None:
        self.last, self.status = self.policy.classify(exc, idempotent=self.idempotent), None
        if self.breaker is not None:
            is_fault = isinstance(exc, ConnectError | TransportTimeoutError)
            (self.breaker.record_failure if is_fault else self.breaker.release)()

    def answered(self, result: T) -> T:
        signal = self.classify_result(result) if self.classify_result is not None else None
        self.last = self.policy.classify(signal, idempotent=self.idempotent)
        self.status = None if signal is None else signal.status
        if self.breaker is not None:
            if signal is not None and signal.status >= 500:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()
        if self.last.retry and signal is not None:
            self._refuse_long_waits(signal)
        return result

    def _refuse_long_waits(self, signal: RetrySignal) -> None:
        # Sleeping for whatever the server asks hangs the caller (urllib3 #1338): past the cap
        # the caller gets a typed error carrying the wait, and decides for itself.
        cap = self.policy.retry_after_cap
        if signal.retry_after is None or signal.retry_after <= cap:
            return
        self.last = Decision(False, "retry_after_too_long", signal.retry_after)
        raise RateLimitedError(
            f"the bank asked to wait {signal.retry_after:.0f}s, more than the retry policy "
            f"allows ({cap:.0f}s)",
            retry_after=signal.retry_after,
            http_status=signal.status,
            bank_id=None if self.breaker is None else self.breaker.bank_id,
        )

    def should_retry(self, state: tenacity.RetryCallState) -> bool:
        return self.last.retry

    def wait(self, state: tenacity.RetryCallState) -> float:
        if self.last.retry_after is not None:
            return self.last.retry_after  # already known to be within retry_after_cap
        return self.policy.backoff(state.attempt_number)

    def stop(self, state: tenacity.RetryCallState) -> bool:
        # tenacity asks after computing the wait, so a sleep that would overrun the time
        # bound stops now instead of sleeping first. The budget is charged last, only for a
        # retry that will really happen.
        policy = self.policy
        if state.attempt_number >= policy.max_attempts:
            return True
        if policy.clock() - self.start + state.upcoming_sleep > policy.max_elapsed:
            return True
        if self.breaker is not None and not self.breaker.would_allow():
            return True
        if self.budget is not None:
            cost = self.budget.acquire(timeout=self.last.reason in _TIMEOUT_REASONS)
            if cost is None:
                return True
            self.last_cost = cost
        return False

    def before_sleep(self, state: tenacity.RetryCallState) -> None:
        if self.on_retry is None:
            return
        outcome = state.outcome
        exception = outcome.exception() if outcome is not None and outcome.failed else None
        self.on_retry(
            RetryEvent(
                attempt=state.attempt_number,
                delay=state.upcoming_sleep,
                reason=self.last.reason,
                status=self.status,
                exception=exception,
            )
        )

    def tenacity_kwargs(self) -> dict[str, Any]:
        return {
            "stop": self.stop,
            "wait": self.wait,
            "retry": self.should_retry,
            "before_sleep": self.before_sleep,
            "retry_error_callback": _last_outcome,
            "reraise": True,
        }

    def finish(self, result: T) -> T:
        """The call ended with ``result``: refund the budget when it succeeded."""
        if self.last.reason == "success":
            self.refund()
        return result

    def refund(self) -> None:
        if self.budget is not None:
            refill = self.budget.success_refill if self.last_cost is None else self.last_cost
            self.budget.release(refill)
