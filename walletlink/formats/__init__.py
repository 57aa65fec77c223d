"""Bank file formats: ISO 20022 (pain.001, pain.002, camt.053/054) and SWIFT MT940.

Parsers read untrusted bytes safely (XML only through defusedxml, DTDs refused) and raise
:class:`~walletlink.errors.ParseError` naming the position; builders write files banks and
mock banks accept. Statements stream: :func:`iter_camt` and :func:`iter_mt940` yield one
entry at a time so a 1 GB file needs flat memory; :func:`parse_camt`, :func:`parse_mt940`
and :func:`parse_statements` collect :class:`Statement` values. See ``docs/formats.md``.
"""

from __future__ import annotations

from collections.abc import Iterator

from walletlink.errors import ParseError

from ._camt_writer import write_camt054
from ._xml import Source
from .camt import iter_camt, parse_camt, write_camt053
from .detect import FileFormat, detect_format
from .mt940 import iter_mt940, parse_mt940, write_mt940
from .pain001 import Pain001Document, Pain001Transaction, build_pain001, parse_pain001
from .pain002 import (
    PaymentStatus,
    StatusReport,
    TransactionStatus,
    parse_pain002,
    write_pain002,
)
from .statement import (
    Statement,
    StatementEnd,
    StatementHeader,
    StatementItem,
    collect_statements,
)

__all__ = [
    "FileFormat",
    "Pain001Document",
    "Pain001Transaction",
    "PaymentStatus",
    "Source",
    "Statement",
    "StatementEnd",
    "StatementHeader",
    "StatementItem",
    "StatusReport",
    "TransactionStatus",
    "build_pain001",
    "collect_statements",
    "detect_format",
    "iter_camt",
    "iter_mt940",
    "iter_statements",
    "parse_camt",
    "parse_mt940",
    "parse_pain001",
    "parse_pain002",
    "parse_statements",
    "write_camt053",
    "write_camt054",
    "write_mt940",
    "write_pain002",
]


def iter_statements(data: bytes | str) -> Iterator[StatementItem]:
    """Stream a statement file of any supported kind, detected from its first bytes."""
    kind = detect_format(data)
    if kind in (FileFormat.CAMT053, FileFormat.CAMT054):
        return iter_camt(data)
    if kind is FileFormat.MT940:
        return iter_mt940(data)
    raise ParseError(
        f"{kind.value} is not a statement format this module reads", position="offset 0"
    )


def parse_statements(data: bytes | str, *, check_balance: bool = False) -> list[Statement]:
    """Every statement in a camt.053/camt.054/MT940 file, format detected automatically."""
    statements = list(collect_statements(iter_statements(data)))
    if check_balance:
        for statement in statements:
            if statement.header.format != "mt942":  # an interim report has no balances
                statement.check_balance()
    return statements
