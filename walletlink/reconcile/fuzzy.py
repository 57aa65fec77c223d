"""Passes 3 and 4: the searching passes, each bounded so that a million rows stay tractable.

Pass 3 pairs leftovers 1:1 when amount, value date and counterparty are close, and accepts a
pair only when the best candidate beats the second by a margin. Pass 4 explains one bank entry
by several wallet rows with a fee netted out: a sliding window first, then a capped
meet-in-the-middle subset-sum under a hard work budget.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from functools import lru_cache
from typing import Final

from walletlink.reconcile._state import RunState
from walletlink.reconcile.passes import batch_match, settle_pair
from walletlink.reconcile.records import Record
from walletlink.reconcile.results import AmbiguousRow, Candidate, UnresolvedBatch
from walletlink.reconcile.subset_sum import maximal_windows, meet_in_the_middle

__all__ = ["counterparty_similarity", "fuzzy_one_to_one", "unlabelled_batches"]

_TOKEN: Final = re.compile(r"[a-z0-9]+")
# Scanning past used or out-of-window rows is bounded too, at this multiple of the cap.
_SCAN_FACTOR: Final = 4
_Partition = tuple[str, str, bool]


@lru_cache(maxsize=65_536)
def _tokens(text: str) -> frozenset[str]:
    return frozenset(_TOKEN.findall(text.lower()))


def counterparty_similarity(left: str, right: str) -> float:
    """Token-set Jaccard similarity in [0, 1]; 0.5 (no evidence) when either name is empty."""
    if not left or not right:
        return 0.5
    a, b = _tokens(left), _tokens(right)
    if not a or not b:
        return 0.5
    return len(a & b) / len(a | b)


def _partitions(state: RunState) -> dict[_Partition, list[int]]:
    parts: dict[_Partition, list[int]] = {}
    for index in state.free_wallet():
        record = state.wallet[index]
        key = (record.account, record.currency, record.amount_minor >= 0)
        parts.setdefault(key, []).append(index)
    return parts


def _nearest(
    amounts: list[int],
    rows: list[int],
    state: RunState,
    target: int,
    tolerance: int,
    day: int,
) -> list[int]:
    """Up to ``max_candidates`` free rows within the amount tolerance and the date window,
    nearest amount first; rows skipped (used, out of window) count against a scan budget."""
    used, days = state.wallet_used, state.wallet_day
    window, cap = state.config.date_window_days, state.config.max_candidates
    right = bisect_left(amounts, target)
    left = right - 1
    out: list[int] = []
    budget = cap * _SCAN_FACTOR
    while len(out) < cap and budget > 0:
        left_gap = target - amounts[left] if left >= 0 else tolerance + 1
        right_gap = amounts[right] - target if right < len(amounts) else tolerance + 1
        if min(left_gap, right_gap) > tolerance:
            break
        budget -= 1
        if right_gap <= left_gap:
            position, right = right, right + 1
        else:
            position, left = left, left - 1
        row = rows[position]
        if not used[row] and -window <= days[row] - day <= window:
            out.append(row)
    return out


def fuzzy_one_to_one(state: RunState) -> None:
    """Pass 3: amount within tolerance, date within the window, best clearly ahead."""
    config = state.config
    window = config.date_window_days
    sorted_parts: dict[_Partition, tuple[list[int], list[int]]] = {}
    for key, rows in _partitions(state).items():
        rows.sort(key=lambda i: (abs(state.wallet[i].amount_minor), i))
        sorted_parts[key] = ([abs(state.wallet[i].amount_minor) for i in rows], rows)
    for bank_index in state.free_bank():
        bank = state.bank[bank_index]
        part = sorted_parts.get((bank.account, bank.currency, bank.amount_minor >= 0))
        if part is None or bank.members:
            continue  # an itemised batch entry is never explained by a single row
        amount = abs(bank.amount_minor)
        tolerance = config.amount_tolerance(amount)
        day = state.bank_day[bank_index]
        scored = []
        for wallet_index in _nearest(*part, state, amount, tolerance, day):
            wallet = state.wallet[wallet_index]
            gap = abs(state.wallet_day[wallet_index] - day)
            # Counterparty weighs as much as the amount: with the default min_score, two named
            # and entirely different parties never pair on amount alone.
            score = (
                0.4 * (1 - abs(abs(wallet.amount_minor) - amount) / (tolerance + 1))
                + 0.2 * (1 - gap / (window + 1))
                + 0.4 * counterparty_similarity(wallet.counterparty, bank.counterparty)
            )
            scored.append((-round(score, 6), wallet_index))
        if scored:
            _decide(state, bank_index, sorted(scored))


def _decide(state: RunState, bank_index: int, scored: list[tuple[float, int]]) -> None:
    best_score, best = -scored[0][0], scored[0][1]
    if best_score < state.config.min_score:
        return
    if len(scored) > 1:
        second_score, second = -scored[1][0], scored[1][1]
        tied = best_score - second_score < state.config.margin
        if tied and not _interchangeable(state.wallet[best], state.wallet[second]):
            bank = state.take_bank(bank_index)
            candidates = tuple(Candidate((state.wallet[i].id,), -s) for s, i in scored[:5])
            state.ambiguous.append(
                AmbiguousRow(
                    "bank",
                    bank.id,
                    3,
                    "fuzzy",
                    bank.account,
                    bank.currency,
                    bank.amount_minor,
                    candidates,
                )
            )
            return
    settle_pair(state, best, bank_index, 3, "fuzzy", best_score)


def _interchangeable(left: Record, right: Record) -> bool:
    """Twins (same amount, date, counterparty, status): either one is the right answer."""
    return (
        left.amount_minor == right.amount_minor
        and left.value_date == right.value_date
        and left.counterparty == right.counterparty
        and left.status is right.status
    )


def _gross_interval(state: RunState, net: int, credit: bool) -> tuple[int, int]:
    """The gross amounts a batch may have for this net, given the fee rules (integers only).

    Credit: ``gross - fee = net`` with ``fee <= abs + gross·bps``; debit: ``gross + fee = net``.
    """
    config = state.config
    bps, fixed = config.batch_fee_max_bps, config.batch_fee_max_abs_minor
    if credit:
        if bps >= 10_000:
            return net, net * 1_000
        return net, (net + fixed) * 10_000 // (10_000 - bps)
    return max(0, -((fixed - net) * 10_000 // (10_000 + bps))), net


def unlabelled_batches(state: RunState) -> None:
    """Pass 4: one bank entry against several wallet rows dated shortly before it."""
    config = state.config
    by_part: dict[_Partition, tuple[list[int], list[int]]] = {}
    for key, rows in _partitions(state).items():
        rows.sort(key=lambda i: (state.wallet_day[i], i))
        by_part[key] = ([state.wallet_day[i] for i in rows], rows)
    for bank_index in state.free_bank():
        bank = state.bank[bank_index]
        part = by_part.get((bank.account, bank.currency, bank.amount_minor >= 0))
        if part is None or bank.members:
            continue
        days, rows = part
        day = state.bank_day[bank_index]
        first = bisect_left(days, day - config.batch_window_days)
        last = bisect_right(days, day)
        used = state.wallet_used
        candidates = [i for i in rows[first:last] if not used[i]]
        threshold = config.batch_counterparty_similarity
        if bank.counterparty and threshold > 0:
            # A payout names who pays it (the PSP); its members name the same party.
            wallet = state.wallet
            candidates = [
                i
                for i in candidates
                if counterparty_similarity(wallet[i].counterparty, bank.counterparty) >= threshold
            ]
        if len(candidates) >= config.batch_min_members:
            _search_batch(state, bank_index, candidates)


def _search_batch(state: RunState, bank_index: int, candidates: list[int]) -> None:
    config = state.config
    bank = state.bank[bank_index]
    low, high = _gross_interval(state, abs(bank.amount_minor), bank.amount_minor >= 0)
    amounts = [abs(state.wallet[i].amount_minor) for i in candidates]
    windows = maximal_windows(amounts, low, high, min_size=config.batch_min_members)
    solutions = [tuple(range(start, end)) for start, end in windows]
    rule = "sliding_window"
    if not solutions:
        # Keep the candidates nearest the bank date: a batch is paid out shortly after.
        candidates = candidates[-config.subset_sum_max_candidates :]
        amounts = amounts[-config.subset_sum_max_candidates :]
        search = meet_in_the_middle(
            amounts, low, high, budget=config.subset_sum_budget, min_size=config.batch_min_members
        )
        if search.exhausted:
            state.take_bank(bank_index)
            state.unresolved.append(
                UnresolvedBatch(
                    bank.id,
                    bank.account,
                    bank.currency,
                    bank.amount_minor,
                    len(amounts),
                    search.work,
                )
            )
            return
        solutions, rule = list(search.solutions), "subset_sum"
    if len(solutions) == 1:
        members = [state.take_wallet(candidates[p]) for p in solutions[0]]
        state.take_bank(bank_index)
        state.batches.append(batch_match(state, bank, members, pass_no=4, rule=rule))
    elif solutions:
        state.take_bank(bank_index)
        options = tuple(
            Candidate(tuple(state.wallet[candidates[p]].id for p in solution), 0.0)
            for solution in solutions
        )
        state.ambiguous.append(
            AmbiguousRow(
                "bank", bank.id, 4, rule, bank.account, bank.currency, bank.amount_minor, options
            )
        )
