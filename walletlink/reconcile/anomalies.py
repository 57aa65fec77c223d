"""Anomaly flags: patterns worth a look, raised separately from the matching result.

Three simple, documented rules; no model is trained and every flag says why it was raised:

* ``duplicate_payment``: two debits to the same counterparty for the same amount within
  ``duplicate_payment_window_days`` (compared case- and space-insensitively).
* ``amount_outlier``: an amount more than ``outlier_mad_threshold`` scaled median absolute
  deviations (MAD × 1.4826, comparable to a standard deviation) from that counterparty's
  median, once it has ``outlier_min_history`` rows. When every other amount is equal (MAD 0)
  any different amount is flagged.
* ``velocity_spike``: a day on which an account has more than ``velocity_factor`` × its median
  daily row count, and at least ``velocity_min_count`` rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from itertools import pairwise
from statistics import median
from typing import Final

from walletlink.reconcile.config import ReconcileConfig
from walletlink.reconcile.records import Record, format_minor
from walletlink.reconcile.results import AnomalyFlag

__all__ = ["find_anomalies"]

_MAD_SCALE: Final = 1.4826  # makes the MAD of normal data estimate its standard deviation


def find_anomalies(records: list[Record], side: str, config: ReconcileConfig) -> list[AnomalyFlag]:
    """Every flag for one side, in a deterministic order (records come canonically sorted)."""
    return [
        *_duplicate_payments(records, side, config),
        *_amount_outliers(records, side, config),
        *_velocity_spikes(records, side, config),
    ]


def _party(record: Record) -> str:
    return record.counterparty.casefold()


def _duplicate_payments(
    records: Iterable[Record], side: str, config: ReconcileConfig
) -> Iterable[AnomalyFlag]:
    groups: dict[tuple[str, str, str, int], list[Record]] = defaultdict(list)
    for record in records:
        if record.amount_minor < 0 and record.counterparty:
            key = (record.account, record.currency, _party(record), record.amount_minor)
            groups[key].append(record)
    window = config.duplicate_payment_window_days
    for (account, currency, _, amount), group in groups.items():
        if len(group) < 2:
            continue
        group.sort(key=lambda r: (r.value_date, r.id))
        for earlier, later in pairwise(group):
            gap = (later.value_date - earlier.value_date).days
            if gap <= window:
                yield AnomalyFlag(
                    "duplicate_payment",
                    side,
                    (earlier.id, later.id),
                    account,
                    currency,
                    f"two payments of {format_minor(-amount, currency)} {currency} to "
                    f"{later.counterparty!r} {gap} day(s) apart (window {window})",
                )


def _amount_outliers(
    records: Iterable[Record], side: str, config: ReconcileConfig
) -> Iterable[AnomalyFlag]:
    history: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
    for record in records:
        if record.counterparty:
            history[(record.account, record.currency, _party(record))].append(record)
    for (account, currency, _), group in history.items():
        if len(group) < config.outlier_min_history:
            continue
        amounts = [abs(r.amount_minor) for r in group]
        centre = median(amounts)
        mad = median(abs(a - centre) for a in amounts) * _MAD_SCALE
        for record, amount in zip(group, amounts, strict=True):
            distance = abs(amount - centre)
            if mad == 0 and distance == 0:
                continue
            if mad == 0 or distance / mad > config.outlier_mad_threshold:
                how_far = (
                    "most amounts are equal, MAD 0" if mad == 0 else f"{distance / mad:.1f} MADs"
                )
                yield AnomalyFlag(
                    "amount_outlier",
                    side,
                    (record.id,),
                    account,
                    currency,
                    f"{format_minor(amount, currency)} {currency} to/from {record.counterparty!r} "
                    f"is far from its median {format_minor(int(centre), currency)} "
                    f"over {len(group)} rows ({how_far})",
                )


def _velocity_spikes(
    records: Iterable[Record], side: str, config: ReconcileConfig
) -> Iterable[AnomalyFlag]:
    per_day: dict[tuple[str, str], dict[object, list[str]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        per_day[(record.account, record.currency)][record.value_date].append(record.id)
    for (account, currency), days in per_day.items():
        typical = median(len(ids) for ids in days.values())
        limit = max(config.velocity_min_count - 1, config.velocity_factor * typical)
        for day, ids in sorted(days.items(), key=lambda item: str(item[0])):
            if len(ids) > limit:
                yield AnomalyFlag(
                    "velocity_spike",
                    side,
                    tuple(ids),
                    account,
                    currency,
                    f"{len(ids)} rows on {day} against a median of {typical:g} per day "
                    f"(factor {config.velocity_factor:g}, minimum {config.velocity_min_count})",
                )
