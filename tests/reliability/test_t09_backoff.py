"""T9: backoff delays stay within their bounds, and clients do not retry in lockstep.

Moved here from tests/test_retry.py (the policy's 10,000 sampled delays), and extended to
the delays the client really sleeps: each of many clients, unseeded as in production,
retries writes against a bank answering 503, and every sleep it asks for is recorded.
Without jitter they would retry in lockstep (bug B9).
"""

from __future__ import annotations

import contextlib
import random

from tests.reliability._world import CREDITORS, DEBTOR
from tests.reliability.conftest import Report, Scale
from walletlink import Client, RetryPolicy
from walletlink.errors import WalletLinkError
from walletlink.models import Party, TransferRequest
from walletlink.money import Money
from walletlink.testing import FakeClock, FaultKind, FaultPlan, MockBank


def test_t9_sampled_delays_stay_within_bounds(scale: Scale, report: Report) -> None:
    """Every full-jitter delay is in [0, min(cap, initial * 2**n)]."""
    count = scale.pick(10_000, 1_000_000)
    policy = RetryPolicy(rng=random.Random(1))
    outside = 0
    for n in range(count):
        attempt = 1 + n % 12
        ceiling = min(policy.max_backoff, policy.initial_backoff * 2 ** (attempt - 1))
        outside += not 0.0 <= policy.backoff(attempt) <= ceiling
    report("T9", f"{count} sampled delays: {outside} outside [0, {policy.max_backoff:g}s]")
    assert outside == 0


def test_t9_client_schedules_are_distinct(scale: Scale, report: Report) -> None:
    clients = scale.pick(100, 1_000)
    clock = FakeClock()
    bank = MockBank("generic_rest", bank_id="acme", clock=clock)
    bank.open_account(DEBTOR, Money("1000.00", "EUR"))
    bank.set_faults(FaultPlan.of(FaultKind.UNAVAILABLE, seed=9))
    schedules = []
    for n in range(clients):
        slept: list[float] = []
        client = Client([bank.config()], retry=RetryPolicy(sleep=slept.append), clock=clock.now)
        bank.mount(client.session)
        request = TransferRequest(
            amount=Money("1.00", "EUR"),
            debtor_account=DEBTOR,
            creditor=Party(name="Ada Lovelace", account=CREDITORS[0]),
            payout_id=f"lockstep-{n}",
        )
        # Still 503 after every attempt: the outcome is unknown, as it should be.
        with contextlib.suppress(WalletLinkError):
            client.transfer("acme", request)
        client.close()
        schedules.append(tuple(slept))
    cap = RetryPolicy().max_backoff
    outside = sum(not 0 <= delay <= cap for schedule in schedules for delay in schedule)
    distinct = len(set(schedules))
    report(
        "T9",
        f"{clients} clients retrying a 503: {distinct} distinct schedules, {outside} delays "
        f"outside [0, {cap:g}s]",
    )
    assert outside == 0
    assert all(len(schedule) == RetryPolicy().max_attempts - 1 for schedule in schedules)
    assert distinct >= clients * 95 // 100
