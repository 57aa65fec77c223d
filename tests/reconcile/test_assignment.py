"""The block assignment: optimal against brute force, and exact about equal alternatives."""

from __future__ import annotations

from itertools import permutations

from hypothesis import given
from hypothesis import strategies as st

from walletlink.reconcile.assignment import (
    alternative_exists,
    max_weight_assignment,
    unique_row_maxima,
)


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


_BLOCKS = st.tuples(
    st.integers(1, 4),
    st.integers(1, 4),
    st.dictionaries(st.tuples(st.integers(0, 3), st.integers(0, 3)), st.integers(1, 9)),
)


@given(_BLOCKS)
def test_unique_row_maxima_is_the_assignment_when_it_answers(block: tuple) -> None:
    # The fuzzy pass settles such blocks without the Hungarian method: the result must be
    # exactly the method's, and no row may have an equally good alternative.
    rows, cols, raw = block
    weights = {(r, c): w for (r, c), w in raw.items() if r < rows and c < cols}
    best = unique_row_maxima(rows, weights)
    if best is None:
        return
    total, assigned = max_weight_assignment(rows, cols, weights)
    assert assigned == best
    for r, c in enumerate(best):
        assert not alternative_exists(rows, cols, weights, total, [r], [c])


def test_unique_row_maxima_declines_ties_and_shared_columns() -> None:
    assert unique_row_maxima(2, {(0, 0): 5, (0, 1): 3, (1, 1): 4}) == [0, 1]
    assert unique_row_maxima(2, {(0, 0): 5, (0, 1): 5, (1, 1): 4}) is None  # tie in row 0
    assert unique_row_maxima(2, {(0, 0): 5, (1, 0): 4, (1, 1): 3}) is None  # both want col 0
    assert unique_row_maxima(2, {(0, 0): 5}) is None  # row 1 has no pair


def _brute_alternative(rows: int, cols: int, weights: dict, total: int, banned: set) -> bool:
    reduced = {k: w for k, w in weights.items() if k not in banned}
    return _brute(rows, cols, reduced) == total


@given(_BLOCKS, st.integers(0, 3), st.integers(0, 3), st.integers(0, 3))
def test_alternative_exists_agrees_with_brute_force(
    block: tuple, row: int, col: int, twin: int
) -> None:
    # alternative_exists answers "no" from an upper bound when it can; it must never differ
    # from trying every matching.
    rows, cols, raw = block
    weights = {(r, c): w for (r, c), w in raw.items() if r < rows and c < cols}
    total = _brute(rows, cols, weights)
    twin_rows, twin_cols = {row % rows}, {col % cols, twin % cols}
    banned = {(r, c) for r in twin_rows for c in twin_cols}
    expected = _brute_alternative(rows, cols, weights, total, banned)
    assert alternative_exists(rows, cols, weights, total, twin_rows, twin_cols) == expected
