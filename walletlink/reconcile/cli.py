"""``walletlink reconcile``: files in, a JSON (and optionally HTML and CSV) report out.

Exit status: 0 when the run completed (breaks or not), 1 when ``--fail-on-breaks`` is given
and there are breaks (or a statement does not balance), 2 when an input or the rules file
cannot be read; the message then names the file and line.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from datetime import date
from pathlib import Path
from typing import Any, TextIO

import attrs

from walletlink.errors import WalletLinkError
from walletlink.reconcile.config import ReconcileConfig, load_rules
from walletlink.reconcile.engine import reconcile
from walletlink.reconcile.html import write_html
from walletlink.reconcile.inputs import ColumnMapping
from walletlink.reconcile.records import Record, StatementBalance
from walletlink.reconcile.report import write_csv, write_json
from walletlink.reconcile.sources import STANDARD_COLUMNS, load_file

__all__ = ["ProgressBar", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``reconcile`` options, added to a (sub)parser."""
    parser.add_argument(
        "--ledger",
        required=True,
        action="append",
        metavar="FILE",
        help="wallet ledger: CSV or JSON lines (repeatable)",
    )
    parser.add_argument(
        "--statement",
        required=True,
        action="append",
        metavar="FILE",
        help="bank side: camt.053/.054, MT940, CSV or JSON lines (repeatable)",
    )
    parser.add_argument(
        "--rules",
        metavar="TOML",
        help="rules file; [ledger] and [statement] tables map CSV columns",
    )
    parser.add_argument("--out", required=True, metavar="JSON", help="write the JSON report")
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page")
    parser.add_argument("--csv", metavar="DIR", help="also write one CSV per category")
    parser.add_argument(
        "--account", default="", help="account for ledger/CSV rows that have no account column"
    )
    parser.add_argument(
        "--as-of",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="the day the run stands on (default: latest date in the inputs)",
    )
    parser.add_argument(
        "--fail-on-breaks", action="store_true", help="exit with status 1 when any break is found"
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress bar on stderr (auto: only when stderr is a terminal)",
    )


class ProgressBar:
    """A one-line progress bar on a text stream, redrawn in place with ``\\r``."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width

    def __call__(self, stage: str, done: int, total: int) -> None:
        filled = self.width * done // max(total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} {stage:<24}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _mappings(path: str | None, account: str) -> tuple[ColumnMapping, ColumnMapping]:
    tables: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as handle:
            tables = tomllib.load(handle)
    out = []
    for name in ("ledger", "statement"):
        raw = tables.get(name)
        mapping = ColumnMapping.from_mapping(raw) if raw is not None else STANDARD_COLUMNS
        if account and not mapping.default_account:
            mapping = attrs.evolve(mapping, default_account=account)
        out.append(mapping)
    return out[0], out[1]


def _load(
    paths: list[str], mapping: ColumnMapping
) -> tuple[list[Record], list[StatementBalance], list[str]]:
    records: list[Record] = []
    balances: list[StatementBalance] = []
    formats = []
    for path in paths:
        loaded = load_file(path, mapping)
        records.extend(loaded.records)
        balances.extend(loaded.statements)
        formats.append(f"{Path(path).name}: {loaded.format}, {len(loaded.records)} records")
    return records, balances, formats


def run(args: argparse.Namespace, *, stderr: TextIO | None = None) -> int:
    """Run a reconciliation from parsed arguments; returns the exit status."""
    err = stderr or sys.stderr
    try:
        config = load_rules(args.rules) if args.rules else ReconcileConfig()
        ledger_columns, statement_columns = _mappings(args.rules, args.account)
        wallet, _, ledger_formats = _load(args.ledger, ledger_columns)
        bank, balances, bank_formats = _load(args.statement, statement_columns)
    except (WalletLinkError, OSError, tomllib.TOMLDecodeError) as exc:
        err.write(f"walletlink reconcile: {exc}\n")
        return 2
    show = args.progress == "always" or (args.progress == "auto" and err.isatty())
    for line in (*ledger_formats, *bank_formats):
        err.write(f"read {line}\n")
    result = reconcile(
        wallet,
        bank,
        config,
        statements=balances,
        as_of=args.as_of,
        progress=ProgressBar(err) if show else None,
    )
    try:
        write_json(result, args.out)
        if args.html:
            write_html(result, args.html)
        if args.csv:
            write_csv(result, args.csv)
    except OSError as exc:
        err.write(f"walletlink reconcile: cannot write the report: {exc}\n")
        return 2
    counts = result.break_counts()
    summary = ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "no breaks"
    err.write(f"matched {len(result.matched)}, batches {len(result.batches)}; {summary}\n")
    return 1 if args.fail_on_breaks and result.has_breaks else 0
