"""Maximum-weight bipartite assignment for the small blocks of the fuzzy pass.

The fuzzy pass splits its candidate graph into connected blocks (bank rows and wallet rows
linked by a plausible pairing) and pairs each block as a whole, so that two same-counterparty
neighbours a few cents apart are paired with each other's right partner instead of being
called ambiguous because one bank row scores them alike. Blocks are small (a handful of rows),
so the textbook O(n³) Hungarian method is plenty; scipy is not a runtime dependency.

Weights are non-negative integers (scores scaled to millionths): integer arithmetic makes the
optimum exact, so "two assignments are equally good" is a decidable question, which
:func:`alternative_exists` answers.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["alternative_exists", "max_weight_assignment", "unique_row_maxima"]

Weights = dict[tuple[int, int], int]


def max_weight_assignment(rows: int, cols: int, weights: Weights) -> tuple[int, list[int]]:
    """The total and, per row, its column (``-1`` for none) of a maximum-weight matching.

    ``weights`` maps ``(row, col)`` to a positive weight; absent pairs cannot be matched.
    Ties are broken deterministically (the same input always gives the same matching).
    """
    if rows > cols:
        total, by_col = max_weight_assignment(
            cols, rows, {(c, r): w for (r, c), w in weights.items()}
        )
        out = [-1] * rows
        for col, row in enumerate(by_col):
            if row >= 0:
                out[row] = col
        return total, out
    top = max(weights.values(), default=0)
    # Minimise top - weight; a missing pair costs top, the same as leaving both unmatched.
    cost = [[top - weights.get((r, c), 0) for c in range(cols)] for r in range(rows)]
    assigned = _hungarian(cost, rows, cols)
    out = [-1] * rows
    total = 0
    for r, c in enumerate(assigned):
        weight = weights.get((r, c), 0)
        if weight > 0:
            out[r] = c
            total += weight
    return total, out


def unique_row_maxima(rows: int, weights: Weights) -> list[int] | None:
    """Per row its best column, when that alone decides the matching; else ``None``.

    When every row has one strictly heaviest pair and those columns are all different, taking
    them is the one maximum-weight matching (any other matching gives some row less, or
    nothing), so :func:`max_weight_assignment` returns exactly it, and no alternative as heavy
    exists whatever :func:`alternative_exists` bans. The fuzzy pass's blocks are mostly like
    this (each bank row's own amount scores far above its neighbours'), and this check is
    linear where the assignment is cubic and the alternative check runs it once per row.
    """
    best = [-1] * rows
    top = [0] * rows
    for (r, c), weight in weights.items():
        if weight > top[r]:
            top[r], best[r] = weight, c
        elif weight == top[r]:
            return None  # a tie (or a zero weight): the general method decides
    if -1 in best or len(set(best)) < rows:
        return None
    return best


def _upper_bound(weights: Weights) -> int:
    """No matching weighs more than the heaviest pair of each row summed, nor of each column."""
    by_row: dict[int, int] = {}
    by_col: dict[int, int] = {}
    for (r, c), weight in weights.items():
        if weight > by_row.get(r, 0):
            by_row[r] = weight
        if weight > by_col.get(c, 0):
            by_col[c] = weight
    return min(sum(by_row.values()), sum(by_col.values()))


def _hungarian(cost: list[list[int]], n: int, m: int) -> list[int]:
    """Column per row of a minimum-cost assignment, ``n <= m`` (potentials method)."""
    # An integer "infinity": larger than any reduced cost the potentials can produce.
    infinity = (n + m + 2) * (max((max(r) for r in cost), default=0) + 1)
    u = [0] * (n + 1)
    v = [0] * (m + 1)
    p = [0] * (m + 1)  # p[j]: the row (1-based) assigned to column j, 0 for none
    way = [0] * (m + 1)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = [infinity] * (m + 1)
        used = [False] * (m + 1)
        while True:
            used[j0] = True
            i0 = p[j0]
            delta = infinity
            j1 = 0
            row = cost[i0 - 1]
            for j in range(1, m + 1):
                if not used[j]:
                    current = row[j - 1] - u[i0] - v[j]
                    if current < minv[j]:
                        minv[j] = current
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            for j in range(m + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    assigned = [0] * n
    for j in range(1, m + 1):
        if p[j]:
            assigned[p[j] - 1] = j - 1
    return assigned


def alternative_exists(
    rows: int,
    cols: int,
    weights: Weights,
    total: int,
    twin_rows: Iterable[int],
    twin_cols: Iterable[int],
) -> bool:
    """Whether a matching as heavy as ``total`` exists that pairs none of ``twin_rows`` with
    any of ``twin_cols``.

    ``twin_rows`` is a chosen row and the rows interchangeable with it, ``twin_cols`` its
    chosen column and the columns interchangeable with that: an alternative that only swaps
    twins is no real alternative.
    """
    banned_rows, banned_cols = set(twin_rows), set(twin_cols)
    reduced = {
        (r, c): w for (r, c), w in weights.items() if r not in banned_rows or c not in banned_cols
    }
    if _upper_bound(reduced) < total:
        return False  # usually so: banning the chosen pair costs more than any swap gains
    return max_weight_assignment(rows, cols, reduced)[0] == total
