"""A clock that only moves when a test says so.

Everything time-dependent in the mock banks (settlement, idempotency-key expiry, webhook
timestamps) reads one :class:`FakeClock`. Hand the same clock to the client's retry policy
(``RetryPolicy(sleep=clock.sleep, clock=clock.monotonic)``) and a test that "waits" a minute
for a retry or a settlement runs in microseconds.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = ["DEFAULT_START", "FakeClock"]

#: A Monday morning, so that date-based tests read naturally.
DEFAULT_START: Final = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


class FakeClock:
    """A thread-safe clock: wall time (aware UTC) and a monotonic reading that move together.

    ``sleep`` advances instead of sleeping, so code that backs off on this clock never blocks.
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = DEFAULT_START if start is None else start
        if start.tzinfo is None:
            # A naive datetime is ambiguous; the banks speak UTC only.
            raise ValueError("FakeClock needs an aware datetime (use tzinfo=UTC)")
        self._start = start.astimezone(UTC)
        self._elapsed = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The current wall time, aware, in UTC."""
        with self._lock:
            return self._start + timedelta(seconds=self._elapsed)

    __call__ = now

    def monotonic(self) -> float:
        """Seconds since the clock was created; never goes backwards."""
        with self._lock:
            return self._elapsed

    def timestamp(self) -> int:
        """Unix seconds of :meth:`now`, as webhook timestamps carry them."""
        return int(self.now().timestamp())

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (zero is allowed, negative is not)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._elapsed += seconds

    def sleep(self, seconds: float) -> None:
        """Advance instead of sleeping: a drop-in for ``time.sleep`` in code under test."""
        self.advance(max(seconds, 0.0))

    async def asleep(self, seconds: float) -> None:
        """:meth:`sleep` for asyncio code (``RetryPolicy(async_sleep=clock.asleep)``)."""
        self.sleep(seconds)

    def __repr__(self) -> str:
        return f"FakeClock({self.now().isoformat()})"
