"""Pass 6 (run right after hygiene): a bank storno, the booking it undoes, and the wallet row.

A returned payout reaches reconciliation as three records: the wallet's payout, which the
wallet marked ``failed`` or ``returned``; the bank's debit; and the bank's reversal credit
(camt ``RvslInd``, MT940 ``RD``), or the mirror image for a returned collection. Left to the
key pass, the debit would pair with the wallet row as a status mismatch and the reversal,
holding the same end-to-end id, would look like a duplicate. This pass takes the three
together as one ``reversed`` item before any other pass sees them.

Contract (what a second engine must reproduce):

- input: free bank rows with ``reversal`` set, processed by (value date, canonical position);
- original: a free bank row, not itself a reversal, same account and currency, amount exactly
  the opposite, dated on or before the reversal and at most ``reversal_window_days`` earlier.
  First one sharing the reversal's end-to-end or instruction id (latest such booking first),
  else the best by amount: counterparty similarity (named parties must be at least 0.5
  similar), then the latest date, then the canonical position;
- wallet: a free wallet row, status ``failed`` or ``returned``, same account, currency and
  amount as the original, dated within ``date_window_days`` of it; one sharing a reference
  with the original or the reversal first, else the best by counterparty, then date gap.
  A wallet row the wallet still holds as ``booked`` is not taken: it ends ``missing_in_bank``,
  which is the break (the wallet believes money left that came back);
- output: one :class:`~walletlink.reconcile.results.ReversalMatch` per reversal paired with an
  original; a reversal without an original is left to the later passes.
"""

from __future__ import annotations

from itertools import compress
from operator import attrgetter, not_
from typing import Final

from walletlink.reconcile._state import RunState
from walletlink.reconcile.fuzzy import counterparty_similarity
from walletlink.reconcile.passes import day_phrase, reference_label
from walletlink.reconcile.records import Record, RecordStatus
from walletlink.reconcile.results import ReversalMatch

__all__ = ["REVERSAL_PASS", "reversals"]

#: The ``pass_no`` of reversal items. Pass numbers name passes; they are not the run order.
REVERSAL_PASS: Final = 6
_REFS: Final = ("end_to_end_id", "instruction_id")
_RETURNED: Final = (RecordStatus.FAILED, RecordStatus.RETURNED)
_MIN_SIMILARITY: Final = 0.5
_REVERSAL: Final = attrgetter("reversal")
_STATUS: Final = attrgetter("status")


def _named_apart(left: Record, right: Record) -> bool:
    """Both parties are named and clearly different: never the same movement."""
    return bool(left.counterparty and right.counterparty) and (
        counterparty_similarity(left.counterparty, right.counterparty) < _MIN_SIMILARITY
    )


class _Index:
    """Free rows of one side by ``(account, reference)`` and by ``(account, currency, amount)``.

    Only rows whose amount or references some storno asks for are indexed: stornos are few,
    so this keeps the pass linear with a small constant at a million rows.
    """

    def __init__(
        self, records: list[Record], rows: list[int], amounts: set[int], refs: set[str]
    ) -> None:
        self.by_ref: dict[tuple[str, str], list[int]] = {}
        self.by_amount: dict[tuple[str, str, int], list[int]] = {}
        for i in rows:
            record = records[i]
            if record.amount_minor in amounts:
                key = (record.account, record.currency, record.amount_minor)
                self.by_amount.setdefault(key, []).append(i)
            # The two fields of _REFS, read directly: this loop sees every free row.
            for value in (record.end_to_end_id, record.instruction_id):
                if value and value in refs:
                    self.by_ref.setdefault((record.account, value), []).append(i)


def _refs(record: Record) -> list[str]:
    return [value for value in (getattr(record, f) for f in _REFS) if value]


def reversals(state: RunState) -> None:
    """Pair each bank reversal with its original booking and the wallet row they explain."""
    bank = state.bank
    free = state.free_bank()
    # Every bank row's flag read once, in C; both lists below are cut from it.
    flags = list(map(_REVERSAL, map(bank.__getitem__, free)))
    stornos = list(compress(free, flags))
    if not stornos:
        return
    amounts = {-bank[i].amount_minor for i in stornos}
    refs = {getattr(bank[i], field) for i in stornos for field in _REFS} - {""}
    originals = _Index(bank, list(compress(free, map(not_, flags))), amounts, refs)
    # A wallet row may carry the original's references rather than the storno's.
    refs |= {v for rows in originals.by_amount.values() for i in rows for v in _refs(bank[i])}
    free_wallet = state.free_wallet()
    statuses = map(_STATUS, map(state.wallet.__getitem__, free_wallet))
    wallet_rows = list(compress(free_wallet, map(_RETURNED.__contains__, statuses)))
    wallets = _Index(state.wallet, wallet_rows, amounts, refs)
    stornos.sort(key=lambda i: (state.bank_day[i], i))
    for storno in stornos:
        found = _original(state, storno, originals)
        if found is None:
            continue
        original, rule, reasons = found
        wallet = _wallet_row(state, original, storno, wallets)
        state.take_bank(original)
        reversal = state.take_bank(storno)
        booking = bank[original]
        wallet_id = ""
        score = 1.0 if rule == "reversal:reference" else 0.9
        if wallet is not None:
            wallet_id = state.take_wallet(wallet[0]).id
            reasons.append(wallet[1])
        else:
            reasons.append("no returned wallet row: the bank booked and reversed on its own")
        state.reversals.append(
            ReversalMatch(
                booking.id,
                reversal.id,
                wallet_id,
                REVERSAL_PASS,
                rule,
                booking.account,
                booking.currency,
                booking.amount_minor,
                score,
                "; ".join(reasons),
            )
        )


def _original(state: RunState, storno: int, originals: _Index) -> tuple[int, str, list[str]] | None:
    bank, days, used = state.bank, state.bank_day, state.bank_used
    reversal = bank[storno]
    day = days[storno]
    window = state.config.reversal_window_days

    def fits(i: int) -> bool:
        record = bank[i]
        return (
            not used[i]
            and record.currency == reversal.currency
            and record.amount_minor == -reversal.amount_minor
            and 0 <= day - days[i] <= window
        )

    for field in _REFS:
        value = getattr(reversal, field)
        hits = [i for i in originals.by_ref.get((reversal.account, value), ()) if fits(i)]
        if value and hits:
            best = max(hits, key=lambda i: (days[i], -i))
            return best, "reversal:reference", _reasons(reversal, field, day - days[best])
    key = (reversal.account, reversal.currency, -reversal.amount_minor)
    hits = [
        i
        for i in originals.by_amount.get(key, ())
        if fits(i) and not _named_apart(bank[i], reversal)
    ]
    if not hits:
        return None
    best = max(
        hits,
        key=lambda i: (
            counterparty_similarity(bank[i].counterparty, reversal.counterparty),
            days[i],
            -i,
        ),
    )
    return best, "reversal:amount", _reasons(reversal, "", day - days[best])


def _reasons(reversal: Record, field: str, gap: int) -> list[str]:
    reasons = ["reversal flag"]
    if field:
        reasons.append(f"{reference_label(field)} equal")
    reasons.append("amount opposite")
    if reversal.counterparty:
        reasons.append("counterparty compatible")
    reasons.append(f"reversed {day_phrase(gap).removeprefix('booked ')} after the booking")
    return reasons


def _wallet_row(
    state: RunState, original: int, storno: int, wallets: _Index
) -> tuple[int, str] | None:
    booking, reversal = state.bank[original], state.bank[storno]
    wallet, days, used = state.wallet, state.wallet_day, state.wallet_used
    day = state.bank_day[original]
    window = state.config.date_window_days

    def fits(i: int) -> bool:
        record = wallet[i]
        return (
            not used[i]
            and record.currency == booking.currency
            and record.amount_minor == booking.amount_minor
            and abs(days[i] - day) <= window
        )

    for source in (booking, reversal):
        for field in _REFS:
            value = getattr(source, field)
            hits = [i for i in wallets.by_ref.get((booking.account, value), ()) if fits(i)]
            if value and hits:
                best = min(hits, key=lambda i: (abs(days[i] - day), i))
                return best, f"wallet {wallet[best].status} payout, {reference_label(field)} equal"
    key = (booking.account, booking.currency, booking.amount_minor)
    hits = [
        i
        for i in wallets.by_amount.get(key, ())
        if fits(i) and not _named_apart(wallet[i], booking)
    ]
    if not hits:
        return None
    best = max(
        hits,
        key=lambda i: (
            counterparty_similarity(wallet[i].counterparty, booking.counterparty),
            -abs(days[i] - day),
            -i,
        ),
    )
    return best, f"wallet {wallet[best].status} payout, amount and counterparty equal"
