"""Passes 0, 1, 2 and 5: hygiene, exact keys, known batches and leftovers.

Each pass walks records in canonical order, consumes what it decides through
:meth:`RunState.take_wallet` / :meth:`RunState.take_bank`, and leaves the rest to the next
pass. Passes 3 and 4, the searching ones, live in :mod:`walletlink.reconcile.fuzzy`.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import compress, repeat
from operator import attrgetter, itemgetter, ne, not_
from typing import Final, NamedTuple

from walletlink.errors import WalletLinkError
from walletlink.reconcile._state import RunState
from walletlink.reconcile.records import Record, RecordStatus, format_minor
from walletlink.reconcile.results import (
    BatchMatch,
    DuplicateRow,
    FieldDiff,
    MatchedPair,
    Mismatch,
    ReimportedRow,
    UnmatchedRow,
)

# NamedTuple's generated __new__ is a Python function; the tuple constructor builds the same
# immutable item several times faster, which matters for a million matched pairs.
_new = tuple.__new__
_SOURCE_ID = attrgetter("source_id")
_SOURCE = attrgetter("source")
_ACCOUNT_AND_SOURCE = attrgetter("account", "source_id")
_ACCOUNT = attrgetter("account")
_FIRST = itemgetter(0)
_AMOUNT = attrgetter("amount_minor")
_MARKER_PIECE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*[A-Za-z0-9]")

__all__ = [
    "day_phrase",
    "exact_keys",
    "field_diffs",
    "hygiene",
    "known_batches",
    "leftovers",
    "reference_label",
    "settle_pair",
]


def hygiene(state: RunState) -> None:
    """Pass 0: drop re-imports by source id per account; count id-less identical twins.

    Contract: on each side, a row whose ``source_id`` an earlier row (canonical order) of the
    same account already has is ``reimported``: the same booking delivered again, in another
    file or another format (camt.053 and MT940 of one day share the account servicer's
    reference). Bank rows the source id did not tie are then compared by content across
    deliveries (see :func:`_reimported_by_content`). A repeat *within* one delivery is never
    a re-import: it is left to the key and leftover passes, which call it a duplicate.
    """
    originals: set[int] = set()  # bank rows a re-import by source id was tied to
    bank_sources: list[str] = []
    for side, records, take in (
        ("wallet", state.wallet, state.take_wallet),
        ("bank", state.bank, state.take_bank),
    ):
        # Whole-list steps (map, compress, dict(zip)) rather than a loop per row: a million
        # rows, and usually not one repeat among them.
        sources = list(map(_SOURCE_ID, records))
        if side == "bank":
            bank_sources = sources  # the id-less rows are looked at below
        given = list(compress(sources, sources))
        if len(set(given)) == len(given):
            continue  # no source id repeats at all, so none on an account: one C pass tells
        indices = list(compress(range(len(sources)), sources))
        keys = list(map(_ACCOUNT_AND_SOURCE, map(records.__getitem__, indices)))
        # Filled from the end, so each key keeps its earliest position.
        first_seen = dict(zip(reversed(keys), reversed(indices), strict=True))
        if len(first_seen) == len(keys):
            continue  # no source id repeats on an account: nothing re-imported
        # Only the repeats are visited: which rows are no key's first one is told in C.
        firsts = list(map(first_seen.__getitem__, keys))
        repeats = list(map(ne, firsts, indices))
        for index, first in zip(compress(indices, repeats), compress(firsts, repeats), strict=True):
            record = take(index)
            state.reimported_rows[side].add(index)
            if side == "bank":
                originals.add(first)
            state.reimported.append(
                ReimportedRow(side, record.id, records[first].id, record.source_id)
            )
    _reimported_by_content(state, originals)
    bank = state.bank
    idless = list(compress(range(len(bank_sources)), map(not_, bank_sources)))
    # Identical id-less rows are legitimate until proven otherwise (two coffees, one day):
    # they stay in the run and are only counted, so a reviewer sees the number.
    content = Counter(
        (r.account, r.currency, r.amount_minor, r.value_date, r.counterparty, r.text)
        for r in [bank[i] for i in idless]
    )
    state.identical_without_id = sum(count - 1 for count in content.values() if count > 1)


def _delivery(record: Record) -> str:
    return record.source.partition("#")[0]


#: The references two deliveries of one booking may each carry; a shared one pairs first.
_BOOKING_REFERENCES: Final = ("end_to_end_id", "instruction_id", "bank_reference")


def _same_booking(kept: Record, other: Record) -> bool:
    """Whether two bank rows of equal account, currency, amount and dates can be one booking.

    Nothing may contradict it: both account servicer references, when both are given, agree;
    status and storno flag agree; the counterparty names are not different parties (at least
    half-similar as :func:`~walletlink.reconcile.fuzzy.counterparty_similarity` compares
    them, so MT940's upper-cased, transliterated, cut names still agree with camt's).
    """
    from walletlink.reconcile.fuzzy import counterparty_similarity  # fuzzy imports this module

    if kept.bank_reference and other.bank_reference and kept.bank_reference != other.bank_reference:
        return False
    if kept.status is not other.status or kept.reversal is not other.reversal:
        return False
    return counterparty_similarity(kept.counterparty, other.counterparty) >= 0.5


def _shares_reference(kept: Record, other: Record) -> bool:
    mine = {getattr(kept, f) for f in _BOOKING_REFERENCES} - {""}
    return any(getattr(other, f) in mine for f in _BOOKING_REFERENCES)


def _entry_number(record: Record) -> int:
    """The entry's position in its delivery (``"<file>#<n>"``), 0 when it has none."""
    number = record.source.partition("#")[2]
    return int(number) if number.isdigit() else 0


def _reimported_by_content(state: RunState, originals: set[int]) -> None:
    """Bank rows the source id did not tie: the same booking in two deliveries, by content.

    Contract: two deliveries (files) that both report an account's booking day report the
    same bookings, whatever references each format kept (an MT940 ``:61:`` customer
    reference is often not the camt ``EndToEndId``, and one format may lack the account
    servicer's reference). Free bank rows that are no original of a re-import by source id
    are grouped by (account, currency, amount, value date, booking date); per group, the
    delivery whose first row comes first (canonical order) keeps its rows, and each row of
    another delivery is a re-import of one kept row it can be (:func:`_same_booking`), one
    for one: rows sharing a reference first, then the rest in entry order (the ``#n`` of
    ``source``). Rows left over
    (a delivery holding more of them) stay for the later passes.
    """
    bank, used = state.bank, state.bank_used
    # Each row's delivery (its source up to "#"), cut in C straight from the records: a set
    # of the million distinct sources first would cost as much again. Records built in code
    # usually have no source at all, which this tells as well.
    delivered = set(map(_FIRST, map(str.partition, map(_SOURCE, bank), repeat("#"))))
    if len(delivered - {""}) < 2:
        return  # one delivery: nothing can have come twice (the common run, kept cheap)
    free = [i for i, r in enumerate(bank) if not used[i] and r.source and i not in originals]
    groups: dict[tuple[str, str, int, object, object], dict[str, list[int]]] = {}
    for index in free:
        r = bank[index]
        key = (r.account, r.currency, r.amount_minor, r.value_date, r.booking_date)
        groups.setdefault(key, {}).setdefault(_delivery(r), []).append(index)
    for deliveries in groups.values():
        if len(deliveries) < 2:
            continue
        ordered = sorted(deliveries.values(), key=lambda rows: rows[0])
        kept = sorted(ordered[0], key=lambda i: (_entry_number(bank[i]), i))
        for found in ordered[1:]:
            rows = sorted(found, key=lambda i: (_entry_number(bank[i]), i))
            left = list(kept)
            pairs: dict[int, int] = {}  # re-import -> the kept row it repeats
            for evidence in (_shares_reference, None):
                for index in [i for i in rows if i not in pairs]:
                    record = bank[index]
                    for original in left:
                        candidate = bank[original]
                        if (evidence is None or evidence(candidate, record)) and _same_booking(
                            candidate, record
                        ):
                            left.remove(original)
                            pairs[index] = original
                            break
            for index, original in sorted(pairs.items()):
                record = state.take_bank(index)
                state.reimported_rows["bank"].add(index)
                how = "same booking in another delivery (amount, dates, counterparty)"
                state.reimported.append(ReimportedRow("bank", record.id, bank[original].id, how))


def field_diffs(
    wallet: Record, bank: Record, wallet_day: int, bank_day: int, date_tolerance: int
) -> tuple[FieldDiff, ...]:
    """The fields on which two records said to be the same movement disagree."""
    if (
        wallet.amount_minor == bank.amount_minor
        and wallet.currency == bank.currency
        and wallet.status is bank.status
        and abs(bank_day - wallet_day) <= date_tolerance
    ):
        return ()  # the common case, decided without building anything
    diffs: list[FieldDiff] = []
    if wallet.currency != bank.currency:
        diffs.append(FieldDiff("currency", wallet.currency, bank.currency, 0))
    elif wallet.amount_minor != bank.amount_minor:
        if (wallet.amount_minor >= 0) != (bank.amount_minor >= 0):
            diffs.append(FieldDiff("direction", wallet.direction, bank.direction, 0))
        if abs(wallet.amount_minor) != abs(bank.amount_minor):
            diffs.append(
                FieldDiff(
                    "amount",
                    format_minor(wallet.amount_minor, wallet.currency),
                    format_minor(bank.amount_minor, bank.currency),
                    bank.amount_minor - wallet.amount_minor,
                )
            )
    if wallet.status is not bank.status:
        diffs.append(FieldDiff("status", str(wallet.status), str(bank.status), 0))
    if abs(bank_day - wallet_day) > date_tolerance:
        diffs.append(
            FieldDiff(
                "value_date",
                wallet.value_date.isoformat(),
                bank.value_date.isoformat(),
                bank_day - wallet_day,
            )
        )
    return tuple(diffs)


_REFERENCE_LABELS = {
    "end_to_end_id": "end-to-end id",
    "instruction_id": "instruction id",
    "bank_reference": "bank reference",
    "idempotency_key": "idempotency key",
}
# Reasons repeat (one rule, a handful of day deltas): build each string once per run.
_REASON_CACHE: dict[tuple[str, int], str] = {}


def reference_label(field: str) -> str:
    """``"end_to_end_id"`` → ``"end-to-end id"``: how a reason names a reference field."""
    return _REFERENCE_LABELS.get(field, field)


def day_phrase(delta: int) -> str:
    """``0`` → ``"booked same day"``, ``1`` → ``"booked +1 day"``, ``-2`` → ``"booked -2 days"``."""
    if delta == 0:
        return "booked same day"
    return f"booked {delta:+d} day" + ("" if abs(delta) == 1 else "s")


def _key_reasons(rule: str, delta: int) -> str:
    found = _REASON_CACHE.get((rule, delta))
    if found is None:
        field = rule.partition(":")[2]
        found = f"{reference_label(field)} equal; amount equal; {day_phrase(delta)}"
        _REASON_CACHE[(rule, delta)] = found
    return found


def settle_pair(
    state: RunState,
    wallet_index: int,
    bank_index: int,
    pass_no: int,
    rule: str,
    score: float,
    reasons: str = "",
) -> None:
    """Consume a wallet/bank pair as ``matched``, or ``mismatched`` naming what differs.

    ``reasons`` explains the pairing; for an exact-key rule it is built here when not given.
    This runs once per matched pair, a million times in a large run, so the consumption check
    of :meth:`RunState.take_wallet` and the agreeing case of :func:`field_diffs` are inlined.
    """
    wallet_used, bank_used = state.wallet_used, state.bank_used
    if wallet_used[wallet_index] or bank_used[bank_index]:
        raise WalletLinkError(f"internal error: pair {wallet_index}/{bank_index} used twice")
    wallet_used[wallet_index] = bank_used[bank_index] = 1
    wallet = state.wallet[wallet_index]
    bank = state.bank[bank_index]
    day_delta = state.bank_day[bank_index] - state.wallet_day[wallet_index]
    tolerance = state.config.key_date_tolerance_days
    if (
        wallet.amount_minor == bank.amount_minor
        and wallet.currency == bank.currency
        and wallet.status is bank.status
        and -tolerance <= day_delta <= tolerance
    ):
        state.matched.append(
            _new(
                MatchedPair,
                (
                    wallet.id,
                    bank.id,
                    pass_no,
                    rule,
                    score,
                    bank.account,
                    bank.currency,
                    bank.amount_minor,
                    day_delta,
                    reasons or _key_reasons(rule, day_delta),
                ),
            )
        )
        return
    diffs = field_diffs(wallet, bank, 0, day_delta, tolerance)
    if not reasons:
        reasons = f"{reference_label(rule.partition(':')[2])} equal"
    differs = "; ".join(f"{d.field} differs ({d.wallet} vs {d.bank})" for d in diffs)
    state.mismatched.append(
        Mismatch(
            wallet.id,
            bank.id,
            pass_no,
            rule,
            bank.account,
            bank.currency,
            wallet.amount_minor,
            bank.amount_minor,
            diffs,
            score,
            f"{reasons}; {differs}",
        )
    )


# An index maps account -> reference -> row position, or a list of positions when a
# reference repeats (rare). Nesting by account keeps the reference string itself as the key:
# no tuple per row, which at a million rows is most of this pass's time.
_Index = dict[str, dict[str, "int | list[int]"]]


def _rows(hit: int | list[int]) -> list[int]:
    return [hit] if isinstance(hit, int) else hit


def exact_keys(state: RunState) -> None:
    """Pass 1: pair records that share a strong reference on the same account.

    A hit that disagrees on amount, direction, status or date is a mismatch, never a miss.
    When a key is held by several rows of a side, the surplus rows are duplicates.
    """
    free_bank, free_wallet = state.free_bank(), state.free_wallet()
    for field in state.config.strong_references:
        # Each field only looks at rows still free: after the first, that is a small rest.
        bank_used, wallet_used = state.bank_used, state.wallet_used
        free_bank = [i for i in free_bank if not bank_used[i]]
        free_wallet = [i for i in free_wallet if not wallet_used[i]]
        _key_field(state, field, free_wallet, free_bank)


class _Column(NamedTuple):
    """One side's free rows holding a value of the field, in canonical order."""

    positions: list[int]
    values: list[str]
    records: list[Record]
    accounts: list[str]


def _column(records: list[Record], positions: list[int], field: str) -> _Column:
    rows = list(map(records.__getitem__, positions))
    values = list(map(attrgetter(field), rows))
    # Most fields are empty on most rows: ``compress`` skips those in C.
    rows = list(compress(rows, values))
    return _Column(
        list(compress(positions, values)),
        list(compress(values, values)),
        rows,
        list(map(_ACCOUNT, rows)),
    )


def _repeated(values: list[str]) -> set[str]:
    """The values held by more than one row (usually none: one C pass tells)."""
    if len(set(values)) == len(values):
        return set()
    return {value for value, count in Counter(values).items() if count > 1}


# A wallet row's step in its account's stream of key decisions: (items before it, wallet
# position, bank position, value); a bank position of -1 marks a repeated value's group.
_Step = tuple[int, int, int, str]


def _key_field(state: RunState, field: str, free_wallet: list[int], free_bank: list[int]) -> None:
    """One field's key pass: the same decisions, in the same order, as walking the nested
    account -> value index of both sides, without walking records in that order.

    Records visited in account order are scattered over the heap: at a million rows each
    visit misses the cache, ten times slower than the canonical order they were built in. So
    every value held by one row on each side (by far the common case) is decided here in
    canonical wallet order, its matched pair kept in its account's stream; the values held
    more than once on a side go through the nested index (:func:`_repeated_indices`), which
    they are few enough for. Each (account, value) group's decision touches only its own rows, so
    only the order the items are reported in depends on the walk, and the streams restore
    it: accounts in order of their first wallet row, then each group at its first row.
    """
    wallet, bank = state.wallet, state.bank
    wallet_used, bank_used = state.wallet_used, state.bank_used
    wallet_day, bank_day = state.wallet_day, state.bank_day
    tolerance = state.config.key_date_tolerance_days
    rule = f"exact:{field}"
    w = _column(wallet, free_wallet, field)
    b = _column(bank, free_bank, field)
    repeated = _repeated(w.values) | _repeated(b.values)
    bank_at = dict(zip(b.values, b.positions, strict=True)).get
    # Per account, in order of its first wallet row: matched pairs and the other steps.
    streams: dict[str, tuple[list[MatchedPair], list[_Step]]] = {
        account: ([], []) for account in dict.fromkeys(w.accounts)
    }
    groups_seen: set[tuple[str, str]] = set()
    reasons: dict[int, str] = {}
    for wallet_hit, value, account, wr in zip(
        w.positions, w.values, w.accounts, w.records, strict=True
    ):
        if value in repeated:
            if (account, value) not in groups_seen:
                groups_seen.add((account, value))
                items, steps = streams[account]
                steps.append((len(items), wallet_hit, -1, value))
            continue
        bank_hit = bank_at(value)
        if bank_hit is None:
            continue
        br = bank[bank_hit]
        if br.account != account:
            continue  # the value is another account's: no key on this one
        if wallet_used[wallet_hit] or bank_used[bank_hit]:
            raise WalletLinkError(f"internal error: pair {wallet_hit}/{bank_hit} used twice")
        delta = bank_day[bank_hit] - wallet_day[wallet_hit]
        items, steps = streams[account]
        if not (
            wr.amount_minor == br.amount_minor
            and wr.currency == br.currency
            and wr.status is br.status
            and -tolerance <= delta <= tolerance
        ):
            steps.append((len(items), wallet_hit, bank_hit, value))  # a mismatch, in turn
            continue
        wallet_used[wallet_hit] = bank_used[bank_hit] = 1
        reason = reasons.get(delta)
        if reason is None:
            reason = reasons[delta] = _key_reasons(rule, delta)
        items.append(
            _new(
                MatchedPair,
                (
                    wr.id,
                    br.id,
                    1,
                    rule,
                    1.0,
                    br.account,
                    br.currency,
                    br.amount_minor,
                    delta,
                    reason,
                ),
            )
        )
    wallet_index, bank_index = _repeated_indices(w, b, repeated)
    matched = state.matched
    for items, steps in streams.values():
        done = 0
        for before, wallet_hit, bank_hit, value in steps:
            matched.extend(items[done:before])
            done = before
            if bank_hit >= 0:
                settle_pair(state, wallet_hit, bank_hit, 1, rule, 1.0)  # a mismatch
            else:
                account = wallet[wallet_hit].account
                _settle_group(
                    state, field, value, wallet_index[account][value], bank_index, account
                )
        matched.extend(items[done:] if done else items)
    for account, bank_refs in bank_index.items():
        wallet_refs = wallet_index.get(account, {})
        for value, hit in bank_refs.items():
            if type(hit) is list and value not in wallet_refs:
                _surplus(state, "bank", hit[1:], hit[0], f"{field}={value}")


def _repeated_indices(w: _Column, b: _Column, repeated: set[str]) -> tuple[_Index, _Index]:
    """The nested index of each side over the rows holding a repeated value.

    The bank index lists its accounts in order of their first bank row holding any value, as
    the index of every row would, since the bank's surplus rows are reported in that order.
    """
    if not repeated:
        return {}, {}
    indices: list[_Index] = []
    for column in (w, b):
        keep = list(map(repeated.__contains__, column.values))
        index: _Index = {account: {} for account in dict.fromkeys(column.accounts)}
        for account, value, position in zip(
            compress(column.accounts, keep),
            compress(column.values, keep),
            compress(column.positions, keep),
            strict=True,
        ):
            per_account = index[account]
            hit = per_account.setdefault(value, position)
            if hit != position:
                if isinstance(hit, int):
                    per_account[value] = [hit, position]
                else:
                    hit.append(position)
        indices.append({account: refs for account, refs in index.items() if refs})
    return indices[0], indices[1]


def _settle_group(
    state: RunState,
    field: str,
    value: str,
    wallet_hit: int | list[int],
    bank_index: _Index,
    account: str,
) -> None:
    """One (account, value) group of a repeated value: pair, mismatch or duplicates."""
    bank_hit = bank_index.get(account, {}).get(value)
    if type(wallet_hit) is int and type(bank_hit) is int:
        settle_pair(state, wallet_hit, bank_hit, 1, f"exact:{field}", 1.0)
    elif bank_hit is not None:
        _pair_on_key(state, field, value, _rows(wallet_hit), _rows(bank_hit))
    elif type(wallet_hit) is list:
        _surplus(state, "wallet", wallet_hit[1:], wallet_hit[0], f"{field}={value}")


def _pair_on_key(
    state: RunState, field: str, value: str, wallet_rows: list[int], bank_rows: list[int]
) -> None:
    rule = f"exact:{field}"
    if len(wallet_rows) == 1 and len(bank_rows) == 1:
        settle_pair(state, wallet_rows[0], bank_rows[0], 1, rule, 1.0)
        return
    tolerance = state.config.key_date_tolerance_days
    remaining = list(bank_rows)
    paired_wallet: list[int] = []
    paired_bank: list[int] = []
    for wallet_index in wallet_rows:
        if not remaining:
            break
        wallet = state.wallet[wallet_index]
        day = state.wallet_day[wallet_index]
        # The bank row that agrees best; the earliest in canonical order on a tie.
        best = min(
            remaining,
            key=lambda b: len(
                field_diffs(wallet, state.bank[b], day, state.bank_day[b], tolerance)
            ),
        )
        remaining.remove(best)
        paired_wallet.append(wallet_index)
        paired_bank.append(best)
        settle_pair(state, wallet_index, best, 1, rule, 1.0)
    key = f"{field}={value}"
    _surplus(state, "wallet", wallet_rows[len(paired_wallet) :], paired_wallet[0], key)
    _surplus(state, "bank", remaining, paired_bank[0], key)


def _surplus(state: RunState, side: str, rows: list[int], original: int, key: str) -> None:
    records = state.wallet if side == "wallet" else state.bank
    take = state.take_wallet if side == "wallet" else state.take_bank
    for index in rows:
        record = take(index)
        state.duplicates.append(
            DuplicateRow(
                side,
                record.id,
                records[original].id,
                key,
                record.account,
                record.currency,
                record.amount_minor,
            )
        )


def known_batches(state: RunState) -> None:
    """Pass 2: a bank entry that names its members (refs or a batch/payout id) takes them.

    Contract: an entry is a known batch when it lists members (camt ``TxDtls``), carries a
    batch id (camt ``Btch/PmtInfId``), or, failing both (MT940 has no member list), one of
    its references or a word of its text equals a batch id the wallet gave its own rows on
    that account and currency (a ``:86:`` batch marker). Members are the free wallet rows
    holding the listed references, or the wallet's rows of that batch id.

    The batch balances when ``|gross| - fee = |net|`` exactly (``|gross| + fee`` for a debit);
    a known batch that does not balance, or misses members, is still itemised, with its
    residual and the missing references, because its labels say what belongs together.
    """
    by_batch: dict[tuple[str, str, str], list[int]] = {}
    by_ref: dict[tuple[str, str], list[int]] = {}
    for i in state.free_wallet():
        wallet = state.wallet[i]
        if wallet.batch_id:
            by_batch.setdefault((wallet.account, wallet.currency, wallet.batch_id), []).append(i)
        for field in state.config.strong_references:
            value = getattr(wallet, field)
            if value:
                by_ref.setdefault((wallet.account, value), []).append(i)
    markers = {
        (account, currency, batch_id.casefold()): batch_id
        for account, currency, batch_id in by_batch
    }
    # Where a marker can be found at all: most entries' account and currency have no batch.
    marked = {(account, currency) for account, currency, _ in markers}
    for bank_index in state.free_bank():
        bank = state.bank[bank_index]
        if bank.members or bank.batch_id:
            _known_batch(state, bank_index, by_batch, by_ref, bank.batch_id, "")
        elif (bank.account, bank.currency) in marked:
            marker = _batch_marker(bank, markers)
            if marker is not None:
                _known_batch(state, bank_index, by_batch, by_ref, *marker)


def _batch_marker(bank: Record, markers: dict[tuple[str, str, str], str]) -> tuple[str, str] | None:
    """A wallet batch id this entry names in a reference or its text, and where it was."""
    for field in ("end_to_end_id", "instruction_id", "bank_reference"):
        value = getattr(bank, field)
        found = markers.get((bank.account, bank.currency, value.casefold())) if value else None
        if found is not None:
            return found, reference_label(field)
    words = bank.text.split()
    # Whole words first ("PO-2026-03"), then the pieces a separator glues on ("BATCH:PO1").
    for word in [w.strip(".,;:/()") for w in words] + _MARKER_PIECE.findall(bank.text):
        found = markers.get((bank.account, bank.currency, word.casefold()))
        if found is not None:
            return found, "text"
    return None


def _known_batch(
    state: RunState,
    bank_index: int,
    by_batch: dict[tuple[str, str, str], list[int]],
    by_ref: dict[tuple[str, str], list[int]],
    batch_id: str,
    marker: str,
) -> None:
    bank = state.bank[bank_index]
    used = state.wallet_used
    found: list[int] = []
    missing: list[str] = []
    if bank.members:
        rule = "members"
        for member in bank.members:
            hits = [
                i
                for i in by_ref.get((bank.account, member.reference), ())
                if not used[i] and i not in found and state.wallet[i].currency == bank.currency
            ]
            if hits:
                found.append(hits[0])
            else:
                missing.append(member.reference or "<no reference>")
        reasons = f"{len(found)} of {len(bank.members)} listed members found by reference"
        if missing and bank.batch_id:
            found, missing, reasons = _fill_from_batch(state, bank, by_batch, found, missing)
    else:
        rule = "batch_id" if not marker else "batch_marker"
        key = (bank.account, bank.currency, batch_id)
        found = [i for i in by_batch.get(key, ()) if not used[i]]
        where = "the entry's batch id" if not marker else f"the entry's {marker}"
        reasons = f"wallet batch id {batch_id} named in {where}; {len(found)} members"
        if bank.member_count is not None and len(found) > bank.member_count:
            found, reasons = _bounded(state, bank, found, reasons)
    if bank.member_count is not None and len(found) < bank.member_count:
        reasons += f"; the bank counts {bank.member_count}"
    if not found:
        return
    members = [state.take_wallet(i) for i in found]
    state.take_bank(bank_index)
    match = batch_match(state, bank, members, pass_no=2, rule=rule, missing=tuple(missing))
    balance = "balances" if not match.residual_minor else "does not balance"
    state.batches.append(match._replace(reasons=f"{reasons}; net {balance}"))


def _fill_from_batch(
    state: RunState,
    bank: Record,
    by_batch: dict[tuple[str, str, str], list[int]],
    found: list[int],
    missing: list[str],
) -> tuple[list[int], list[str], str]:
    """Listed members not found by reference, taken from the wallet rows of the batch id.

    A wallet row of the entry's batch (``PmtInfId`` equal to the wallet's batch id) that no
    listed reference named stands in for one missing member, as long as there are missing
    members to stand in for.
    """
    used = state.wallet_used
    spare = [
        i
        for i in by_batch.get((bank.account, bank.currency, bank.batch_id), ())
        if not used[i] and i not in found
    ][: len(missing)]
    listed = len(bank.members)
    by_reference = len(found)
    reasons = f"{by_reference} of {listed} listed members found by reference"
    if spare:
        reasons += f", {len(spare)} by batch id {bank.batch_id}"
    return found + spare, missing[len(spare) :], reasons


#: With at most this many surplus wallet rows, pass 2 looks for the ones the entry left out.
_SURPLUS_SEARCH: Final = 2


def _bounded(
    state: RunState, bank: Record, found: list[int], reasons: str
) -> tuple[list[int], str]:
    """``found`` cut to the bank's ``NbOfTxs``: the surplus rows are not in this entry.

    Contract: with ``k = len(found) - member_count`` surplus rows, ``k <= 2``, the entry
    takes the rest when exactly one choice of ``k`` rows to leave out makes the batch
    balance (within the fee range); in any other case it takes the ``member_count`` rows
    first in canonical order, and the batch reports its residual.
    """
    count = bank.member_count or 0
    surplus = len(found) - count
    amounts = [state.wallet[i].amount_minor for i in found]
    total = sum(amounts)
    credit = bank.amount_minor >= 0
    net = abs(bank.amount_minor)
    fee_max = state.config.batch_fee_max(abs(total), bank.counterparty)
    fee_min = state.config.batch_fee_range(bank.counterparty)[0]

    def balances(left_out: int) -> bool:
        gross = (total - left_out) * (1 if credit else -1)
        fee = gross - net if credit else net - gross
        return fee_min <= fee <= fee_max

    choices: list[tuple[int, ...]] = []
    if surplus <= _SURPLUS_SEARCH and len(found) <= 500:
        pool = range(len(found))
        if surplus == 1:
            choices = [(a,) for a in pool if balances(amounts[a])]
        else:
            choices = [
                (a, b) for a in pool for b in pool[a + 1 :] if balances(amounts[a] + amounts[b])
            ]
    note = f"; the bank counts {count}"
    if len(choices) == 1:
        left = set(choices[0])
        kept = [i for n, i in enumerate(found) if n not in left]
        return kept, f"{reasons}{note}, {surplus} row(s) of the batch are not in this entry"
    return found[:count], f"{reasons}{note}, the first {count} taken"


def batch_match(
    state: RunState,
    bank: Record,
    members: list[Record],
    *,
    pass_no: int,
    rule: str,
    missing: tuple[str, ...] = (),
) -> BatchMatch:
    """Net a batch out: the fee is the bank's when it states one, else the implied one."""
    credit = bank.amount_minor >= 0
    gross = sum(m.amount_minor for m in members) * (1 if credit else -1)
    net = abs(bank.amount_minor)
    implied_fee = gross - net if credit else net - gross
    if bank.fee_minor is not None:
        fee = bank.fee_minor
    else:
        fee = min(max(implied_fee, 0), state.config.batch_fee_max(gross, bank.counterparty))
    return BatchMatch(
        bank.id,
        tuple(m.id for m in members),
        pass_no,
        rule,
        bank.account,
        bank.currency,
        gross,
        fee,
        net,
        implied_fee - fee,
        missing,
    )


def _fingerprint(record: Record) -> tuple[str, str, int, object, str]:
    return (
        record.account,
        record.currency,
        record.amount_minor,
        record.value_date,
        record.counterparty,
    )


def leftovers(state: RunState, as_of_day: int) -> None:
    """Pass 5: what is left is a content duplicate of a used row, void, pending or missing."""
    lag = state.config.settlement_lag_days
    for side in ("wallet", "bank"):
        records = state.wallet if side == "wallet" else state.bank
        used = state.wallet_used if side == "wallet" else state.bank_used
        free = state.free_wallet() if side == "wallet" else state.free_bank()
        originals = _used_fingerprints(records, used, free, state.reimported_rows[side])
        for index in free:
            record = records[index]
            original = originals.get(_fingerprint(record))
            if original is not None:
                _surplus(state, side, [index], original, "same amount, date and counterparty")
                continue
            if side == "bank":
                category = "missing_in_wallet"
                state.take_bank(index)
            elif record.status is RecordStatus.FAILED:
                category = "void"  # failed in the wallet, absent at the bank: consistent
                state.take_wallet(index)
            else:
                day = state.wallet_day[index]
                recent = record.status is RecordStatus.PENDING or day > as_of_day - lag
                category = "pending" if recent else "missing_in_bank"
                state.take_wallet(index)
            state.unmatched.append(
                UnmatchedRow(
                    category,
                    side,
                    record.id,
                    record.account,
                    record.currency,
                    record.amount_minor,
                    record.value_date,
                )
            )


def _used_fingerprints(
    records: list[Record], used: bytearray, free: list[int], copies: set[int]
) -> dict[tuple[str, str, int, object, str], int]:
    """Fingerprints of used rows that a leftover shares; the amount prefilter keeps it cheap."""
    amounts = {records[i].amount_minor for i in free}
    found: dict[tuple[str, str, int, object, str], int] = {}
    # The amount test runs over every record, in C; the loop only sees the rows that pass it.
    sharing = compress(range(len(records)), map(amounts.__contains__, map(_AMOUNT, records)))
    for index in sharing:
        if used[index] and index not in copies:
            found.setdefault(_fingerprint(records[index]), index)
    return found
