"""The itemised result of a reconciliation: what matched, what broke, and why.

Line items are ``NamedTuple``\\ s rather than attrs classes on purpose: a million-row run
creates a million of them, and a tuple costs a fraction of an attrs instance to build while
being just as immutable. The container, :class:`ReconciliationResult`, is a frozen attrs
class. Amounts are signed integer minor units, as in :class:`~walletlink.reconcile.Record`.
"""

from __future__ import annotations

import enum
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from itertools import accumulate
from typing import Any, NamedTuple, overload

import attrs

from walletlink.reconcile.config import ReconcileConfig

__all__ = [
    "BREAKING_LEFTOVERS",
    "BREAK_CATEGORIES",
    "CATEGORIES",
    "AmbiguousRow",
    "AnomalyFlag",
    "BalanceCheck",
    "BatchMatch",
    "Candidate",
    "Category",
    "CurrencyTotals",
    "DuplicateRow",
    "FieldDiff",
    "MatchedPair",
    "MatchedPairs",
    "Mismatch",
    "PairColumns",
    "ReconciliationResult",
    "ReimportedRow",
    "ReversalMatch",
    "UnmatchedRow",
    "UnresolvedBatch",
]


class Category(enum.StrEnum):
    """Every output category a record can land in; each input record lands in exactly one.

    This enum is the one list of category names: the CLI summary, the reports and the
    benchmark iterate over it rather than spelling the names out again.
    """

    MATCHED = "matched"
    MISMATCHED = "mismatched"
    BATCHED = "batched"
    REVERSED = "reversed"
    DUPLICATE = "duplicate"
    REIMPORTED = "reimported"
    AMBIGUOUS = "ambiguous"
    UNRESOLVED_BATCH = "unresolved_batch"
    PENDING = "pending"
    VOID = "void"
    MISSING_IN_BANK = "missing_in_bank"
    MISSING_IN_WALLET = "missing_in_wallet"


#: The category names as plain strings, in :class:`Category` order.
CATEGORIES = tuple(category.value for category in Category)
#: The leftover categories that are breaks; ``pending`` (inside the settlement lag) and
#: ``void`` (failed in the wallet and absent at the bank) are not.
BREAKING_LEFTOVERS = ("missing_in_bank", "missing_in_wallet")
#: The categories that count as breaks (``matched``, ``reimported``, ``pending`` and ``void``
#: do not).
BREAK_CATEGORIES = (
    "mismatched",
    "batch_residual",
    "duplicate",
    "ambiguous",
    "unresolved_batch",
    "missing_in_bank",
    "missing_in_wallet",
)


class FieldDiff(NamedTuple):
    """One field that differs between two records matched on a key."""

    field: str
    wallet: str
    bank: str
    #: Bank minus wallet, in minor units for ``amount`` and days for ``value_date``.
    delta: int


class MatchedPair(NamedTuple):
    wallet_id: str
    bank_id: str
    pass_no: int
    rule: str
    score: float
    account: str
    currency: str
    amount_minor: int
    date_delta_days: int
    #: Why the pair was made, for a person to accept or reject it:
    #: ``"end_to_end_id equal; amount equal; booked +1 day"``.
    reasons: str = ""


class _PairSequence(Sequence[MatchedPair]):
    """Indexing, equality, hashing and repr as a tuple of the same pairs has them; a
    subclass only says how to build the pair at a valid, non-negative position (``_at``)."""

    __slots__ = ()

    def _at(self, index: int) -> MatchedPair:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> MatchedPair: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[MatchedPair, ...]: ...
    def __getitem__(self, index: int | slice) -> MatchedPair | tuple[MatchedPair, ...]:
        if isinstance(index, slice):
            return tuple(map(self._at, range(*index.indices(len(self)))))
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("pair index out of range")
        return self._at(index)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _PairSequence | tuple | list):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __hash__(self) -> int:
        # Equal to a tuple of the same pairs, so it must hash like one.
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))


class PairColumns(_PairSequence):
    """Matched pairs of one pass and rule as columns: a few bytes a pair, not ~300.

    ``wallet_ids`` / ``bank_ids`` are the ids laid end to end, ``*_lengths`` how long each
    is; ``places``, ``reasons`` and ``scores`` index the shared ``(account, currency)``,
    reason and score values, which a run has few of. Amounts are exact 64-bit integers.
    """

    __slots__ = (
        "_amounts",
        "_bank",
        "_bank_ends",
        "_deltas",
        "_pass_no",
        "_place_of",
        "_places",
        "_reason_of",
        "_reasons",
        "_rule",
        "_score_of",
        "_scores",
        "_wallet",
        "_wallet_ends",
    )

    def __init__(
        self,
        *,
        pass_no: int,
        rule: str,
        wallet_ids: str,
        wallet_lengths: Iterable[int],
        bank_ids: str,
        bank_lengths: Iterable[int],
        places: Sequence[tuple[str, str]],
        place_of: Iterable[int],
        amounts: Iterable[int],
        deltas: Iterable[int],
        reasons: Sequence[str],
        reason_of: Iterable[int],
        scores: Sequence[float],
        score_of: Iterable[int],
    ) -> None:
        self._pass_no, self._rule = pass_no, rule
        self._wallet, self._bank = wallet_ids, bank_ids
        self._wallet_ends = array("I", accumulate(wallet_lengths, initial=0))
        self._bank_ends = array("I", accumulate(bank_lengths, initial=0))
        self._places, self._reasons, self._scores = tuple(places), tuple(reasons), tuple(scores)
        self._place_of = array("i", place_of)
        self._amounts = array("q", amounts)
        self._deltas = array("i", deltas)
        self._reason_of = array("i", reason_of)
        self._score_of = array("i", score_of)
        n = len(self._amounts)
        columns = (self._place_of, self._deltas, self._reason_of, self._score_of)
        if (
            any(len(column) != n for column in columns)
            or len(self._wallet_ends) != n + 1
            or len(self._bank_ends) != n + 1
            or self._wallet_ends[-1] != len(wallet_ids)
            or self._bank_ends[-1] != len(bank_ids)
        ):
            raise ValueError("pair columns of different lengths")

    def __len__(self) -> int:
        return len(self._amounts)

    def _at(self, index: int) -> MatchedPair:
        w, b = self._wallet_ends, self._bank_ends
        account, currency = self._places[self._place_of[index]]
        return MatchedPair(
            self._wallet[w[index] : w[index + 1]],
            self._bank[b[index] : b[index + 1]],
            self._pass_no,
            self._rule,
            self._scores[self._score_of[index]],
            account,
            currency,
            self._amounts[index],
            self._deltas[index],
            self._reasons[self._reason_of[index]],
        )

    def __iter__(self) -> Iterator[MatchedPair]:
        new, pair = tuple.__new__, MatchedPair
        wallet, bank, places = self._wallet, self._bank, self._places
        reasons, scores, pass_no, rule = self._reasons, self._scores, self._pass_no, self._rule
        w, b = self._wallet_ends, self._bank_ends
        columns = (self._place_of, self._amounts, self._deltas, self._reason_of, self._score_of)
        for i, (place, amount, delta, why, score) in enumerate(zip(*columns, strict=True)):
            account, currency = places[place]
            yield new(
                pair,
                (
                    wallet[w[i] : w[i + 1]],
                    bank[b[i] : b[i + 1]],
                    pass_no,
                    rule,
                    scores[score],
                    account,
                    currency,
                    amount,
                    delta,
                    reasons[why],
                ),
            )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unpickle_columns, (self._state(),))

    def _state(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)


def _unpickle_columns(state: tuple[Any, ...]) -> PairColumns:
    columns = object.__new__(PairColumns)
    for name, value in zip(PairColumns.__slots__, state, strict=True):
        object.__setattr__(columns, name, value)
    return columns


class MatchedPairs(_PairSequence):
    """Several sequences of matched pairs (tuples, :class:`PairColumns`) read as one."""

    __slots__ = ("_parts", "_starts")
    _parts: tuple[Sequence[MatchedPair], ...]

    def __init__(self, parts: Iterable[Sequence[MatchedPair]]) -> None:
        flat: list[Sequence[MatchedPair]] = []
        for part in parts:
            if isinstance(part, MatchedPairs):
                flat += part._parts
            elif len(part):
                flat.append(part)
        self._parts = tuple(flat)
        self._starts = array("q", accumulate((len(p) for p in flat), initial=0))

    def __len__(self) -> int:
        return self._starts[-1]

    def _at(self, index: int) -> MatchedPair:
        part = bisect_right(self._starts, index) - 1
        return self._parts[part][index - self._starts[part]]

    def __iter__(self) -> Iterator[MatchedPair]:
        for part in self._parts:
            yield from part

    def __reduce__(self) -> tuple[Any, ...]:
        return (MatchedPairs, (self._parts,))


class Mismatch(NamedTuple):
    """A pair matched on a key (or fuzzily) whose amount, direction, status or date differ."""

    wallet_id: str
    bank_id: str
    pass_no: int
    rule: str
    account: str
    currency: str
    wallet_amount_minor: int
    bank_amount_minor: int
    diffs: tuple[FieldDiff, ...]
    score: float = 1.0
    reasons: str = ""

    @property
    def amount_delta_minor(self) -> int:
        return self.bank_amount_minor - self.wallet_amount_minor


class DuplicateRow(NamedTuple):
    """A record that repeats another one's key (or, without a key, its whole content)."""

    side: str
    record_id: str
    duplicate_of: str
    key: str
    account: str
    currency: str
    amount_minor: int


class ReimportedRow(NamedTuple):
    """A record dropped by hygiene because its source id was already seen on that account."""

    side: str
    record_id: str
    duplicate_of: str
    source_id: str


class BatchMatch(NamedTuple):
    """One bank entry explained by several wallet rows: ``|gross| - fee - |net| = residual``.

    For a debit batch the fee adds to the outflow, so ``|net| - |gross| - fee = residual``.
    """

    bank_id: str
    wallet_ids: tuple[str, ...]
    pass_no: int
    rule: str
    account: str
    currency: str
    gross_minor: int
    fee_minor: int
    net_minor: int
    residual_minor: int
    missing_members: tuple[str, ...]
    reasons: str = ""


class ReversalMatch(NamedTuple):
    """A bank booking and the storno that undoes it, with the wallet row they explain.

    ``wallet_id`` is the wallet's payout the bank returned (the wallet marked it failed or
    returned), or ``""`` when the wallet holds no such row: the bank booked and reversed a
    movement on its own, which nets to zero.
    """

    bank_id: str
    reversal_id: str
    wallet_id: str
    pass_no: int
    rule: str
    account: str
    currency: str
    #: The original booking's signed amount; the reversal carries its opposite.
    amount_minor: int
    score: float
    reasons: str


class Candidate(NamedTuple):
    record_ids: tuple[str, ...]
    score: float
    reasons: str = ""


class AmbiguousRow(NamedTuple):
    """A bank entry with several equally good explanations: for a person to decide."""

    side: str
    record_id: str
    pass_no: int
    rule: str
    account: str
    currency: str
    amount_minor: int
    candidates: tuple[Candidate, ...]


class UnresolvedBatch(NamedTuple):
    """A bank entry whose subset-sum search ran out of budget before it could decide."""

    bank_id: str
    account: str
    currency: str
    amount_minor: int
    candidates: int
    work: int


class UnmatchedRow(NamedTuple):
    """A leftover: ``missing_in_bank``, ``pending`` (inside the lag), ``void`` (failed in the
    wallet, absent at the bank) or ``missing_in_wallet``."""

    category: str
    side: str
    record_id: str
    account: str
    currency: str
    amount_minor: int
    value_date: date


class BalanceCheck(NamedTuple):
    """``opening + entries = closing`` for one statement; ``difference`` is 0 when it holds."""

    statement: str
    account: str
    currency: str
    opening_minor: int
    entries_minor: int
    closing_minor: int

    @property
    def difference_minor(self) -> int:
        return self.closing_minor - self.opening_minor - self.entries_minor

    @property
    def ok(self) -> bool:
        return self.difference_minor == 0


class AnomalyFlag(NamedTuple):
    """A pattern worth a look, independent of matching; ``reason`` says why it was raised."""

    kind: str
    side: str
    record_ids: tuple[str, ...]
    account: str
    currency: str
    reason: str


class CurrencyTotals(NamedTuple):
    currency: str
    wallet_count: int
    wallet_total_minor: int
    bank_count: int
    bank_total_minor: int
    matched_count: int
    #: Break items (a mismatch counts once) and the absolute amount they put at stake.
    break_count: int
    break_amount_minor: int


@attrs.frozen(kw_only=True)
class ReconciliationResult:
    """Everything a run found, each list in a deterministic order."""

    as_of: date
    config: ReconcileConfig
    #: A tuple from the Python engine; the DuckDB engine's :class:`MatchedPairs` holds its
    #: millions of SQL pairs as columns and builds each :class:`MatchedPair` on access.
    matched: Sequence[MatchedPair] = ()
    mismatched: tuple[Mismatch, ...] = ()
    batches: tuple[BatchMatch, ...] = ()
    reversals: tuple[ReversalMatch, ...] = ()
    duplicates: tuple[DuplicateRow, ...] = ()
    reimported: tuple[ReimportedRow, ...] = ()
    ambiguous: tuple[AmbiguousRow, ...] = ()
    unresolved_batches: tuple[UnresolvedBatch, ...] = ()
    unmatched: tuple[UnmatchedRow, ...] = ()
    balance_checks: tuple[BalanceCheck, ...] = ()
    anomalies: tuple[AnomalyFlag, ...] = ()
    totals: tuple[CurrencyTotals, ...] = ()
    #: Hygiene: extra occurrences of id-less bank records identical to another (kept, counted).
    identical_without_id: int = 0
    pass_seconds: tuple[tuple[str, float], ...] = attrs.field(default=(), eq=False)

    def assignments(self) -> Iterator[tuple[str, str, str]]:
        """Every input record once, as ``(side, record_id, category)``."""
        for m in self.matched:
            yield "wallet", m.wallet_id, "matched"
            yield "bank", m.bank_id, "matched"
        for mm in self.mismatched:
            yield "wallet", mm.wallet_id, "mismatched"
            yield "bank", mm.bank_id, "mismatched"
        for b in self.batches:
            yield "bank", b.bank_id, "batched"
            for wallet_id in b.wallet_ids:
                yield "wallet", wallet_id, "batched"
        for rv in self.reversals:
            yield "bank", rv.bank_id, "reversed"
            yield "bank", rv.reversal_id, "reversed"
            if rv.wallet_id:
                yield "wallet", rv.wallet_id, "reversed"
        for d in self.duplicates:
            yield d.side, d.record_id, "duplicate"
        for r in self.reimported:
            yield r.side, r.record_id, "reimported"
        for a in self.ambiguous:
            yield a.side, a.record_id, "ambiguous"
        for u in self.unresolved_batches:
            yield "bank", u.bank_id, "unresolved_batch"
        for row in self.unmatched:
            yield row.side, row.record_id, row.category

    def break_counts(self) -> dict[str, int]:
        """How many items each break category holds (a batch counts when it has a residual)."""
        missing_in_bank = sum(1 for r in self.unmatched if r.category == "missing_in_bank")
        return {
            "mismatched": len(self.mismatched),
            "batch_residual": sum(1 for b in self.batches if b.residual_minor),
            "duplicate": len(self.duplicates),
            "ambiguous": len(self.ambiguous),
            "unresolved_batch": len(self.unresolved_batches),
            "missing_in_bank": missing_in_bank,
            "missing_in_wallet": sum(
                1 for r in self.unmatched if r.category == "missing_in_wallet"
            ),
        }

    @property
    def has_breaks(self) -> bool:
        """Whether anything needs a person: any break, or a statement that does not balance."""
        return any(self.break_counts().values()) or any(not c.ok for c in self.balance_checks)
