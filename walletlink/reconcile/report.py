"""The report as data: JSON (one document) and CSV (one file per category).

Both forms come from :func:`report_rows`, so a column means the same thing everywhere.
Amounts are written as exact decimal strings in their currency's exponent (``"-12.30"``),
never as floats; deltas of amounts are decimal strings too, deltas of dates are whole days.
The output is deterministic: the same result always gives byte-identical files.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Final

import attrs

from walletlink.reconcile.records import format_minor
from walletlink.reconcile.results import (
    AmbiguousRow,
    AnomalyFlag,
    BalanceCheck,
    BatchMatch,
    CurrencyTotals,
    DuplicateRow,
    MatchedPair,
    Mismatch,
    ReconciliationResult,
    ReimportedRow,
    ReversalMatch,
    UnmatchedRow,
    UnresolvedBatch,
)

__all__ = [
    "COLUMNS",
    "REPORT_FORMAT",
    "iter_report_rows",
    "report_rows",
    "to_json",
    "write_csv",
    "write_json",
]

#: The ``format`` field of the JSON document; bumped on an incompatible change.
REPORT_FORMAT: Final = "walletlink.reconciliation/1"

Row = dict[str, Any]


def _matched(m: MatchedPair) -> Row:
    return {
        "wallet_id": m.wallet_id,
        "bank_id": m.bank_id,
        "pass": m.pass_no,
        "rule": m.rule,
        "score": round(m.score, 4),
        "account": m.account,
        "currency": m.currency,
        "amount": format_minor(m.amount_minor, m.currency),
        "date_delta_days": m.date_delta_days,
        "reasons": m.reasons,
    }


def _mismatched(m: Mismatch) -> Row:
    return {
        "wallet_id": m.wallet_id,
        "bank_id": m.bank_id,
        "pass": m.pass_no,
        "rule": m.rule,
        "account": m.account,
        "currency": m.currency,
        "wallet_amount": format_minor(m.wallet_amount_minor, m.currency),
        "bank_amount": format_minor(m.bank_amount_minor, m.currency),
        "fields": [d.field for d in m.diffs],
        "diffs": [
            {
                "field": d.field,
                "wallet": d.wallet,
                "bank": d.bank,
                "delta": format_minor(d.delta, m.currency) if d.field == "amount" else d.delta,
            }
            for d in m.diffs
        ],
        "score": round(m.score, 4),
        "reasons": m.reasons,
    }


def _batch(b: BatchMatch) -> Row:
    return {
        "bank_id": b.bank_id,
        "pass": b.pass_no,
        "rule": b.rule,
        "account": b.account,
        "currency": b.currency,
        "members": list(b.wallet_ids),
        "gross": format_minor(b.gross_minor, b.currency),
        "fee": format_minor(b.fee_minor, b.currency),
        "net": format_minor(b.net_minor, b.currency),
        "residual": format_minor(b.residual_minor, b.currency),
        "missing_members": list(b.missing_members),
        "reasons": b.reasons,
    }


def _reversal(r: ReversalMatch) -> Row:
    return {
        "bank_id": r.bank_id,
        "reversal_id": r.reversal_id,
        "wallet_id": r.wallet_id,
        "pass": r.pass_no,
        "rule": r.rule,
        "score": round(r.score, 4),
        "account": r.account,
        "currency": r.currency,
        "amount": format_minor(r.amount_minor, r.currency),
        "reasons": r.reasons,
    }


def _duplicate(d: DuplicateRow) -> Row:
    return {
        "side": d.side,
        "record_id": d.record_id,
        "duplicate_of": d.duplicate_of,
        "key": d.key,
        "account": d.account,
        "currency": d.currency,
        "amount": format_minor(d.amount_minor, d.currency),
    }


def _reimported(r: ReimportedRow) -> Row:
    return r._asdict()


def _ambiguous(a: AmbiguousRow) -> Row:
    return {
        "side": a.side,
        "record_id": a.record_id,
        "pass": a.pass_no,
        "rule": a.rule,
        "account": a.account,
        "currency": a.currency,
        "amount": format_minor(a.amount_minor, a.currency),
        "candidates": [
            {"record_ids": list(c.record_ids), "score": round(c.score, 4), "reasons": c.reasons}
            for c in a.candidates
        ],
    }


def _unresolved(u: UnresolvedBatch) -> Row:
    return {
        "bank_id": u.bank_id,
        "account": u.account,
        "currency": u.currency,
        "amount": format_minor(u.amount_minor, u.currency),
        "candidates": u.candidates,
        "work": u.work,
    }


def _unmatched(u: UnmatchedRow) -> Row:
    return {
        "side": u.side,
        "record_id": u.record_id,
        "account": u.account,
        "currency": u.currency,
        "amount": format_minor(u.amount_minor, u.currency),
        "value_date": u.value_date.isoformat(),
    }


def _balance(c: BalanceCheck) -> Row:
    return {
        "statement": c.statement,
        "account": c.account,
        "currency": c.currency,
        "opening": format_minor(c.opening_minor, c.currency),
        "entries": format_minor(c.entries_minor, c.currency),
        "closing": format_minor(c.closing_minor, c.currency),
        "difference": format_minor(c.difference_minor, c.currency),
        "ok": c.ok,
    }


def _anomaly(a: AnomalyFlag) -> Row:
    return {
        "kind": a.kind,
        "side": a.side,
        "record_ids": list(a.record_ids),
        "account": a.account,
        "currency": a.currency,
        "reason": a.reason,
    }


def _totals(t: CurrencyTotals) -> Row:
    return {
        "currency": t.currency,
        "wallet_count": t.wallet_count,
        "wallet_total": format_minor(t.wallet_total_minor, t.currency),
        "bank_count": t.bank_count,
        "bank_total": format_minor(t.bank_total_minor, t.currency),
        "matched_count": t.matched_count,
        "break_count": t.break_count,
        "break_amount": format_minor(t.break_amount_minor, t.currency),
    }


def _categories(
    result: ReconciliationResult,
) -> list[tuple[str, Iterable[Any], Callable[[Any], Row]]]:
    unmatched: dict[str, list[UnmatchedRow]] = {
        "missing_in_bank": [],
        "pending": [],
        "void": [],
        "missing_in_wallet": [],
    }
    for row in result.unmatched:
        unmatched[row.category].append(row)
    return [
        ("totals", result.totals, _totals),
        ("matched", result.matched, _matched),
        ("mismatched", result.mismatched, _mismatched),
        ("batches", result.batches, _batch),
        ("reversals", result.reversals, _reversal),
        ("duplicates", result.duplicates, _duplicate),
        ("reimported", result.reimported, _reimported),
        ("ambiguous", result.ambiguous, _ambiguous),
        ("unresolved_batches", result.unresolved_batches, _unresolved),
        ("missing_in_bank", unmatched["missing_in_bank"], _unmatched),
        ("pending", unmatched["pending"], _unmatched),
        ("void", unmatched["void"], _unmatched),
        ("missing_in_wallet", unmatched["missing_in_wallet"], _unmatched),
        ("balance_checks", result.balance_checks, _balance),
        ("anomalies", result.anomalies, _anomaly),
    ]


def iter_report_rows(result: ReconciliationResult) -> Iterator[tuple[str, Iterator[Row]]]:
    """Each category with its rows rendered lazily, so a million rows never sit in memory
    as dicts at once."""
    for name, items, render in _categories(result):
        yield name, map(render, items)


def report_rows(result: ReconciliationResult) -> dict[str, list[Row]]:
    """Every category as a list of plain rows, in the engine's deterministic order."""
    return {name: list(rows) for name, rows in iter_report_rows(result)}


def _config(result: ReconciliationResult) -> Row:
    return attrs.asdict(result.config, value_serializer=lambda _i, _a, v: v)


def _json_chunks(result: ReconciliationResult) -> Iterator[str]:
    header = {
        "format": REPORT_FORMAT,
        "as_of": result.as_of.isoformat(),
        "has_breaks": result.has_breaks,
        "break_counts": result.break_counts(),
        "identical_without_id": result.identical_without_id,
        "rules": _config(result),
    }
    yield json.dumps(header, indent=2, ensure_ascii=False)[:-2]  # reopen the object
    for name, rows in iter_report_rows(result):
        yield f',\n  "{name}": ['
        separator = "\n    "
        for row in rows:
            yield separator + json.dumps(row, ensure_ascii=False)
            separator = ",\n    "
        yield "\n  ]" if separator != "\n    " else "]"
    yield "\n}\n"


def to_json(result: ReconciliationResult) -> str:
    """The whole report as one JSON document: a header, then one array per category with one
    row per line (see ``docs/reconciliation.md`` for the fields)."""
    return "".join(_json_chunks(result))


def write_json(result: ReconciliationResult, path: str | Path) -> None:
    """Write :func:`to_json`'s document, streamed row by row."""
    with Path(path).open("w", encoding="utf-8") as handle:
        handle.writelines(_json_chunks(result))


def _cell(value: Any) -> Any:
    """Flatten nested values for a CSV cell: lists joined by ``;``, dicts as ``k=v``."""
    if isinstance(value, list):
        return ";".join(str(_cell(v)) for v in value)
    if isinstance(value, dict):
        return " ".join(f"{k}={_cell(v)}" for k, v in value.items())
    return value


def write_csv(result: ReconciliationResult, directory: str | Path) -> list[Path]:
    """One CSV per category (header row always present) in ``directory``; returns the paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for category, rows in iter_report_rows(result):
        path = out / f"{category}.csv"
        columns = COLUMNS[category]
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(columns)
            for row in rows:
                writer.writerow([_cell(row[c]) for c in columns])
        written.append(path)
    return written


_UNMATCHED_COLUMNS: Final = ["side", "record_id", "account", "currency", "amount", "value_date"]
#: The columns of each category, in order: the keys of its JSON rows and its CSV header.
COLUMNS: Final[dict[str, list[str]]] = {
    "totals": [
        "currency", "wallet_count", "wallet_total", "bank_count", "bank_total",
        "matched_count", "break_count", "break_amount",
    ],
    "matched": ["wallet_id", "bank_id", "pass", "rule", "score", "account", "currency",
                "amount", "date_delta_days", "reasons"],
    "mismatched": ["wallet_id", "bank_id", "pass", "rule", "account", "currency",
                   "wallet_amount", "bank_amount", "fields", "diffs", "score", "reasons"],
    "batches": ["bank_id", "pass", "rule", "account", "currency", "members", "gross", "fee",
                "net", "residual", "missing_members", "reasons"],
    "reversals": ["bank_id", "reversal_id", "wallet_id", "pass", "rule", "score", "account",
                  "currency", "amount", "reasons"],
    "duplicates": ["side", "record_id", "duplicate_of", "key", "account", "currency", "amount"],
    "reimported": ["side", "record_id", "duplicate_of", "source_id"],
    "ambiguous": ["side", "record_id", "pass", "rule", "account", "currency", "amount",
                  "candidates"],
    "unresolved_batches": ["bank_id", "account", "currency", "amount", "candidates", "work"],
    "missing_in_bank": _UNMATCHED_COLUMNS,
    "pending": _UNMATCHED_COLUMNS,
    "void": _UNMATCHED_COLUMNS,
    "missing_in_wallet": _UNMATCHED_COLUMNS,
    "balance_checks": ["statement", "account", "currency", "opening", "entries", "closing",
                       "difference", "ok"],
    "anomalies": ["kind", "side", "record_ids", "account", "currency", "reason"],
}  # fmt: skip
