"""Passes 3 and 4: the searching passes, each bounded so that a million rows stay tractable.

Pass 3 pairs leftovers 1:1 when amount, value date and counterparty are close, by a
maximum-weight assignment within each connected block of candidates (so recall does not fall
as neighbours get denser), and offers bank rows without any 1:1 candidate to the batch
search first. Pass 4 explains one bank entry by several wallet rows with a fixed fee netted
out: a sliding window first, then a capped meet-in-the-middle subset-sum under a hard work
budget. Each public pass documents its contract in its docstring.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from functools import lru_cache
from itertools import combinations, compress
from operator import attrgetter
from typing import Final

from walletlink.reconcile._state import RunState
from walletlink.reconcile.assignment import (
    Weights,
    alternative_exists,
    max_weight_assignment,
    unique_row_maxima,
)
from walletlink.reconcile.passes import batch_match, day_phrase, settle_pair
from walletlink.reconcile.records import Record, format_minor
from walletlink.reconcile.results import AmbiguousRow, Candidate, UnresolvedBatch
from walletlink.reconcile.subset_sum import maximal_windows, meet_in_the_middle

__all__ = ["counterparty_similarity", "fuzzy_one_to_one", "unlabelled_batches"]

_TOKEN: Final = re.compile(r"[a-z0-9]+")
# Scanning past used or out-of-window rows is bounded too, at this multiple of the cap.
_SCAN_FACTOR: Final = 4
_Partition = tuple[str, str, bool]
# Scores become integer weights in millionths, so that equal optima compare exactly.
_SCALE: Final = 1_000_000
# Blocks up to this many rows a side get the exact assignment, and up to the second size the
# check that no equally good alternative exists; blocks are a few rows in practice.
_EXACT_BLOCK: Final = 40
_CHECKED_BLOCK: Final = 12
_USUAL_REASONS: dict[tuple[int, str, str], str] = {}
_AMOUNT: Final = attrgetter("amount_minor")
_SIMILARITY_MEMO: Final = 65_536


#: Legal-form words a bank adds, drops or swaps ("Acme Ltd" / "ACME LIMITED" / "Acme"):
#: they say nothing about who the party is.
_LEGAL_FORMS: Final = frozenset(
    "ag bv co corp gmbh inc kg limited llc llp ltd nv oy plc sa sarl sas se spa srl".split()
)
#: Letters SWIFT's character set lacks, as German and Nordic banks spell them; the rest of
#: the accents are dropped by NFKD ("é" -> "e"). "ue" and "u" then meet in one spelling.
_SPELLED: Final = str.maketrans({"ß": "ss", "ø": "o", "ł": "l", "đ": "d", "æ": "ae", "œ": "oe"})
_DIGRAPHS: Final = re.compile(r"(?<=[aou])e")
#: A name at least this long may have been cut by the bank (MT940 ``:86:`` holds 27-35).
_CUT_LENGTH: Final = 27


@lru_cache(maxsize=65_536)
def _canonical(text: str) -> tuple[str, ...]:
    """The name's words, case-, accent-, umlaut-spelling- and legal-form-insensitive."""
    folded = unicodedata.normalize("NFKD", text.casefold().translate(_SPELLED))
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    words = (_DIGRAPHS.sub("", word) for word in _TOKEN.findall(plain))
    return tuple(word for word in words if word not in _LEGAL_FORMS)


@lru_cache(maxsize=65_536)
def _tokens(text: str) -> frozenset[str]:
    return frozenset(_canonical(text))


def counterparty_similarity(left: str, right: str) -> float:
    """Token-set Jaccard similarity in [0, 1]; 0.5 (no evidence) when either name is empty.

    Names are compared as the bank may have rewritten them: case, accents (``é`` = ``e``,
    ``ü`` = ``ue`` = ``u``) and legal forms (``Ltd``, ``GmbH``…) do not count, and a name of
    at least 27 characters that starts the other one's words is the same name cut short.
    """
    if not left or not right:
        return 0.5
    if left == right:
        return 1.0  # the usual case for a true pair, decided without tokenising
    a, b = _tokens(left), _tokens(right)
    if not a or not b:
        return 0.5
    if a == b:
        return 1.0
    if min(len(left), len(right)) >= _CUT_LENGTH and _cut_short(left, right):
        return 1.0
    return len(a & b) / len(a | b)


#: Similarities of (wallet name, bank name) pairs: the candidate graph computes each pair's
#: once, and the pair it settles asks again for its reasons (190k times at 1M rows).
_NAME_PAIRS: dict[tuple[str, str], float] = {}


def _name_pair_similarity(wallet_name: str, bank_name: str) -> float:
    """:func:`counterparty_similarity`, remembered (bounded) in :data:`_NAME_PAIRS`."""
    names = (wallet_name, bank_name)
    found = _NAME_PAIRS.get(names)
    if found is None:
        if len(_NAME_PAIRS) >= _SIMILARITY_MEMO:
            _NAME_PAIRS.clear()  # bounded: a run can hold millions of name pairs
        found = _NAME_PAIRS[names] = counterparty_similarity(wallet_name, bank_name)
    return found


def _cut_short(left: str, right: str) -> bool:
    """The shorter name is the longer one's words, the last of them possibly cut."""
    cut, full = (left, right) if len(left) <= len(right) else (right, left)
    short, long = _canonical(cut), _canonical(full)
    if not short or len(short) > len(long):
        return False
    whole, last = short[:-1], short[-1]
    return long[: len(whole)] == whole and long[len(whole)].startswith(last)


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
    config = state.config
    return _scan_nearest(
        amounts,
        rows,
        target,
        tolerance,
        day,
        state.wallet_used,
        state.wallet_day,
        config.date_window_days,
        config.max_candidates,
    )


def _scan_nearest(
    amounts: list[int],
    rows: list[int],
    target: int,
    tolerance: int,
    day: int,
    used: bytearray,
    days: list[int],
    window: int,
    cap: int,
) -> list[int]:
    """:func:`_nearest` with the run's lists and settings passed in: it runs once per free
    bank row, and looking them up on the state each time is a good part of its cost."""
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


def _closeness(gap: int, scale: int) -> float:
    """1 at no gap, falling with the *square* of the gap: a convex cost, so that of two
    crossing pairings in one block the non-crossing one always scores higher (bank lag is
    monotone) and equal-looking neighbours are told apart by the assignment."""
    ratio = gap / scale
    return 1 - ratio * ratio


def _edges(state: RunState) -> dict[int, list[tuple[int, int]]]:
    """Per free bank row, its plausible wallet partners as ``(weight, wallet)``.

    A weight is the pair's score in millionths (an integer, so optima are exact): 0.4 ×
    amount closeness (1 when equal, else at most 0.5) + 0.2 × date closeness + 0.4 ×
    counterparty similarity. Only pairs scoring at least ``min_score`` are edges.
    """
    config = state.config
    window, floor = config.date_window_days, round(config.min_score * _SCALE)
    wallet_records = state.wallet
    sorted_parts: dict[_Partition, tuple[list[int], list[int]]] = {}
    for key, rows in _partitions(state).items():
        # Sorting (|amount|, position) pairs orders exactly as the key would, with each
        # record read once instead of once for the key and once for the amounts.
        amounts = map(abs, map(_AMOUNT, map(wallet_records.__getitem__, rows)))
        pairs = sorted(zip(amounts, rows, strict=True))
        sorted_parts[key] = ([a for a, _ in pairs], [i for _, i in pairs])
    # The same products as computing them per pair (one date term per gap inside the window,
    # one similarity per pair of names), so every score is the same float as before.
    date_term = {gap: 0.2 * _closeness(gap, window + 1) for gap in range(-window, window + 1)}
    similarity = _NAME_PAIRS
    edges: dict[int, list[tuple[int, int]]] = {}
    # Once per free bank row: what the loop reads is looked up once, here.
    bank_records, bank_day, wallet_day = state.bank, state.bank_day, state.wallet_day
    used, cap = state.wallet_used, config.max_candidates
    # config.amount_tolerance, inlined with its two settings (integer arithmetic).
    tolerance_abs, tolerance_bps = config.amount_tolerance_abs_minor, config.amount_tolerance_bps
    for bank_index in state.free_bank():
        bank = bank_records[bank_index]
        signed = bank.amount_minor
        part = sorted_parts.get((bank.account, bank.currency, signed >= 0))
        if part is None or bank.members:
            continue  # an itemised batch entry is never explained by a single row
        amount = abs(signed)
        tolerance = tolerance_abs + amount * tolerance_bps // 10_000
        day = bank_day[bank_index]
        name = bank.counterparty
        found = []
        for wallet_index in _scan_nearest(
            *part, amount, tolerance, day, used, wallet_day, window, cap
        ):
            wallet = wallet_records[wallet_index]
            gap = wallet_day[wallet_index] - day
            difference = abs(wallet.amount_minor) - amount
            # An equal amount is strong evidence, any difference halves it: a bank rarely
            # changes an amount, while a day or two of lag is the norm.
            closeness = 1.0 if not difference else 0.5 * _closeness(difference, tolerance + 1)
            names = (wallet.counterparty, name)
            party = similarity.get(names)
            if party is None:
                if len(similarity) >= _SIMILARITY_MEMO:
                    similarity.clear()  # bounded: a run can hold millions of name pairs
                party = similarity[names] = counterparty_similarity(*names)
            score = 0.4 * closeness + date_term[gap] + 0.4 * party
            weight = round(score * _SCALE)
            if weight >= floor:
                found.append((weight, wallet_index))
        edges[bank_index] = found
    return edges


def _blocks(edges: dict[int, list[tuple[int, int]]]) -> list[tuple[list[int], list[int]]]:
    """Connected components of the candidate graph as (bank rows, wallet rows), sorted."""
    by_wallet: dict[int, list[int]] = {}
    for bank_index, found in edges.items():
        for _, wallet_index in found:
            by_wallet.setdefault(wallet_index, []).append(bank_index)
    seen: set[int] = set()
    blocks = []
    for start in sorted(edges):
        if start in seen or not edges[start]:
            continue
        seen.add(start)
        found = edges[start]
        if len(found) == 1 and len(by_wallet[found[0][1]]) == 1:
            # One bank row and one wallet row with no other edge: most blocks, and what the
            # walk below would return for them.
            blocks.append(([start], [found[0][1]]))
            continue
        banks, wallets, queue = [start], set(), [start]
        while queue:
            for _, wallet_index in edges[queue.pop()]:
                if wallet_index in wallets:
                    continue
                wallets.add(wallet_index)
                for other in by_wallet[wallet_index]:
                    if other not in seen:
                        seen.add(other)
                        banks.append(other)
                        queue.append(other)
        blocks.append((sorted(banks), sorted(wallets)))
    return blocks


def fuzzy_one_to_one(state: RunState) -> None:
    """Pass 3: pair leftovers 1:1 by a globally optimal assignment within each block.

    Contract: candidates per free bank row are the wallet rows of its ``(account, currency,
    direction)`` within the amount tolerance and the date window (nearest amounts first, at
    most ``max_candidates``), scoring at least ``min_score``. Bank rows with *no* candidate
    are first offered to the unlabelled-batch search (in value-date order), so that a batch
    payout takes its members before any 1:1 pairing could. The remaining candidate graph is
    split into connected blocks; each block gets the maximum-weight matching (integer weights,
    Hungarian method up to ``_EXACT_BLOCK`` rows a side, best-first greedy above). A bank row
    is ``ambiguous`` only when another matching of equal weight gives it a wallet row that is
    not interchangeable with its own; its candidate wallet rows are then ambiguous too.
    """
    edges = _edges(state)
    lonely = [b for b, found in edges.items() if not found]
    if lonely:
        _batches_for(state, lonely)
    used = state.wallet_used
    live = {
        b: [(w, i) for w, i in found if not used[i]]
        for b, found in edges.items()
        if found and not state.bank_used[b]
    }
    for banks, wallets in _blocks(live):
        _settle_block(state, banks, wallets, live)


def _settle_block(
    state: RunState, banks: list[int], wallets: list[int], edges: dict[int, list[tuple[int, int]]]
) -> None:
    if len(banks) == 1 and len(wallets) == 1:
        weight, wallet_index = edges[banks[0]][0]
        _pair(state, banks[0], wallet_index, weight, "only candidate")
        return
    size = f"block of {len(banks)} bank × {len(wallets)} wallet rows"  # not for most blocks
    if len(banks) == 1:
        # One bank row, several wallet rows: the optimum is its best edge, and it is unique
        # unless a non-twin wallet row scores exactly as well.
        found = sorted(edges[banks[0]], key=lambda e: (-e[0], e[1]))
        weight, best = found[0]
        tied = [w for x, w in found[1:] if x == weight]
        if any(not _interchangeable(state.wallet[w], state.wallet[best]) for w in tied):
            _ambiguous_block(state, banks, edges)
        else:
            _pair(state, banks[0], best, weight, f"best of {len(found)} candidates")
        return
    col = {w: c for c, w in enumerate(wallets)}
    weights = {(r, col[w]): weight for r, b in enumerate(banks) for weight, w in edges[b]}
    # The assignment maximises the objective; pairs keep their own score in the report.
    objective, second = _second_bookings_last(state, banks, weights)
    if max(len(banks), len(wallets)) > _EXACT_BLOCK:
        _greedy(state, banks, wallets, weights, objective, size)
        return
    if second and len(banks) > len(wallets) and max(len(banks), len(wallets)) <= _CHECKED_BLOCK:
        objective = _regular_lag(state, banks, wallets, objective, second)
    maxima = unique_row_maxima(len(banks), objective)
    if maxima is not None:
        # The one optimum, and no equally good alternative: what the method below would find.
        for r, c in enumerate(maxima):
            _pair(state, banks[r], wallets[c], weights[(r, c)], f"optimal assignment in a {size}")
        return
    total, assigned = max_weight_assignment(len(banks), len(wallets), objective)
    unsure: list[int] = []
    check = max(len(banks), len(wallets)) <= _CHECKED_BLOCK
    for r, c in enumerate(assigned):
        if c < 0:
            continue
        twins = [
            k
            for k, w in enumerate(wallets)
            if _interchangeable(state.wallet[w], state.wallet[wallets[c]])
        ]
        bank_twins = [
            k for k, b in enumerate(banks) if _interchangeable(state.bank[b], state.bank[banks[r]])
        ]
        if check and alternative_exists(
            len(banks), len(wallets), objective, total, bank_twins, twins
        ):
            unsure.append(r)
    for r, c in enumerate(assigned):
        if c >= 0 and r not in unsure:
            _pair(state, banks[r], wallets[c], weights[(r, c)], f"optimal assignment in a {size}")
    _ambiguous_block(state, [banks[r] for r in unsure], edges)


def _booking_content(record: Record) -> tuple[object, ...]:
    """Everything a bank says about a booking except its own id for it (AcctSvcrRef, NtryRef)."""
    return (
        record.amount_minor,
        record.value_date,
        record.booking_date,
        record.counterparty,
        record.text,
        record.end_to_end_id,
        record.instruction_id,
        record.status,
        record.reversal,
    )


#: What a second booking gives up in the objective: the whole weight of the date term, so
#: that no date gain can make it take a wallet row another bank row of the block explains.
_SECOND_BOOKING_PENALTY: Final = round(0.2 * _SCALE)


def _second_bookings_last(
    state: RunState, banks: list[int], weights: Weights
) -> tuple[Weights, set[int]]:
    """The block's weights with a bank row's *second booking* paired last.

    Contract: a bank row whose whole content (amount, dates, counterparty, text, end-to-end
    and instruction ids, status, storno flag) equals that of an earlier bank row of the block
    (canonical order) is that booking sent again, as banks do, under a new id of their own.
    Its edges lose ``_SECOND_BOOKING_PENALTY``: it still takes a wallet row no other bank row
    of the block can take (two equal payments of one day are two bookings), but it never
    takes one from a neighbour because its date lies a day closer. Inside a run of equal
    payments of one customer this is what keeps a duplicate from shifting every later pair
    by one and leaving the last booking as missing in the wallet. Left unpaired, the second
    booking is the duplicate pass 5 reports (same amount, date and counterparty).
    """
    seen: set[tuple[object, ...]] = set()
    second: set[int] = set()
    for r, b in enumerate(banks):
        content = _booking_content(state.bank[b])
        if content in seen:
            second.add(r)
        seen.add(content)
    if not second:
        return weights, second
    objective = {
        (r, c): max(1, w - _SECOND_BOOKING_PENALTY) if r in second else w
        for (r, c), w in weights.items()
    }
    return objective, second


def _business_days_before(day: int) -> int:
    """Monday-to-Friday days before ``day`` (an ordinal; ordinal 1 is a Monday)."""
    weeks, weekday = divmod(day - 1, 7)
    return weeks * 5 + min(weekday, 5)


#: At most this many ways of leaving second bookings out are compared in one block.
_LEAVE_OUT_CHOICES: Final = 20


def _regular_lag(
    state: RunState, banks: list[int], wallets: list[int], objective: Weights, second: set[int]
) -> Weights:
    """Which second bookings a block with more bank rows than wallet rows leaves out.

    Contract: with ``k = min(bank rows - wallet rows, second bookings)``, every choice of
    ``k`` second bookings to leave out is assigned; the choice kept pairs the most wallet
    rows, then books them with the most regular lag (the least total distance, in business
    days, from the block's median lag: one payer's payments travel the same rails), then
    has the highest weight, then comes first. When Saturday's and Sunday's payments both
    land on Wednesday and the bank also sent Friday's booking twice, the lag-regular reading
    keeps the two Wednesday rows and leaves out the second Friday row, where the objective
    alone would shift every pair by a day. The left-out rows lose their edges.
    """
    surplus = min(len(banks) - len(wallets), len(second))
    choices = list(combinations(sorted(second), surplus))
    if len(choices) < 2 or len(choices) > _LEAVE_OUT_CHOICES:
        return objective
    bank_day, wallet_day = state.bank_day, state.wallet_day
    best: tuple[tuple[int, int, int], Weights] | None = None
    for left_out in choices:
        gone = set(left_out)
        reduced = {k: w for k, w in objective.items() if k[0] not in gone}
        total, assigned = max_weight_assignment(len(banks), len(wallets), reduced)
        lags = sorted(
            _business_days_before(bank_day[banks[r]])
            - _business_days_before(wallet_day[wallets[c]])
            for r, c in enumerate(assigned)
            if c >= 0
        )
        median = lags[len(lags) // 2] if lags else 0
        rank = (-len(lags), sum(abs(lag - median) for lag in lags), -total)
        if best is None or rank < best[0]:
            best = (rank, reduced)
    return best[1] if best is not None else objective


def _greedy(
    state: RunState,
    banks: list[int],
    wallets: list[int],
    weights: Weights,
    objective: Weights,
    size: str,
) -> None:
    taken_rows: set[int] = set()
    taken_cols: set[int] = set()
    for (r, c), _ in sorted(objective.items(), key=lambda item: (-item[1], item[0])):
        if r not in taken_rows and c not in taken_cols:
            taken_rows.add(r)
            taken_cols.add(c)
            _pair(state, banks[r], wallets[c], weights[(r, c)], f"best-first in a {size}")


def _pair(state: RunState, bank_index: int, wallet_index: int, weight: int, how: str) -> None:
    wallet, bank = state.wallet[wallet_index], state.bank[bank_index]
    delta = bank.amount_minor - wallet.amount_minor
    day = state.bank_day[bank_index] - state.wallet_day[wallet_index]
    if not wallet.counterparty or not bank.counterparty:
        party = "counterparty not named on both sides"
    elif wallet.counterparty == bank.counterparty:
        party = "counterparty equal"  # the usual fuzzy pair, decided without tokenising
    else:
        similarity = _name_pair_similarity(wallet.counterparty, bank.counterparty)
        party = (
            "counterparty equal" if similarity == 1 else f"counterparty similar ({similarity:.2f})"
        )
    if not delta:
        # Equal amounts: a handful of distinct reasons a run, each built once.
        key = (day, party, how)
        reasons = _USUAL_REASONS.get(key)
        if reasons is None:
            if len(_USUAL_REASONS) >= _SIMILARITY_MEMO:
                _USUAL_REASONS.clear()  # bounded, like the other memos
            reasons = f"amount equal; {day_phrase(day)}; {party}; {how}"
            _USUAL_REASONS[key] = reasons
    else:
        amount = f"amount differs by {format_minor(delta, bank.currency)}"
        reasons = f"{amount}; {day_phrase(day)}; {party}; {how}"
    settle_pair(state, wallet_index, bank_index, 3, "fuzzy", weight / _SCALE, reasons)


def _ambiguous_block(
    state: RunState, unsure: list[int], edges: dict[int, list[tuple[int, int]]]
) -> None:
    wallet_options: dict[int, list[tuple[int, int]]] = {}
    for bank_index in unsure:
        bank = state.take_bank(bank_index)
        found = sorted(edges[bank_index], key=lambda e: (-e[0], e[1]))
        for weight, w in found:
            if not state.wallet_used[w]:
                wallet_options.setdefault(w, []).append((weight, bank_index))
        state.ambiguous.append(
            AmbiguousRow(
                "bank",
                bank.id,
                3,
                "fuzzy",
                bank.account,
                bank.currency,
                bank.amount_minor,
                tuple(
                    Candidate((state.wallet[w].id,), weight / _SCALE, "equally good assignment")
                    for weight, w in found[:5]
                ),
            )
        )
    for w in sorted(wallet_options):
        wallet = state.take_wallet(w)
        state.ambiguous.append(
            AmbiguousRow(
                "wallet",
                wallet.id,
                3,
                "fuzzy",
                wallet.account,
                wallet.currency,
                wallet.amount_minor,
                tuple(
                    Candidate((state.bank[b].id,), weight / _SCALE, "equally good assignment")
                    for weight, b in sorted(wallet_options[w], key=lambda e: (-e[0], e[1]))[:5]
                ),
            )
        )


def _interchangeable(left: Record, right: Record) -> bool:
    """Twins (same amount, date, counterparty, status): either one is the right answer."""
    return (
        left.amount_minor == right.amount_minor
        and left.value_date == right.value_date
        and left.counterparty == right.counterparty
        and left.status is right.status
    )


def _gross_interval(state: RunState, bank: Record) -> tuple[int, int]:
    """The gross amounts a batch may have for this entry, given the fee rules (integers only).

    The fee is fixed per entry, in ``batch_fee_range`` of the entry's counterparty (plus an
    optional relative part, ``batch_fee_max_bps`` of the gross). Credit: ``gross - fee =
    net``; debit: ``gross + fee = net``.
    """
    config = state.config
    net = abs(bank.amount_minor)
    low_fee, high_fee = config.batch_fee_range(bank.counterparty)
    bps = config.batch_fee_max_bps
    if bank.amount_minor >= 0:
        if bps >= 10_000:
            return net + low_fee, net * 1_000
        return net + low_fee, (net + high_fee) * 10_000 // (10_000 - bps)
    return max(0, -((high_fee - net) * 10_000 // (10_000 + bps))), max(0, net - low_fee)


def unlabelled_batches(state: RunState) -> None:
    """Pass 4: one bank entry against several wallet rows dated shortly before it.

    Contract: bank entries are taken in (value date, canonical position) order, so an earlier
    payout takes its members before a later one looks. Candidates are the free wallet rows of
    the entry's ``(account, currency, direction)`` dated in ``[day - batch_window_days, day]``,
    sorted by (date, position), and, when the entry names a counterparty, only those at least
    ``batch_counterparty_similarity`` similar to it. Contiguous runs whose gross fits the fee
    interval come first (see :func:`_search_batch` for how several runs are decided), then a
    capped meet-in-the-middle subset-sum.
    """
    _batches_for(state, state.free_bank())


class _WindowIndex:
    """One partition's free wallet rows in (date, position) order, and the same per name token.

    A payout names its payer; only rows sharing a token with that name can be similar enough,
    so the token lists narrow a window of hundreds of rows to the payer's own before any
    similarity is computed. The lists are kept per token *and* per number of tokens of the
    row's name, so that a query can skip the lists no similar row needs (see
    :func:`_tokens_to_search`). Built lazily: most partitions never see a named entry.
    """

    def __init__(self, state: RunState, rows: list[int]) -> None:
        self.state = state
        self.rows = rows
        self.days = [state.wallet_day[i] for i in rows]
        # (token, how many tokens the row's name has) -> (days, rows), both in window order.
        self._tokens: dict[tuple[str, int], tuple[list[int], list[int]]] | None = None
        self._sizes: set[int] = set()
        self._scanned = 0  # rows looked at by :meth:`_scan` so far

    def window(self, first_day: int, last_day: int) -> list[int]:
        first, last = bisect_left(self.days, first_day), bisect_right(self.days, last_day)
        used = self.state.wallet_used
        return [i for i in self.rows[first:last] if not used[i]]

    def _scan(self, name: str, first_day: int, last_day: int, threshold: float) -> list[int]:
        """What :meth:`named` finds, by looking at every free row of the window."""
        window = self.window(first_day, last_day)
        self._scanned += len(window)
        tokens, wallet = _tokens(name), self.state.wallet
        unnamed = threshold <= counterparty_similarity("", name)
        # Below the cut length, a named row's similarity is the Jaccard of the token sets
        # (the same float :func:`counterparty_similarity` returns), computed here at once.
        jaccard = len(name) < _CUT_LENGTH
        similar: dict[str, bool] = {}
        kept = []
        for i in window:
            other = wallet[i].counterparty
            ok = similar.get(other)
            if ok is None:
                theirs = _tokens(other)
                # A row is looked at when it shares a token of the name, or has none and
                # "no evidence" is enough: the rows the token lists hold for the name.
                if not theirs:
                    ok = unnamed and counterparty_similarity(other, name) >= threshold
                elif tokens.isdisjoint(theirs):
                    ok = False
                elif jaccard:
                    ok = len(tokens & theirs) / len(tokens | theirs) >= threshold
                else:
                    ok = counterparty_similarity(other, name) >= threshold
                similar[other] = ok
            if ok:
                kept.append(i)
        return kept

    def _build(self) -> dict[tuple[str, int], tuple[list[int], list[int]]]:
        index: dict[tuple[str, int], tuple[list[int], list[int]]] = {}
        wallet, days = self.state.wallet, self.state.wallet_day
        for i in self.rows:
            tokens = _tokens(wallet[i].counterparty)
            size = len(tokens)
            self._sizes.add(size)
            # ("", 0) files the rows without a usable name: similarity 0.5, "no evidence".
            for token in tokens or ("",):
                found = index.get((token, size))
                if found is None:
                    found = index[(token, size)] = ([], [])
                found[0].append(days[i])
                found[1].append(i)
        return index

    def named(self, name: str, first_day: int, last_day: int, threshold: float) -> list[int]:
        if self._tokens is None:
            if self._scanned < len(self.rows):
                # Until the windows scanned add up to the partition, scanning the window
                # costs less than building the lists (most partitions see one or two
                # payouts); the rows kept are the same either way.
                return self._scan(name, first_day, last_day, threshold)
            self._tokens = self._build()
        index = self._tokens
        used, wallet = self.state.wallet_used, self.state.wallet
        hits: set[int] = set()
        keys = [
            (token, size)
            for size in sorted(self._sizes - {0})
            for token in _tokens_to_search(name, size, threshold, index)
        ]
        if threshold <= counterparty_similarity("", name):
            keys.append(("", 0))
        for key in keys:
            found = index.get(key)
            if found is not None:
                first = bisect_left(found[0], first_day)
                last = bisect_right(found[0], last_day)
                hits.update(i for i in found[1][first:last] if not used[i])
        similar: dict[str, bool] = {}
        kept = []
        for i in sorted(hits, key=lambda i: (self.state.wallet_day[i], i)):
            other = wallet[i].counterparty
            ok = similar.get(other)
            if ok is None:
                ok = similar[other] = counterparty_similarity(other, name) >= threshold
            if ok:
                kept.append(i)
        return kept


def _tokens_to_search(
    name: str,
    size: int,
    threshold: float,
    index: dict[tuple[str, int], tuple[list[int], list[int]]],
) -> list[str]:
    """The tokens of ``name`` whose lists of ``size``-token names hold every similar row.

    Contract (a prefix filter, exact): a row whose name has ``size`` tokens, ``shared`` of
    them in ``name``'s ``n``, scores ``shared / (n + size - shared)`` (the Jaccard of
    :func:`counterparty_similarity`, the same float), which grows with ``shared``; with
    ``least`` the smallest ``shared`` reaching ``threshold``, a similar row misses at most
    ``n - least`` of the tokens, so any ``n - least + 1`` of them find it: the ones with the
    shortest lists are searched. "Customer 1234" then looks in the list of "1234" and not
    in the one of "customer", which every row of the partition shares. A name that may be
    cut short (:data:`_CUT_LENGTH`) is similar beyond the Jaccard: all its tokens are
    searched. When no ``shared`` reaches the threshold, no row of this size is searched.
    """
    tokens = sorted(_tokens(name))
    n = len(tokens)
    if len(name) >= _CUT_LENGTH:
        return tokens
    least = next(
        (
            shared
            for shared in range(1, min(n, size) + 1)
            if shared / (n + size - shared) >= threshold
        ),
        None,
    )
    if least is None:
        return []  # no row of this size can be similar enough by the Jaccard alone
    no_list: tuple[list[int], list[int]] = ([], [])
    tokens.sort(key=lambda token: len(index.get((token, size), no_list)[1]))
    return tokens[: n - least + 1]


def _batches_for(state: RunState, bank_rows: list[int]) -> None:
    config = state.config
    by_part: dict[_Partition, _WindowIndex] = {}
    for key, rows in _partitions(state).items():
        # The rows come in ascending position, and the sort is stable: by day alone, they
        # end in (day, position) order, with no key tuple built per row.
        rows.sort(key=state.wallet_day.__getitem__)
        by_part[key] = _WindowIndex(state, rows)
    threshold = config.batch_counterparty_similarity
    twins = _booking_twins(state, bank_rows)
    for bank_index in sorted(bank_rows, key=lambda i: (state.bank_day[i], i)):
        bank = state.bank[bank_index]
        part = by_part.get((bank.account, bank.currency, bank.amount_minor >= 0))
        if part is None or bank.members or state.bank_used[bank_index]:
            continue
        if any(state.bank_used[t] for t in twins.get(bank_index, ())):
            continue  # a second booking of a settled entry: pass 5's duplicate, not a payout
        day = state.bank_day[bank_index]
        first_day = day - config.batch_window_days
        if bank.counterparty and threshold > 0 and _tokens(bank.counterparty):
            # A payout names who pays it (the PSP); its members name the same party.
            candidates = part.named(bank.counterparty, first_day, day, threshold)
        else:
            candidates = part.window(first_day, day)
        if len(candidates) >= config.batch_min_members:
            _search_batch(state, bank_index, candidates)


def _booking_twins(state: RunState, bank_rows: list[int]) -> dict[int, list[int]]:
    """Per bank row to search, the other bank rows of its account with its whole content.

    Contract: the batch search skips an entry whose twin (same account, currency and
    :func:`_booking_content`, not a re-import) is already settled when its turn comes: the
    bank sent that booking twice, and a second booking is not a payout to be explained by
    whatever wallet rows happen to sum to it. Pass 5 then reports it as the duplicate.
    """
    bank = state.bank
    searched = {bank[i].amount_minor for i in bank_rows}
    copies = state.reimported_rows["bank"]
    by_content: dict[tuple[object, ...], list[int]] = {}
    # The amount test runs over every bank row in C; the loop only sees the rows passing it.
    sharing = compress(range(len(bank)), map(searched.__contains__, map(_AMOUNT, bank)))
    for index in sharing:
        if index not in copies:
            record = bank[index]
            key = (record.account, record.currency, *_booking_content(record))
            by_content.setdefault(key, []).append(index)
    out: dict[int, list[int]] = {}
    for rows in by_content.values():
        if len(rows) > 1:
            for index in rows:
                out[index] = [other for other in rows if other != index]
    return out


def _whole_days(state: RunState, candidates: list[int], start: int, end: int) -> bool:
    """Whether the run ``[start, end)`` takes every candidate of the days it touches."""
    days = state.wallet_day
    before = start == 0 or days[candidates[start - 1]] != days[candidates[start]]
    after = end == len(candidates) or days[candidates[end]] != days[candidates[end - 1]]
    return before and after


def _pick_window(
    state: RunState, candidates: list[int], windows: list[tuple[int, int]]
) -> tuple[list[tuple[int, int]], str]:
    """Of several fitting runs, the one a payout would be: whole days, from the oldest row.

    A payout settles everything its payer collected since the previous payout: the run that
    starts at the oldest free candidate and takes whole days. Only when that does not single
    one run out is the entry ambiguous.
    """
    if len(windows) < 2:
        return windows, "contiguous run"

    def rank(w: tuple[int, int]) -> tuple[bool, bool]:
        # Within a day the order of rows says nothing, so "from the oldest" only counts for
        # a run of whole days.
        whole = _whole_days(state, candidates, *w)
        return (not whole, whole and w[0] != 0)

    ranked = sorted(windows, key=lambda w: (rank(w), w))
    if rank(ranked[0]) < rank(ranked[1]):
        return [ranked[0]], f"contiguous run, whole days from the oldest of {len(windows)} fits"
    return [w for w in ranked if rank(w) == rank(ranked[0])], "contiguous run"


def _search_batch(state: RunState, bank_index: int, candidates: list[int]) -> None:
    config = state.config
    bank = state.bank[bank_index]
    low, high = _gross_interval(state, bank)
    amounts = [abs(state.wallet[i].amount_minor) for i in candidates]
    windows = maximal_windows(amounts, low, high, min_size=config.batch_min_members, limit=8)
    windows, how = _pick_window(state, candidates, windows)
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
        solutions, rule, how = list(search.solutions), "subset_sum", "the only subset that fits"
    if len(solutions) == 1:
        members = [state.take_wallet(candidates[p]) for p in solutions[0]]
        state.take_bank(bank_index)
        low_fee, high_fee = config.batch_fee_range(bank.counterparty)
        reasons = (
            f"{len(members)} members sum to the net plus a fee in "
            f"[{format_minor(low_fee, bank.currency)}, {format_minor(high_fee, bank.currency)}]"
            f"; {how}"
        )
        match = batch_match(state, bank, members, pass_no=4, rule=rule)
        state.batches.append(match._replace(reasons=reasons))
    elif solutions:
        state.take_bank(bank_index)
        options = tuple(
            Candidate(
                tuple(state.wallet[candidates[p]].id for p in solution), 0.0, "sum fits the fee"
            )
            for solution in solutions
        )
        state.ambiguous.append(
            AmbiguousRow(
                "bank", bank.id, 4, rule, bank.account, bank.currency, bank.amount_minor, options
            )
        )
