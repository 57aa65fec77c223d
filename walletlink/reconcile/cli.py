"""``walletlink reconcile``: files in, a JSON (and optionally HTML and CSV) report out.

Exit status: 0 when the run completed (breaks or not), 1 when ``--fail-on-breaks`` is given
and there are breaks (or a statement does not balance), 2 when an input or the rules file
cannot be read, or a mapped column is not in a file; the message then names the file and
line. A run whose result looks wrong rather than broken (nothing matched although both sides
have rows; every amount of a side has one sign) still completes, with a ``warning:`` line.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

import attrs

from walletlink.errors import ConfigurationError, ParseError, WalletLinkError
from walletlink.reconcile._dsn import mask_dsn, records_from_dsn
from walletlink.reconcile.config import ENGINES, ReconcileConfig, load_rules
from walletlink.reconcile.engine import reconcile
from walletlink.reconcile.html import write_html
from walletlink.reconcile.inputs import STANDARD_MAPPING, ColumnMapping
from walletlink.reconcile.records import Record, StatementBalance
from walletlink.reconcile.report import to_json, write_csv, write_json
from walletlink.reconcile.results import CATEGORIES, ReconciliationResult
from walletlink.reconcile.sources import load_file

__all__ = ["ProgressBar", "add_arguments", "run", "summary_table"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``reconcile`` options, added to a (sub)parser."""
    parser.add_argument(
        "--ledger",
        action="append",
        default=[],
        metavar="FILE",
        help="wallet ledger: CSV or JSON lines (repeatable)",
    )
    parser.add_argument(
        "--ledger-dsn",
        metavar="DSN",
        help="read the ledger from a database: postgresql://…, sqlite:///file, duckdb:///file "
        "or dbapi:<module>:<argument> (with --ledger-query)",
    )
    parser.add_argument(
        "--ledger-query", metavar="SQL", help="the SELECT that reads the ledger from --ledger-dsn"
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
    parser.add_argument(
        "--out", required=True, metavar="JSON", help="write the JSON report (- for stdout)"
    )
    parser.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page")
    parser.add_argument("--csv", metavar="DIR", help="also write one CSV per category")
    parser.add_argument(
        "--account", default="", help="account for ledger/CSV rows that have no account column"
    )
    parser.add_argument(
        "--as-of",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="the day the run stands on (default: today, UTC)",
    )
    parser.add_argument(
        "--fail-on-breaks", action="store_true", help="exit with status 1 when any break is found"
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        help="matching engine (default: the rules file's, else python); duckdb needs the "
        "walletlink[duckdb] extra",
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
        if raw is None:
            mapping = STANDARD_MAPPING
        elif not isinstance(raw, dict):
            raise ConfigurationError(f"{path}: [{name}] must be a table of column names")
        else:
            try:  # a partial table changes the columns it names; the others stay standard
                mapping = ColumnMapping.from_mapping(raw, base=STANDARD_MAPPING)
            except ConfigurationError as exc:
                raise ConfigurationError(f"{path} [{name}]: {exc.message}") from None
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
        try:
            loaded = load_file(path, mapping)
        except WalletLinkError as exc:  # camt and MT940 positions do not name the file
            raise ParseError(f"{path}: {exc}") from exc
        records.extend(loaded.records)
        balances.extend(loaded.statements)
        formats.append(f"{Path(path).name}: {loaded.format}, {len(loaded.records)} records")
    return records, balances, formats


def _load_ledger(
    args: argparse.Namespace, mapping: ColumnMapping
) -> tuple[list[Record], list[str]]:
    """The ledger from its files and, with ``--ledger-dsn``, from a database query."""
    if args.ledger_query and not args.ledger_dsn:
        raise ConfigurationError("--ledger-query needs --ledger-dsn")
    if not args.ledger and not args.ledger_dsn:
        raise ConfigurationError("give the ledger: --ledger FILE or --ledger-dsn DSN")
    wallet, _, formats = _load(args.ledger, mapping)
    if args.ledger_dsn:
        rows = records_from_dsn(args.ledger_dsn, args.ledger_query or "", mapping)
        wallet.extend(rows)
        formats.append(f"{mask_dsn(args.ledger_dsn)}: query, {len(rows)} records")
    return wallet, formats


def _warnings(
    wallet: Sequence[Record], bank: Sequence[Record], result: ReconciliationResult
) -> list[str]:
    """What makes a completed run suspicious: the usual sign of a wrong column mapping."""
    found = []
    if wallet and bank and not result.matched and not result.batches:
        found.append(
            f"nothing matched although the ledger has {len(wallet)} and the statements "
            f"{len(bank)} records: check the column mapping (--rules) and the signs"
        )
    for side, records in (("ledger", wallet), ("statement", bank)):
        signs = {r.amount_minor > 0 for r in records if r.amount_minor}
        if len(records) > 1 and len(signs) == 1:
            kind = "credits" if signs == {True} else "debits"
            found.append(
                f"every {side} amount is one sign ({len(records)} {kind}): unsigned amounts "
                "need a sign column (the standard name is 'direction'), debit and credit "
                "columns, or negate"
            )
    return found


def summary_table(result: ReconciliationResult) -> str:
    """Records per category and side, as a fixed-width table (every category the result has)."""
    counts = Counter((category, side) for side, _, category in result.assignments())
    names = list(CATEGORIES) + sorted({c for c, _ in counts} - set(CATEGORIES))
    width = max(len(n) for n in names)
    lines = [f"{'category':<{width}}  {'ledger':>8}  {'bank':>8}"]
    for name in names:
        wallet, bank = counts[name, "wallet"], counts[name, "bank"]
        if wallet or bank:
            lines.append(f"{name:<{width}}  {wallet:>8}  {bank:>8}")
    bad = sum(1 for check in result.balance_checks if not check.ok)
    if result.balance_checks:
        lines.append(f"statement balances: {len(result.balance_checks) - bad} ok, {bad} off")
    return "\n".join(lines) + "\n"


def _write(result: ReconciliationResult, args: argparse.Namespace, stdout: TextIO) -> None:
    if args.out == "-":
        stdout.write(to_json(result))
        stdout.flush()
    else:
        write_json(result, args.out)
    if args.html:
        write_html(result, args.html)
    if args.csv:
        write_csv(result, args.csv)


def run(
    args: argparse.Namespace,
    *,
    stderr: TextIO | None = None,
    stdout: TextIO | None = None,
    today: date | None = None,
) -> int:
    """Run a reconciliation from parsed arguments; returns the exit status.

    ``today`` (default: the UTC date now) is the ``as_of`` when ``--as-of`` is not given: a
    closed period reconciled later must not show its last days as pending.
    """
    err = stderr or sys.stderr
    try:
        config = load_rules(args.rules) if args.rules else ReconcileConfig()
        if args.engine:
            config = attrs.evolve(config, engine=args.engine)
        ledger_columns, statement_columns = _mappings(args.rules, args.account)
        wallet, ledger_formats = _load_ledger(args, ledger_columns)
        bank, balances, bank_formats = _load(args.statement, statement_columns)
    except (WalletLinkError, OSError, tomllib.TOMLDecodeError) as exc:
        err.write(f"walletlink reconcile: {exc}\n")
        return 2
    show = args.progress == "always" or (args.progress == "auto" and err.isatty())
    for line in (*ledger_formats, *bank_formats):
        err.write(f"read {line}\n")
    as_of = args.as_of or today or datetime.now(UTC).date()
    result = reconcile(
        wallet,
        bank,
        config,
        statements=balances,
        as_of=as_of,
        progress=ProgressBar(err) if show else None,
    )
    try:
        _write(result, args, stdout or sys.stdout)
    except OSError as exc:
        err.write(f"walletlink reconcile: cannot write the report: {exc}\n")
        return 2
    for warning in _warnings(wallet, bank, result):
        err.write(f"walletlink reconcile: warning: {warning}\n")
    counts = result.break_counts()
    summary = ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "no breaks"
    err.write(f"as of {as_of}: matched {len(result.matched)}, batches {len(result.batches)}; ")
    err.write(f"{summary}\n{summary_table(result)}")
    return 1 if args.fail_on_breaks and result.has_breaks else 0
