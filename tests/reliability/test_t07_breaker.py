"""T7: many clients against a bank answering 503 for a minute, then recovering.

Each client has its own retry budget and circuit breaker for the bank. While the bank is
down a client sends the attempts that open its breaker (10 failures), then only the one
half-open probe per cool-down; every other call is refused before sending. Its retries stay
within the budget. When the bank is back, the next probe closes the breaker.
"""

from __future__ import annotations

import random
from collections import Counter

import requests

from tests.reliability.conftest import Report, Scale
from walletlink import Client, RetryPolicy
from walletlink._retry import CircuitState, RetryBudget
from walletlink.accounts import Iban
from walletlink.client import Hooks
from walletlink.errors import CircuitOpenError, WalletLinkError
from walletlink.money import Money
from walletlink.testing import FakeClock, FaultKind, FaultPlan, MockBank

ACCOUNT = Iban("DE89370400440532013000")
OUTAGE = 60  # seconds of 503s
CALLS_PER_SECOND = 3  # per client: the first may be a half-open probe, the rest must wait


def counted(client: Client, sent: Counter[int], n: int) -> None:
    def hook(response: requests.Response, *args: object, **kwargs: object) -> None:
        sent[n] += 1

    client.session.hooks["response"].append(hook)


def test_t7_outage_opens_each_breaker_and_probes_once(scale: Scale, report: Report) -> None:
    count = scale.pick(10, 100)
    clock = FakeClock()
    bank = MockBank("generic_rest", bank_id="acme", clock=clock)
    bank.open_account(ACCOUNT, Money("10.00", "EUR"))
    bank.set_faults(FaultPlan.of(FaultKind.UNAVAILABLE, seed=7))
    sent: Counter[int] = Counter()
    refused: Counter[int] = Counter()
    retries: Counter[int] = Counter()
    clients = []
    for n in range(count):
        # Backoff sleeps are recorded, not slept: the outage runs on the shared clock only.
        policy = RetryPolicy(sleep=lambda _: None, clock=clock.monotonic, rng=random.Random(n))
        hooks = Hooks(on_retry=lambda bank_id, event, n=n: retries.update([n]))
        client = Client([bank.config()], retry=policy, hooks=hooks, clock=clock.now)
        bank.mount(client.session)
        counted(client, sent, n)
        clients.append(client)
    opened_after: dict[int, int] = {}
    for _ in range(OUTAGE):
        for n, client in enumerate(clients):
            for _ in range(CALLS_PER_SECOND):
                try:
                    client.balances("acme", ACCOUNT)
                except CircuitOpenError:
                    refused[n] += 1
                    opened_after.setdefault(n, sent[n])
                except WalletLinkError:
                    pass
        clock.advance(1)
    during = dict(sent)
    bank.set_faults(FaultPlan.none())
    clock.advance(30)  # one cool-down: the next call is the probe, and it succeeds
    recovered = 0
    for client in clients:
        client.balances("acme", ACCOUNT)
        recovered += client._bank("acme").breaker.state is CircuitState.CLOSED
        client.close()
    # The breakers open in the first second; each 30 s cool-down that ends inside the
    # outage lets exactly one probe through, however many calls arrive then.
    cooldowns = len(range(30, OUTAGE, 30))
    probes = max(during[n] - opened_after[n] for n in range(count)) // max(cooldowns, 1)
    quota = RetryBudget().capacity / RetryBudget().retry_cost
    report(
        "T7",
        f"{count} clients, 503 for {OUTAGE}s: breaker opened after "
        f"{max(opened_after.values())} failures (most), {probes} half-open probe per client "
        f"per cool-down ({cooldowns} cool-down), {sum(refused.values())} calls refused "
        f"before sending, most retries {max(retries.values())} (quota {quota:.0f}), "
        f"{recovered}/{count} closed after recovery",
    )
    assert set(opened_after) == set(range(count))
    assert max(opened_after.values()) <= 10
    assert all(during[n] - opened_after[n] == cooldowns for n in range(count))
    assert max(retries.values()) <= quota
    assert count == recovered
