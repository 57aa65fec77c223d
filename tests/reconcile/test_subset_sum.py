from __future__ import annotations

from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from walletlink.reconcile.subset_sum import maximal_windows, meet_in_the_middle


def _brute_force(amounts: list[int], low: int, high: int) -> set[tuple[int, ...]]:
    return {
        combo
        for size in range(2, len(amounts) + 1)
        for combo in combinations(range(len(amounts)), size)
        if low <= sum(amounts[i] for i in combo) <= high
    }


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 50), max_size=10), st.integers(2, 120), st.integers(0, 5))
def test_meet_in_the_middle_finds_exactly_the_brute_force_solutions(
    amounts: list[int], low: int, slack: int
) -> None:
    search = meet_in_the_middle(amounts, low, low + slack, budget=10**9, limit=10**9)
    assert set(search.solutions) == _brute_force(amounts, low, low + slack)
    assert not search.exhausted


def test_budget_is_a_hard_limit() -> None:
    search = meet_in_the_middle([1] * 24, 12, 12, budget=10_000, min_size=20)
    assert search.exhausted
    assert search.work <= 10_000


def test_windows_must_be_maximal_so_a_fee_slack_does_not_multiply_solutions() -> None:
    # 100+200+300 = 600 within [590, 610]; dropping an end leaves the interval.
    assert maximal_windows([5000, 100, 200, 300, 7000], 590, 610) == [(1, 4)]


def test_two_disjoint_windows_are_both_reported() -> None:
    assert maximal_windows([250, 250, 900, 200, 300], 500, 500) == [(0, 2), (3, 5)]


@given(st.lists(st.integers(1, 40), max_size=12), st.integers(1, 100), st.integers(0, 10))
def test_every_window_is_in_range_and_maximal(amounts: list[int], low: int, slack: int) -> None:
    high = low + slack
    for start, end in maximal_windows(amounts, low, high, min_size=1, limit=100):
        total = sum(amounts[start:end])
        assert low <= total <= high
        assert start == 0 or total + amounts[start - 1] > high
        assert end == len(amounts) or total + amounts[end] > high
