"""The rules of a reconciliation run: one frozen object, loadable from a TOML file.

Every threshold the matching passes and the anomaly flags use lives here, so that a run is
fully described by its inputs plus one :class:`ReconcileConfig`. Money thresholds are integer
minor units or basis points (1 bp = 0.01 %), never floats; only the similarity *scores* of
the fuzzy pass are floats, because they are not money.

A rules file is flat TOML whose keys are the field names below; unknown keys are refused so
that a typo cannot silently fall back to a default::

    amount_tolerance_bps = 50
    date_window_days = 3
    strong_references = ["end_to_end_id", "bank_reference"]
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from walletlink.errors import ConfigurationError

__all__ = ["ENGINES", "MAPPING_TABLES", "STRONG_REFERENCE_FIELDS", "ReconcileConfig", "load_rules"]

#: Tables of a rules file that hold CSV column mappings rather than rules.
MAPPING_TABLES: Final = ("ledger", "statement")

#: The engines :func:`walletlink.reconcile.reconcile` can run on (``ReconcileConfig.engine``).
ENGINES: Final = ("python", "duckdb")

#: The record fields that may serve as exact keys in pass 1, in their default order.
STRONG_REFERENCE_FIELDS: Final = (
    "end_to_end_id",
    "instruction_id",
    "bank_reference",
    "idempotency_key",
)


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigurationError(f"{attribute.name} must be a non-negative number, got {value!r}")


def _positive_int(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{attribute.name} must be a positive integer, got {value!r}")


def _unit_interval(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigurationError(f"{attribute.name} must be between 0 and 1, got {value!r}")


def _engine(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in ENGINES:
        raise ConfigurationError(f"engine must be one of {list(ENGINES)}, got {value!r}")


def _strong_refs(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigurationError("strong_references must be a list of field names")
    unknown = [name for name in value if name not in STRONG_REFERENCE_FIELDS]
    if unknown:
        raise ConfigurationError(
            f"strong_references: unknown field(s) {unknown}; choose from "
            f"{list(STRONG_REFERENCE_FIELDS)}"
        )
    return tuple(dict.fromkeys(value))  # keep the order, drop repeats


def _fee_table(value: object) -> tuple[tuple[str, int, int], ...]:
    """``{"PSP" = [min, max]}`` (or its tuple form) → sorted ``(name, min, max)`` triples."""
    items = value.items() if isinstance(value, Mapping) else value
    if not isinstance(items, Iterable) or isinstance(items, str):
        raise ConfigurationError("batch_fees must map a counterparty to [min, max] minor units")
    table = []
    for item in items:
        name, *bounds = item if not isinstance(value, Mapping) else (item[0], *item[1])
        if (
            not isinstance(name, str)
            or len(bounds) != 2
            or not all(isinstance(b, int) and not isinstance(b, bool) and b >= 0 for b in bounds)
            or bounds[0] > bounds[1]
        ):
            raise ConfigurationError(
                f"batch_fees: {name!r} needs [min, max] in minor units, 0 <= min <= max"
            )
        table.append((" ".join(name.split()), bounds[0], bounds[1]))
    return tuple(sorted(table))


def _int(default: int, validator: Any = _non_negative) -> Any:
    return attrs.field(default=default, validator=validator)


@attrs.frozen(kw_only=True)
class ReconcileConfig:
    """Tolerances, windows, lags and which references are strong.

    The defaults suit daily card and SEPA reconciliation: exact keys first, a 3-day window for
    value-date lag, amounts within 0.5 % for the fuzzy pass, a fixed batch fee of 0 to 5.00.
    """

    #: Fields tried, in order, as exact keys in pass 1.
    strong_references: tuple[str, ...] = attrs.field(
        default=STRONG_REFERENCE_FIELDS, converter=_strong_refs
    )
    #: A key hit whose value dates differ by more than this many days is a date mismatch.
    key_date_tolerance_days: int = _int(3)
    #: Fuzzy pass: absolute and relative amount tolerance (minor units, basis points).
    amount_tolerance_abs_minor: int = _int(0)
    amount_tolerance_bps: int = _int(50)
    #: Fuzzy pass: value dates at most this many days apart.
    date_window_days: int = _int(3)
    #: Fuzzy pass: at most this many candidates are scored per bank row.
    max_candidates: int = _int(32, _positive_int)
    #: Fuzzy pass: a pair needs this score to be a candidate at all. A score is 0.4 × amount
    #: closeness (1 when equal, at most 0.5 otherwise) + 0.2 × date closeness + 0.4 ×
    #: counterparty similarity (0.5 when either name is missing), each in [0, 1].
    min_score: float = attrs.field(default=0.65, validator=_unit_interval)
    #: No longer used: the fuzzy pass pairs each block by an optimal assignment and calls a
    #: row ambiguous only on an exact tie. Kept so that existing rules files still load.
    margin: float = attrs.field(default=0.1, validator=_unit_interval)
    #: Batches: banks and PSPs charge a fixed fee per payout, so the fee netted out lies in
    #: ``[batch_fee_min_minor, batch_fee_max_abs_minor]`` (plus ``batch_fee_max_bps`` of the
    #: gross, 0 by default: a relative allowance lets many member sets fit one entry).
    batch_fee_min_minor: int = _int(0)
    batch_fee_max_abs_minor: int = _int(500)
    batch_fee_max_bps: int = _int(0)
    #: Per-counterparty fee ranges, ``{"Acquirer Ltd" = [10, 250]}`` in a rules file: the
    #: entry's counterparty picks its ``(min, max)`` fee in minor units, else the defaults.
    batch_fees: tuple[tuple[str, int, int], ...] = attrs.field(default=(), converter=_fee_table)
    #: Unlabelled batches: members are dated within this many days before the bank entry.
    batch_window_days: int = _int(3)
    #: Unlabelled batches: a batch has at least this many members.
    batch_min_members: int = _int(2, _positive_int)
    #: Unlabelled batches: when the bank entry names a counterparty (the PSP paying out), only
    #: wallet rows at least this similar to it are candidates (token Jaccard; 0 disables).
    batch_counterparty_similarity: float = attrs.field(default=0.5, validator=_unit_interval)
    #: Subset-sum: candidates considered per bank entry, and its hard work budget.
    subset_sum_max_candidates: int = _int(24, _positive_int)
    subset_sum_budget: int = _int(200_000, _positive_int)
    #: Reversals: a storno is at most this many days after the booking it undoes.
    reversal_window_days: int = _int(10)
    #: Wallet rows younger than this (days before ``as_of``) are ``pending``, not missing.
    settlement_lag_days: int = _int(3)
    #: Anomaly: the same counterparty and amount twice within this many days.
    duplicate_payment_window_days: int = _int(2)
    #: Anomaly: flag an amount more than this many scaled MADs from the counterparty median,
    #: once the counterparty has at least ``outlier_min_history`` rows.
    outlier_mad_threshold: float = attrs.field(default=6.0, validator=_non_negative)
    outlier_min_history: int = _int(5, _positive_int)
    #: Anomaly: a day with more than ``velocity_factor`` × the account's median daily count
    #: (and at least ``velocity_min_count`` rows) is a spike.
    velocity_factor: float = attrs.field(default=5.0, validator=_non_negative)
    velocity_min_count: int = _int(20, _positive_int)
    #: Turn the anomaly flags off for very large runs where only matching matters.
    anomalies: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    #: ``"python"`` (the default) or ``"duckdb"``: the bulk of the exact-key pass runs as
    #: DuckDB SQL, out of core (needs the ``walletlink[duckdb]`` extra); the result is the same.
    engine: str = attrs.field(default="python", validator=_engine)

    def amount_tolerance(self, amount_minor: int) -> int:
        """The fuzzy-pass tolerance in minor units for an amount (integer arithmetic)."""
        return (
            self.amount_tolerance_abs_minor
            + abs(amount_minor) * self.amount_tolerance_bps // 10_000
        )

    def batch_fee_max(self, gross_minor: int, counterparty: str = "") -> int:
        """The largest fee (minor units) a batch of this gross may net out."""
        high = self.batch_fee_range(counterparty)[1]
        return high + abs(gross_minor) * self.batch_fee_max_bps // 10_000

    def batch_fee_range(self, counterparty: str = "") -> tuple[int, int]:
        """The fixed ``(min, max)`` fee for a batch paid by ``counterparty`` (minor units)."""
        name = counterparty.casefold()
        for party, low, high in self.batch_fees:
            if party.casefold() == name:
                return low, high
        return self.batch_fee_min_minor, self.batch_fee_max_abs_minor

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> ReconcileConfig:
        """Build from a plain mapping (a parsed TOML document); unknown keys are refused."""
        known = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigurationError(f"unknown reconciliation rule(s): {', '.join(unknown)}")
        try:
            return cls(**raw)
        except TypeError as exc:  # a wrong type that a validator did not get to see
            raise ConfigurationError(f"invalid reconciliation rules: {exc}") from None


def load_rules(path: str | Path) -> ReconcileConfig:
    """Read a rules TOML file into a :class:`ReconcileConfig`.

    Raises :class:`~walletlink.errors.ConfigurationError` naming the file for unreadable or
    malformed TOML and naming the key for an unknown or invalid rule.
    """
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except OSError as exc:
        raise ConfigurationError(f"cannot read rules file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:  # TOML is UTF-8 only
        raise ConfigurationError(f"rules file {path} is not valid TOML: {exc}") from None
    # The CLI reads CSV column mappings from these tables of the same file.
    rules = {key: value for key, value in raw.items() if key not in MAPPING_TABLES}
    try:
        return ReconcileConfig.from_mapping(rules)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{path}: {exc.message}") from None
