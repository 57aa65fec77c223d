"""The block assignment: optimal against brute force, and exact about equal alternatives."""

from __future__ import annotations

from itertools import permutations

from hypothesis import given
from hypothesis import strategies as st

from walletlink.reconcile.assignment import alternative_exists, max_weight_assignment


def _brute(rows: int, cols: int, weights: dict[tuple[int, int], int]) -> int:
    best = 0
    size = max(rows, cols)
    for perm in permutations(range(size), rows if rows <= cols else cols):
        if rows <= cols:
            total = sum(weights.get((r, c), 0) for r, c in enumerate(perm))
        else:
            total = sum(weights.get((r, c), 0) for c, r in enumerate(perm))
        best = max(best, total)
    return best


@given(
    st.integers(1, 4),
    st.integers(1, 4),
    st.dictionaries(st.tuples(st.integers(0, 3), st.integers(0, 3)), st.integers(1, 9)),
)
def test_total_is_the_brute_force_optimum(rows: int, cols: int, raw: dict) -> None:
    weights = {(r, c): w for (r, c), w in raw.items() if r < rows and c < cols}
    total, assigned = max_weight_assignment(rows, cols, weights)
    assert total == _brute(rows, cols, weights)
    chosen = [c for c in assigned if c >= 0]
    assert len(chosen) == len(set(chosen))
    assert total == sum(weights[(r, c)] for r, c in enumerate(assigned) if c >= 0)


def test_neighbours_get_their_own_partner_not_a_tie() -> None:
    # Two bank rows, two wallet rows, each bank row likes both: only the crossing-free
    # assignment reaches the optimum.
    weights = {(0, 0): 100, (0, 1): 90, (1, 0): 90, (1, 1): 100}
    assert max_weight_assignment(2, 2, weights) == (200, [0, 1])
    assert not alternative_exists(2, 2, weights, 200, [0], [0])


def test_equal_alternative_is_detected() -> None:
    weights = {(0, 0): 100, (0, 1): 100}
    total, assigned = max_weight_assignment(1, 2, weights)
    assert alternative_exists(1, 2, weights, total, [0], [assigned[0]])


def test_swapping_twins_is_no_alternative() -> None:
    # Two identical bank rows, one wallet row: giving it to the other twin changes nothing.
    weights = {(0, 0): 100, (1, 0): 100}
    total, assigned = max_weight_assignment(2, 1, weights)
    assert (total, assigned) == (100, [0, -1])
    assert not alternative_exists(2, 1, weights, total, [0, 1], [0])
