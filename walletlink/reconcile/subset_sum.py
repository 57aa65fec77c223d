"""Find which wallet rows add up to one bank entry: sliding windows, then meet-in-the-middle.

Both searches take positive integer amounts (minor units) and a closed target interval
``[low, high]``: the bank's net amount plus the largest fee the rules allow. They never return
a guess. They return every solution they found up to ``limit`` (so "several" can be told from
"one"), and the meet-in-the-middle search stops with ``exhausted=True`` when its work budget
runs out, which the engine reports as ``unresolved_batch`` rather than as a miss.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import NamedTuple

__all__ = ["SubsetSearch", "maximal_windows", "meet_in_the_middle"]


class SubsetSearch(NamedTuple):
    """Solutions as tuples of positions into the input, and the work spent finding them."""

    solutions: tuple[tuple[int, ...], ...]
    work: int
    exhausted: bool


def maximal_windows(
    amounts: list[int], low: int, high: int, *, min_size: int = 2, limit: int = 2
) -> list[tuple[int, int]]:
    """Contiguous runs ``[start, end)`` whose sum lies in ``[low, high]`` and cannot grow.

    A run is kept only when it cannot be extended on either side without leaving the interval:
    a fee tolerance otherwise makes every run that drops one small member a "solution" too.
    Two pointers, O(n). Stops after ``limit`` runs.
    """
    found: list[tuple[int, int]] = []
    n = len(amounts)
    end = 0
    total = 0
    for start in range(n):
        if end < start:
            end, total = start, 0
        while end < n and total + amounts[end] <= high:
            total += amounts[end]
            end += 1
        # [start, end) is the longest run from start; left-maximal if the previous one spills.
        left_maximal = start == 0 or total + amounts[start - 1] > high
        if end - start >= min_size and total >= low and left_maximal:
            found.append((start, end))
            if len(found) >= limit:
                break
        if end > start:
            total -= amounts[start]
    return found


def _half_sums(amounts: list[int], offset: int) -> list[tuple[int, int]]:
    """Every subset of one half as ``(sum, bitmask)``; the mask is shifted by ``offset``."""
    sums = [(0, 0)]
    for position, amount in enumerate(amounts):
        bit = 1 << (position + offset)
        sums += [(total + amount, mask | bit) for total, mask in sums]
    return sums


def meet_in_the_middle(
    amounts: list[int],
    low: int,
    high: int,
    *,
    budget: int,
    min_size: int = 2,
    limit: int = 2,
) -> SubsetSearch:
    """Subsets (not necessarily contiguous) whose sum lies in ``[low, high]``.

    Splits the amounts in two halves, enumerates each half's 2^(n/2) subset sums, sorts one and
    looks up the complement interval of every sum of the other by bisection. Every enumerated
    subset and every examined pair costs one unit of ``budget``; when the budget would be
    exceeded the search stops and says so. The caller caps ``len(amounts)`` (24 by default).
    """
    half = len(amounts) // 2
    cost = (1 << half) + (1 << (len(amounts) - half))
    if cost > budget:
        return SubsetSearch((), 0, True)
    left = _half_sums(amounts[:half], 0)
    right = sorted(_half_sums(amounts[half:], half))
    right_totals = [total for total, _ in right]
    work = cost
    solutions: list[tuple[int, ...]] = []
    for total, mask in left:
        first = bisect_left(right_totals, low - total)
        last = bisect_right(right_totals, high - total)
        for _, other in right[first:last]:
            if work >= budget:
                return SubsetSearch(tuple(solutions), work, True)
            work += 1
            combined = mask | other
            if combined.bit_count() >= min_size:
                solutions.append(tuple(i for i in range(len(amounts)) if combined >> i & 1))
                if len(solutions) >= limit:
                    return SubsetSearch(tuple(solutions), work, False)
    return SubsetSearch(tuple(solutions), work, False)
