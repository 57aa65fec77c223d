from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from walletlink.testing import FakeClock
from walletlink.testing.clock import DEFAULT_START


def test_default_start_is_aware_utc() -> None:
    clock = FakeClock()
    assert datetime(2026, 1, 5, 9, 0, tzinfo=UTC) == clock.now()
    assert clock.now() == clock()
    assert clock.monotonic() == 0.0


def test_advance_moves_wall_and_monotonic_together() -> None:
    clock = FakeClock()
    clock.advance(90.5)
    assert DEFAULT_START + timedelta(seconds=90.5) == clock.now()
    assert clock.monotonic() == 90.5
    assert int(DEFAULT_START.timestamp()) + 90 == clock.timestamp()


def test_sleep_advances_instead_of_blocking() -> None:
    clock = FakeClock()
    clock.sleep(3600)
    clock.sleep(-1)  # time.sleep(-1) raises; a backoff that computes <0 should not
    assert clock.monotonic() == 3600.0


def test_start_is_converted_to_utc() -> None:
    start = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert datetime(2026, 3, 1, 10, 0, tzinfo=UTC) == FakeClock(start).now()
    assert FakeClock(start).now().tzinfo is UTC


def test_refuses_naive_start_and_going_backwards() -> None:
    with pytest.raises(ValueError, match="aware"):
        FakeClock(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="forward"):
        FakeClock().advance(-1)


def test_concurrent_advances_all_count() -> None:
    clock = FakeClock()

    def tick() -> None:
        for _ in range(1000):
            clock.advance(1)

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.monotonic() == 4000.0


def test_asleep_advances_for_asyncio_code() -> None:
    import asyncio

    clock = FakeClock()
    asyncio.run(clock.asleep(2.5))
    assert clock.monotonic() == 2.5
