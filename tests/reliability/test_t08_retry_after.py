"""T8: a bank asking to wait an hour, or forever, gets a typed error, not a hung client.

urllib3 slept for a ``Retry-After: 3600`` and overflowed on a huge one (bug B8). The client
honours ``Retry-After`` up to ``retry_after_cap`` (60 s) and raises
:class:`RateLimitedError` past it without sleeping; the transfer was never executed (429
is decided before the bank's idempotency layer), so it completes later under its key.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability._world import wallet
from tests.reliability.conftest import Report, Scale
from walletlink._retry import parse_retry_after
from walletlink.errors import RateLimitedError
from walletlink.testing import FaultKind, FaultPlan

HEADERS = [
    "3600",
    "9999999999",
    "1" + "0" * 400,
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "-5",
    "1e999",
    "nan",
    "inf",
    "Mon, 32 Foo 2026 99:99:99 GMT",
]


@pytest.mark.parametrize("wait", [3600, 9_999_999_999])
def test_t8_long_retry_after_raises_without_sleeping(
    tmp_path: Path, wait: int, scale: Scale, report: Report
) -> None:
    count = scale.pick(50, 1_000)
    plan = FaultPlan.of(FaultKind.RATE_LIMIT, retry_after=wait, seed=8)
    slept: list[float] = []
    overflow = 0
    with wallet(tmp_path, plan) as world:
        world.client.retry = world.client.retry.evolve(sleep=slept.append)
        limited = 0
        for request in world.requests(count, seed=8):
            try:
                world.client.transfer("acme", request)
            except RateLimitedError as exc:
                limited += exc.retry_after == wait
            except OverflowError:
                overflow += 1
        sent = world.sent["POST"]
        world.bank.set_faults(FaultPlan.none())
        world.reconcile()
        executed = len(world.bank.transfers())
    report(
        "T8",
        f"Retry-After {wait}: {count} transfers, {limited} RateLimitedError, "
        f"{sum(slept):.0f}s slept, {overflow} OverflowError, {sent} requests; later "
        f"{executed} completed once",
    )
    assert (count, [], 0, count, count) == (limited, slept, overflow, sent, executed)


def test_t8_hostile_retry_after_headers_never_raise() -> None:
    """Any header value parses to a finite wait or ``None``, never an exception."""
    parsed = {header: parse_retry_after(header) for header in HEADERS}
    for header, seconds in parsed.items():
        assert seconds is None or 0 <= seconds < float("inf"), header
