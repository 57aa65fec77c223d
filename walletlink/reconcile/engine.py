"""The reconciliation engine: a pure function from two sides and a config to a result.

``reconcile`` reads its inputs, touches no file or network, never asks what day it is, and
returns a :class:`~walletlink.reconcile.results.ReconciliationResult`; every run is a dry run.
The result does not depend on the order of either input (a property test shows it), and every
input record appears in it exactly once (checked on every run). The only clock it reads is
``perf_counter``, for the per-pass timings, which result equality ignores.

Partitioning: passes 2 to 5 never look across ``(account, currency)``, and pass 1 only pairs
records on the same account. A large job can therefore be split by account (or by account and
currency, giving up only cross-currency key hits, which then surface as one missing row on
each side instead of a currency mismatch), run in separate processes, and the results read
side by side; :func:`partition` does the split.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from itertools import compress, repeat
from operator import attrgetter, eq

import attrs

from walletlink.errors import WalletLinkError
from walletlink.reconcile._state import RunState, canonical_order
from walletlink.reconcile.anomalies import find_anomalies
from walletlink.reconcile.config import ReconcileConfig
from walletlink.reconcile.fuzzy import fuzzy_one_to_one, unlabelled_batches
from walletlink.reconcile.passes import exact_keys, hygiene, known_batches, leftovers
from walletlink.reconcile.records import Record, StatementBalance
from walletlink.reconcile.results import (
    BREAKING_LEFTOVERS,
    AnomalyFlag,
    BalanceCheck,
    CurrencyTotals,
    ReconciliationResult,
)
from walletlink.reconcile.reversals import reversals

__all__ = ["ProgressCallback", "currency_totals", "partition", "reconcile"]

_CURRENCY = attrgetter("currency")
_AMOUNT = attrgetter("amount_minor")

#: Called as ``progress(stage, done, total)`` after each stage; the CLI draws a bar with it.
ProgressCallback = Callable[[str, int, int], None]

# In run order. A pass's number names it (it is the ``pass_no`` of its items) and is not its
# position: reversals (6) run before the key pass, so that a storno and its booking are not
# taken for a duplicate and a status mismatch; fuzzy 1:1 (3) offers the bank rows without
# any 1:1 candidate to the batch search first, and pass 4 then looks at what is left.
_PASSES: tuple[tuple[str, Callable[[RunState], None]], ...] = (
    ("0 hygiene", hygiene),
    ("6 reversals", reversals),
    ("1 exact keys", exact_keys),
    ("2 known batches", known_batches),
    ("3 fuzzy 1:1", fuzzy_one_to_one),
    ("4 unlabelled batches", unlabelled_batches),
)


def reconcile(
    ledger: Iterable[Record],
    bank: Iterable[Record],
    config: ReconcileConfig | None = None,
    *,
    statements: Iterable[StatementBalance] = (),
    as_of: date | None = None,
    progress: ProgressCallback | None = None,
) -> ReconciliationResult:
    """Match wallet ledger records against bank records, pass by pass.

    ``as_of`` is the day the run stands on; wallet rows dated within ``settlement_lag_days``
    of it are ``pending`` rather than missing. It defaults to the latest date in the inputs,
    so that the same inputs always give the same result.

    With ``config.engine == "duckdb"`` the run goes through
    :func:`walletlink.reconcile.duckdb_engine.reconcile_duckdb` (same categories and pairs).
    """
    if config is not None and config.engine == "duckdb":
        from walletlink.reconcile.duckdb_engine import reconcile_duckdb

        result = reconcile_duckdb(ledger, bank, config, statements=statements, as_of=as_of)
        if progress is not None:
            progress("report", 1, 1)
        return result
    with _cyclic_gc_paused():
        return _reconcile(ledger, bank, config or ReconcileConfig(), statements, as_of, progress)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the run, and restore it however the run ends.

    A run allocates millions of small tuples and lists and creates no reference cycles, so the
    collector would only walk the heap again and again for nothing: a third of the time at
    100k rows. Reference counting still frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            # Everything the run allocated sits in the youngest generation, so the first
            # collection after it would walk millions of result tuples at once (seconds at
            # 1M rows). Freezing and unfreezing files them with the old objects, where only a
            # full collection looks, without walking them. The host's own young objects go
            # there too, so its cyclic garbage from before the run waits for the next full
            # collection. Skipped when the host has frozen objects of its own (a pre-fork
            # server), which ``unfreeze`` would release.
            gc.freeze()
            gc.unfreeze()
        if was_enabled:
            gc.enable()


def _reconcile(
    ledger: Iterable[Record],
    bank: Iterable[Record],
    config: ReconcileConfig,
    statements: Iterable[StatementBalance],
    as_of: date | None,
    progress: ProgressCallback | None,
) -> ReconciliationResult:
    state = RunState(canonical_order(list(ledger)), canonical_order(list(bank)), config)
    timings: list[tuple[str, float]] = []
    total = len(_PASSES) + 2
    for done, (name, run_pass) in enumerate(_PASSES, start=1):
        started = time.perf_counter()
        run_pass(state)
        timings.append((name, time.perf_counter() - started))
        if progress is not None:
            progress(name, done, total)
    started = time.perf_counter()
    leftovers(state, state.as_of_day(as_of))
    timings.append(("5 leftovers", time.perf_counter() - started))
    if progress is not None:
        progress("5 leftovers", total - 1, total)
    _check_everything_used(state)
    started = time.perf_counter()
    anomalies: list[AnomalyFlag] = []
    if config.anomalies:
        anomalies = find_anomalies(state.wallet, "wallet", config) + find_anomalies(
            state.bank, "bank", config
        )
    timings.append(("anomalies", time.perf_counter() - started))
    if progress is not None:
        progress("report", total, total)
    return _result(state, config, as_of, statements, anomalies, timings)


def _check_everything_used(state: RunState) -> None:
    # Passes take records through RunState, which refuses a second use; this closes the other
    # half of the guarantee: nothing was forgotten.
    if state.wallet_used.count(0) or state.bank_used.count(0):
        raise WalletLinkError("internal error: a record was left without a category")


def _result(
    state: RunState,
    config: ReconcileConfig,
    as_of: date | None,
    statements: Iterable[StatementBalance],
    anomalies: list[AnomalyFlag],
    timings: list[tuple[str, float]],
) -> ReconciliationResult:
    result = ReconciliationResult(
        as_of=date.fromordinal(state.as_of_day(as_of)),
        config=config,
        matched=tuple(state.matched),
        mismatched=tuple(state.mismatched),
        batches=tuple(state.batches),
        reversals=tuple(state.reversals),
        duplicates=tuple(state.duplicates),
        reimported=tuple(state.reimported),
        ambiguous=tuple(state.ambiguous),
        unresolved_batches=tuple(state.unresolved),
        unmatched=tuple(state.unmatched),
        balance_checks=tuple(
            BalanceCheck(
                s.statement,
                s.account,
                s.currency,
                s.opening_minor,
                s.entries_minor,
                s.closing_minor,
            )
            for s in statements
        ),
        anomalies=tuple(anomalies),
        identical_without_id=state.identical_without_id,
        pass_seconds=tuple(timings),
    )
    return attrs.evolve(result, totals=currency_totals(result, state.wallet, state.bank))


def currency_totals(
    result: ReconciliationResult, wallet: Iterable[Record], bank: Iterable[Record]
) -> tuple[CurrencyTotals, ...]:
    """Per currency: count and signed sum of each side, matches, break items and their stake.

    The stake of a break is the absolute amount a person must explain: the larger side of a
    mismatch, the residual of a batch, the amount of a duplicate, an ambiguous or a missing row.
    """
    stats: dict[str, list[int]] = {}

    def row(currency: str) -> list[int]:
        return stats.setdefault(currency, [0] * 7)

    for offset, side in ((0, wallet), (2, bank)):
        # This sees every record of the run: column by column in C loops, not row by row.
        records = side if isinstance(side, list) else list(side)
        currencies = list(map(_CURRENCY, records))
        amounts = list(map(_AMOUNT, records))
        distinct = set(currencies)
        for currency in distinct:
            counts = row(currency)
            if len(distinct) == 1:
                counts[offset] += len(amounts)
                counts[offset + 1] += sum(amounts)
            else:
                counts[offset] += currencies.count(currency)
                counts[offset + 1] += sum(compress(amounts, map(eq, currencies, repeat(currency))))
    for currency, matched in Counter(pair.currency for pair in result.matched).items():
        row(currency)[4] += matched
    stakes: list[tuple[str, int]] = [
        *(
            (m.currency, max(abs(m.wallet_amount_minor), abs(m.bank_amount_minor)))
            for m in result.mismatched
        ),
        *((b.currency, abs(b.residual_minor)) for b in result.batches if b.residual_minor),
        *((d.currency, abs(d.amount_minor)) for d in result.duplicates),
        *((a.currency, abs(a.amount_minor)) for a in result.ambiguous),
        *((u.currency, abs(u.amount_minor)) for u in result.unresolved_batches),
        *(
            (u.currency, abs(u.amount_minor))
            for u in result.unmatched
            if u.category in BREAKING_LEFTOVERS
        ),
    ]
    for currency, stake in stakes:
        counts = row(currency)
        counts[5] += 1
        counts[6] += stake
    return tuple(CurrencyTotals(currency, *counts) for currency, counts in sorted(stats.items()))


def partition(records: Iterable[Record]) -> dict[tuple[str, str], list[Record]]:
    """Split records by ``(account, currency)``, the unit a large job can be run in."""
    parts: dict[tuple[str, str], list[Record]] = {}
    for record in records:
        parts.setdefault((record.account, record.currency), []).append(record)
    return parts
