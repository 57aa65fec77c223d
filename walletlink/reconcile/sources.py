"""Read a file of either side, whatever its format: camt.053/.054, MT940, CSV or JSON lines.

:func:`detect_format` looks at the first bytes only. camt and MT940 go through the streaming
parsers of :mod:`walletlink.formats`, so a statement never has to fit in memory twice; their
opening and closing balances come back as :class:`StatementBalance` values for the hygiene
check. CSV and JSON lines need a :class:`~walletlink.reconcile.inputs.ColumnMapping`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final, Literal

import attrs

from walletlink.errors import ParseError
from walletlink.formats.camt import iter_camt
from walletlink.formats.detect import SNIFF_BYTES
from walletlink.formats.detect import FileFormat as DocumentFormat
from walletlink.formats.detect import detect_format as detect_document
from walletlink.formats.mt940 import iter_mt940
from walletlink.formats.statement import StatementEnd, StatementHeader, StatementItem
from walletlink.models import Transaction
from walletlink.reconcile.inputs import (
    STANDARD_MAPPING,
    ColumnMapping,
    read_csv,
    read_jsonl,
    record_from_transaction,
)
from walletlink.reconcile.records import Record, StatementBalance

__all__ = [
    "STANDARD_COLUMNS",
    "FileFormat",
    "LoadedFile",
    "detect_format",
    "load_file",
    "records_from_statement_items",
]

FileFormat = Literal["camt", "mt940", "csv", "jsonl"]

#: The mapping used for a CSV or JSON-lines file when none is given: columns named as fields.
STANDARD_COLUMNS: Final = STANDARD_MAPPING


@attrs.frozen
class LoadedFile:
    """The records of one file, the statement balances it carried, and its detected format."""

    format: FileFormat
    records: tuple[Record, ...]
    statements: tuple[StatementBalance, ...] = ()


def detect_format(path: str | Path) -> FileFormat:
    """``camt``, ``mt940``, ``jsonl`` or ``csv``, from the first bytes of the file.

    JSON lines are recognised here (a leading ``{`` that is not a SWIFT block); everything
    else is :func:`walletlink.formats.detect.detect_format`'s call. An ISO 20022 message that
    is not a statement (pain.001, pain.002, camt.052) is refused with ``ParseError``.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as exc:
        raise ParseError(f"cannot read {path}: {exc.strerror}") from None
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"{") and not text.startswith(b"{1:"):
        return "jsonl"
    try:
        found = detect_document(head)
    except ParseError as exc:
        raise ParseError(f"{Path(path).name}: {exc.message}") from None
    if found in (DocumentFormat.CAMT053, DocumentFormat.CAMT054):
        return "camt"
    if found is DocumentFormat.MT940:
        return "mt940"
    if found is DocumentFormat.CSV:
        return "csv"
    raise ParseError(f"{Path(path).name} is a {found} message, not a statement")


def records_from_statement_items(
    items: Iterable[StatementItem], source: str
) -> tuple[list[Record], list[StatementBalance]]:
    """Records and balance checks from a parser's stream of statement items."""
    records: list[Record] = []
    balances: list[StatementBalance] = []
    account = ""
    for item in items:
        if isinstance(item, StatementHeader):
            account = item.account.value if item.account is not None else ""
        elif isinstance(item, Transaction):
            number = len(records) + 1
            records.append(
                record_from_transaction(item, number=number, account=account, source=source)
            )
        elif isinstance(item, StatementEnd):
            balance = _balance(item, account, source)
            if balance is not None:
                balances.append(balance)
    return records, balances


def _balance(end: StatementEnd, account: str, source: str) -> StatementBalance | None:
    opening, closing = end.opening_balance, end.closing_balance
    if opening is None or closing is None:
        return None
    net = end.booked_net.minor_units if end.booked_net is not None else 0
    return StatementBalance(
        statement=f"{source}:{end.header.statement_id}",
        account=account,
        currency=opening.amount.currency,
        opening_minor=opening.amount.minor_units,
        entries_minor=net,
        closing_minor=closing.amount.minor_units,
    )


def load_file(
    path: str | Path, mapping: ColumnMapping | None = None, *, fmt: FileFormat | None = None
) -> LoadedFile:
    """Every record in ``path``; the format is detected unless ``fmt`` says it."""
    fmt = fmt or detect_format(path)
    name = Path(path).name
    if fmt in ("camt", "mt940"):
        items = iter_camt(Path(path)) if fmt == "camt" else iter_mt940(Path(path))
        records, balances = records_from_statement_items(items, name)
        return LoadedFile(fmt, tuple(records), tuple(balances))
    columns = mapping or STANDARD_COLUMNS
    reader = read_csv if fmt == "csv" else read_jsonl
    return LoadedFile(fmt, tuple(reader(path, columns)))
