"""The mutable working state of one run, shared by the passes and thrown away at the end.

Records are addressed by their position in the canonically sorted input of their side, and a
``bytearray`` per side says which positions are already used. :meth:`RunState.take` is the one
place a record is consumed; it refuses a second use, so "no record is used twice" is checked
on every run, not only in the tests.
"""

from __future__ import annotations

from datetime import date
from itertools import compress, islice
from operator import attrgetter, eq, le
from typing import Final

from walletlink.errors import WalletLinkError
from walletlink.reconcile.config import ReconcileConfig
from walletlink.reconcile.records import Record
from walletlink.reconcile.results import (
    AmbiguousRow,
    BatchMatch,
    DuplicateRow,
    MatchedPair,
    Mismatch,
    ReimportedRow,
    ReversalMatch,
    UnmatchedRow,
    UnresolvedBatch,
)

__all__ = ["RunState", "canonical_order"]

# Every field that can tell two records apart, except the two that may be None.
_FULL_KEY: Final = attrgetter(
    "id",
    "account",
    "currency",
    "amount_minor",
    "value_date",
    "status",
    "end_to_end_id",
    "instruction_id",
    "bank_reference",
    "idempotency_key",
    "source_id",
    "batch_id",
    "counterparty",
    "text",
    "source",
    "reversal",
)
_ID: Final = attrgetter("id")
_VALUE_DATE: Final = attrgetter("value_date")
# Turns a used-flags bytearray into "free" flags (1 where the flag is 0) in one C call.
_FREE: Final = bytes([1] + [0] * 255)


def canonical_order(records: list[Record]) -> list[Record]:
    """Sort by id, and records sharing an id by their whole content.

    This is what makes the result independent of the input order. Sorting a million records by
    id alone is cheap; the full key is only built for the rare runs of equal ids.
    """
    ids = list(map(_ID, records))
    if all(map(le, ids, islice(ids, 1, None))):
        records = list(records)  # already in id order (generators and exports often are)
    else:
        records = sorted(records, key=_ID)
        ids = list(map(_ID, records))
    # Sorted, equal ids are neighbours: comparing each with the next (in C) needs no set of
    # a million strings.
    if not any(map(eq, ids, islice(ids, 1, None))):
        return records  # the usual case: unique ids, nothing left to order
    start = 0
    n = len(records)
    while start < n:
        end = start + 1
        ident = records[start].id
        while end < n and records[end].id == ident:
            end += 1
        if end - start > 1:
            records[start:end] = sorted(records[start:end], key=_FULL_KEY)
        start = end
    return records


def _day_numbers(records: list[Record]) -> list[int]:
    """Value dates as integer day numbers; a run spans few distinct dates, so each distinct
    date is converted once and the list is filled by C loops (``map``) rather than Python's."""
    days = list(map(_VALUE_DATE, records))
    number = {day: day.toordinal() for day in set(days)}
    return list(map(number.__getitem__, days))


def _free(used: bytearray) -> list[int]:
    """Positions whose used flag is 0, ascending; passes ask for them at every step, so the
    scan runs in C (``translate`` and ``compress``) instead of a comprehension over a million."""
    return list(compress(range(len(used)), used.translate(_FREE)))


class RunState:
    """Both sides in canonical order, their used flags and the items found so far."""

    def __init__(self, wallet: list[Record], bank: list[Record], config: ReconcileConfig) -> None:
        self.config = config
        self.wallet = wallet
        self.bank = bank
        self.wallet_used = bytearray(len(wallet))
        self.bank_used = bytearray(len(bank))
        self.wallet_day = _day_numbers(wallet)
        self.bank_day = _day_numbers(bank)
        self.matched: list[MatchedPair] = []
        self.mismatched: list[Mismatch] = []
        self.batches: list[BatchMatch] = []
        self.duplicates: list[DuplicateRow] = []
        self.reimported: list[ReimportedRow] = []
        self.reversals: list[ReversalMatch] = []
        #: Positions taken as re-imports: copies, never the original of a later duplicate.
        self.reimported_rows: dict[str, set[int]] = {"wallet": set(), "bank": set()}
        self.ambiguous: list[AmbiguousRow] = []
        self.unresolved: list[UnresolvedBatch] = []
        self.unmatched: list[UnmatchedRow] = []
        self.identical_without_id = 0

    def take_wallet(self, index: int) -> Record:
        if self.wallet_used[index]:
            raise WalletLinkError(f"internal error: wallet record {index} used twice")
        self.wallet_used[index] = 1
        return self.wallet[index]

    def take_bank(self, index: int) -> Record:
        if self.bank_used[index]:
            raise WalletLinkError(f"internal error: bank record {index} used twice")
        self.bank_used[index] = 1
        return self.bank[index]

    def free_wallet(self) -> list[int]:
        return _free(self.wallet_used)

    def free_bank(self) -> list[int]:
        return _free(self.bank_used)

    def as_of_day(self, as_of: date | None) -> int:
        """``as_of`` as a day number; by default the latest date seen on either side."""
        if as_of is not None:
            return as_of.toordinal()
        # No clock here: the engine is a pure function of its inputs.
        return max(max(self.wallet_day, default=1), max(self.bank_day, default=1))
