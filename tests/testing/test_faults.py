from __future__ import annotations

from collections import Counter

import attrs
import pytest

from walletlink.testing import FaultKind, FaultPlan
from walletlink.testing.faults import FaultDecision, FaultInjector


def test_none_never_faults() -> None:
    injector = FaultInjector(FaultPlan.none())
    assert [FaultDecision()] * 100 == [injector.decide("POST") for _ in range(100)]


def test_same_seed_same_sequence() -> None:
    plan = FaultPlan(seed=7, reset_after_commit=0.2, unavailable=0.2, latency=(0.0, 2.0))
    a, b = FaultInjector(plan), FaultInjector(plan)
    assert [a.decide("POST") for _ in range(200)] == [b.decide("POST") for _ in range(200)]
    other = FaultInjector(attrs.evolve(plan, seed=8))
    again = FaultInjector(plan)
    assert [other.decide("POST") for _ in range(200)] != [again.decide("POST") for _ in range(200)]


def test_probabilities_are_roughly_honoured() -> None:
    plan = FaultPlan(seed=1, connect_refused=0.1, drop_response_after_commit=0.3)
    injector = FaultInjector(plan)
    kinds = Counter(injector.decide("POST").kind for _ in range(10_000))
    assert 850 < kinds[FaultKind.CONNECT_REFUSED] < 1150
    assert 2700 < kinds[FaultKind.DROP_RESPONSE_AFTER_COMMIT] < 3300
    assert {None, FaultKind.CONNECT_REFUSED, FaultKind.DROP_RESPONSE_AFTER_COMMIT} == set(kinds)


def test_only_methods_spares_other_methods_without_shifting_the_sequence() -> None:
    plan = FaultPlan(seed=3, server_error=1.0, only_methods={"post"})
    injector = FaultInjector(plan)
    assert FaultDecision() == injector.decide("GET")
    assert injector.decide("POST").kind == FaultKind.SERVER_ERROR
    assert frozenset({"POST"}) == plan.only_methods


def test_latency_is_drawn_within_range() -> None:
    injector = FaultInjector(FaultPlan(latency=(0.5, 1.5)))
    latencies = [injector.decide("GET").latency for _ in range(500)]
    assert all(0.5 <= value <= 1.5 for value in latencies)


def test_of_builds_a_single_fault_plan() -> None:
    plan = FaultPlan.of(FaultKind.UNAVAILABLE, 0.25, seed=3)
    assert (plan.unavailable, plan.seed, plan.server_error) == (0.25, 3, 0.0)


def test_commits_says_which_faults_execute_first() -> None:
    committing = {kind for kind in FaultKind if kind.commits}
    assert {
        FaultKind.RESET_AFTER_COMMIT,
        FaultKind.DROP_RESPONSE_AFTER_COMMIT,
        FaultKind.MALFORMED_BODY,
    } == committing


@pytest.mark.parametrize(
    "kwargs",
    [
        {"server_error": 1.5},
        {"server_error": -0.1},
        {"server_error": 0.6, "unavailable": 0.6},
        {"latency": (2.0, 1.0)},
        {"retry_after": -1},
    ],
)
def test_plan_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - attrs and our validators both raise it
        FaultPlan(**kwargs)  # type: ignore[arg-type]


def test_webhook_faults_do_not_shift_request_faults() -> None:
    plan = FaultPlan(seed=5, unavailable=0.5, duplicate_webhooks=0.5, out_of_order_webhooks=1)
    quiet, busy = FaultInjector(plan), FaultInjector(plan)
    for _ in range(10):
        busy.duplicate_webhook()
        busy.reorder([1, 2, 3])
    assert [quiet.decide("POST") for _ in range(50)] == [busy.decide("POST") for _ in range(50)]


def test_reorder_shuffles_deterministically() -> None:
    plan = FaultPlan(seed=2, out_of_order_webhooks=1.0)
    batch = list(range(10))
    shuffled = FaultInjector(plan).reorder(batch)
    assert sorted(shuffled) == batch
    assert shuffled != batch
    assert shuffled == FaultInjector(plan).reorder(batch)
    assert batch == FaultInjector(FaultPlan()).reorder(batch)
