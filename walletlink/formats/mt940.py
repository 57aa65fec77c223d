"""SWIFT MT940 customer statements: a streaming parser and a writer.

:func:`iter_mt940` reads block-4 content with or without the ``{1:}{2:}{4: … -}`` envelope,
any number of statements per file, CRLF or LF, UTF-8 or Latin-1, and yields the same
:mod:`~walletlink.formats.statement` items as the camt reader. :func:`parse_mt940` collects
them. :func:`write_mt940` writes statements back out (for mock banks, tests and benchmarks).

Sign convention (``:61:`` sub-field 3): ``C`` credit, ``D`` debit, ``RC`` reversal of a
credit (a *debit* effect), ``RD`` reversal of a debit (a *credit* effect). A
:class:`~walletlink.models.Transaction` carries the effective direction and
``reversal=True``, exactly as a camt entry with ``RvslInd`` does.

``:86:`` is read in three shapes: the German ``GVC?00…?20…?32`` structure, the SWIFT-style
``/EREF/…/REMI/…`` tags, and free text.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal
from typing import IO, Final

import attrs

from walletlink.accounts import AccountId, Iban, LocalAccount
from walletlink.errors import ParseError, ValidationError
from walletlink.models import Balance, BalanceType, Direction, Transaction
from walletlink.money import Money

from ._mt940_info import Info, parse_info
from ._mt940_writer import write_mt940
from .statement import RunningTotal, Statement, StatementEnd, StatementHeader, StatementItem
from .statement import collect_statements as _collect

__all__ = ["MT940Source", "iter_mt940", "parse_mt940", "write_mt940"]

#: An MT940 file as bytes, text, a path or an open binary file.
MT940Source = bytes | str | os.PathLike[str] | IO[bytes]

_FIELD: Final = re.compile(r":(\d\d[A-Z]?):")
_BALANCE: Final = re.compile(r"([CD])(\d{6})([A-Z]{3})(\d{1,15},\d*)")
_LINE61: Final = re.compile(
    r"(\d{6})(\d{4})?(RC|RD|EC|ED|C|D)([A-Z])?(\d{1,15},\d*)([NFS][A-Z0-9]{3})(.*)"
)
# The mark's effective direction and whether it is a storno (see the module docstring).
_MARKS: Final = {
    "C": (Direction.CREDIT, False),
    "D": (Direction.DEBIT, False),
    "EC": (Direction.CREDIT, False),
    "ED": (Direction.DEBIT, False),
    "RC": (Direction.DEBIT, True),
    "RD": (Direction.CREDIT, True),
}
_BALANCE_TAGS: Final = {
    "60F": BalanceType.OPENING_BOOKED,
    "60M": BalanceType.OPENING_BOOKED,
    "62F": BalanceType.CLOSING_BOOKED,
    "62M": BalanceType.CLOSING_BOOKED,
    "64": BalanceType.CLOSING_AVAILABLE,
    "65": BalanceType.FORWARD_AVAILABLE,
}
_NO_REFERENCE: Final = frozenset({"NONREF", "NOTPROVIDED", ""})


def iter_mt940(source: MT940Source) -> Iterator[StatementItem]:
    """Stream MT940 statements as header, balances, entries and ends.

    Memory holds one field at a time. Raises ``ParseError`` naming the line of a field that
    breaks the format (a bad ``:61:``, amount or date).
    """
    reader = _Reader()
    for tag, lines, line_no in _fields(_lines(source)):
        try:
            yield from reader.field(tag, lines, line_no)
        except ValidationError as exc:  # Money, Iban: wrap with the position
            raise ParseError(
                f"bad :{tag}: field: {exc.message}", position=f"line {line_no}"
            ) from None
    yield from reader.finish()


def parse_mt940(source: MT940Source, *, check_balance: bool = False) -> list[Statement]:
    """Every statement in the file, in memory; optionally balance-checked."""
    statements = list(_collect(iter_mt940(source)))
    if check_balance:
        for statement in statements:
            statement.check_balance()
    return statements


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # MT940 predates UTF-8; German banks send Latin-1 umlauts. Latin-1 never fails.
        return raw.decode("latin-1")


def _lines(source: MT940Source) -> Iterator[str]:
    if isinstance(source, str):
        yield from source.splitlines()
    elif isinstance(source, bytes):
        yield from _decode(source).splitlines()
    elif isinstance(source, os.PathLike):
        with open(source, "rb") as handle:
            yield from _file_lines(handle)
    else:
        yield from _file_lines(source)


def _file_lines(handle: IO[bytes]) -> Iterator[str]:
    for raw in handle:
        yield _decode(raw).rstrip("\r\n")


def _fields(lines: Iterable[str]) -> Iterator[tuple[str, list[str], int]]:
    """Group lines into ``(tag, lines, first line number)``; ``("-", …)`` ends a block 4."""
    tag: str | None = None
    body: list[str] = []
    start = 0
    for number, line in enumerate(lines, 1):
        if line.startswith("{"):
            # Envelope: skip blocks 1-3; block 4 may start a field on the same line.
            at = line.find("{4:")
            line = line[at + 3 :] if at >= 0 else ""
        if line.startswith(":") and (match := _FIELD.match(line)):
            if tag is not None:
                yield tag, body, start
            tag, body, start = match.group(1), [line[match.end() :]], number
        elif (line.startswith("-") and line.rstrip() in ("-", "-}")) or line.startswith("-}"):
            if tag is not None:
                yield tag, body, start
            tag, body = None, []
            yield "-", [], number
        elif tag is not None:
            body.append(line)
        elif line.strip():
            raise ParseError("text outside any MT940 field", position=f"line {number}")
    if tag is not None:
        yield tag, body, start


@functools.lru_cache(maxsize=4096)
def _date(text: str) -> date:
    # SWIFT YYMMDD: a sliding century, 70-99 → 19xx, 00-69 → 20xx.
    year = int(text[:2])
    return date(year + (1900 if year >= 70 else 2000), int(text[2:4]), int(text[4:6]))


def _entry_date(value_date: date, mmdd: str) -> date:
    """The MMDD booking date's year follows the value date, across a year end either way."""
    month, day = int(mmdd[:2]), int(mmdd[2:])
    year = value_date.year
    if value_date.month == 12 and month == 1:
        year += 1
    elif value_date.month == 1 and month == 12:
        year -= 1
    return date(year, month, day)


def _amount(text: str, currency: str) -> Money:
    # A decimal comma is mandatory and "100," is valid; Money enforces the exponent.
    return Money(Decimal(text.replace(",", ".")), currency)


class _Reader:
    """The state between fields: the open statement and the entry awaiting its ``:86:``."""

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}
        self._header: StatementHeader | None = None
        self._balances: list[Balance] = []
        self._total = RunningTotal()
        self._pending: tuple[dict[str, object], int] | None = None
        self._open = False

    def field(self, tag: str, lines: list[str], line_no: int) -> Iterator[StatementItem]:
        if tag == "61":
            yield from self._flush()
            self._require_header(tag, line_no)
            self._pending = (self._read_61(lines, line_no), line_no)
        elif tag == "86":
            if self._pending is not None:
                yield self._entry(parse_info(lines))
        elif tag in _BALANCE_TAGS:
            yield from self._flush()
            yield from self._balance(tag, lines[0], line_no)
        elif tag == "20":
            yield from self.finish()
            self._open = True
            self._fields = {"20": lines[0].strip()}
        elif tag == "-":
            yield from self.finish()
        elif self._open:
            self._fields[tag[:2]] = "\n".join(lines).strip()
        else:
            raise ParseError(f"field :{tag}: before :20:", position=f"line {line_no}")

    def finish(self) -> Iterator[StatementItem]:
        yield from self._flush()
        if not self._open:
            return
        header = self._require_header("62F", 0)
        yield StatementEnd(
            header=header,
            balances=tuple(self._balances),
            entry_count=self._total.count,
            booked_net=self._total.money(header.currency),
        )
        self._open, self._header, self._balances = False, None, []
        self._total = RunningTotal()

    def _require_header(self, tag: str, line_no: int) -> StatementHeader:
        if self._header is None:
            where = f"line {line_no}" if line_no else "end of statement"
            raise ParseError(f"field :{tag}: needs an opening balance :60F: first", position=where)
        return self._header

    def _flush(self) -> Iterator[Transaction]:
        if self._pending is not None:
            yield self._entry(None)

    def _balance(self, tag: str, text: str, line_no: int) -> Iterator[StatementItem]:
        match = _BALANCE.match(text.strip())
        if match is None:
            raise ParseError(f"malformed balance in :{tag}:", position=f"line {line_no}")
        mark, day, currency, amount_text = match.groups()
        try:
            as_of = _date(day)
        except ValueError:
            raise ParseError(f"bad date in :{tag}:", position=f"line {line_no}") from None
        amount = _amount(amount_text, currency)
        if tag.startswith("60"):
            if not self._open:
                raise ParseError(f"field :{tag}: before :20:", position=f"line {line_no}")
            if self._header is None:
                self._header = self._make_header(currency, as_of)
                yield self._header
        header = self._require_header(tag, line_no)
        if tag.startswith("62"):
            self._header = header = _with_end(header, as_of)
        balance = Balance(
            account=header.account,
            amount=-amount if mark == "D" else amount,
            type=_BALANCE_TAGS[tag],
            as_of=as_of,
        )
        self._balances.append(balance)
        yield balance

    def _make_header(self, currency: str, opening: date) -> StatementHeader:
        fields = self._fields
        return StatementHeader(
            format="mt940",
            statement_id=fields.get("20") or "NONREF",
            account=_account(fields.get("25")),
            currency=currency,
            sequence_number=fields.get("28"),
            related_reference=fields.get("21"),
            from_date=opening,
        )

    def _read_61(self, lines: list[str], line_no: int) -> dict[str, object]:
        match = _LINE61.match(lines[0])
        if match is None:
            raise ParseError("malformed :61: statement line", position=f"line {line_no}")
        value_text, entry_text, mark, _funds, amount_text, type_code, refs = match.groups()
        try:
            value_date = _date(value_text)
            booking = _entry_date(value_date, entry_text) if entry_text else None
        except ValueError:
            raise ParseError("bad date in :61:", position=f"line {line_no}") from None
        customer, _, bank = refs.partition("//")
        direction, reversal = _MARKS[mark]
        currency = self._require_header("61", line_no).currency or ""
        return {
            "amount": _amount(amount_text, currency),
            "direction": direction,
            "reversal": reversal,
            "value_date": value_date,
            "booking_date": booking or value_date,
            "type_code": type_code,
            "customer_reference": None if customer.strip() in _NO_REFERENCE else customer.strip(),
            "bank_reference": bank.strip() or None,
            "remittance": " ".join(s.strip() for s in lines[1:] if s.strip()) or None,
        }

    def _entry(self, info: Info | None) -> Transaction:
        if self._pending is None:  # pragma: no cover - callers check first
            raise ParseError(":86: without a :61:")
        fields, _line = self._pending
        self._pending = None
        if info is not None:
            fields["end_to_end_id"] = info.end_to_end_id
            fields["counterparty_name"] = info.name
            fields["counterparty_account"] = info.account
            fields["remittance"] = info.remittance or fields["remittance"]
        entry = Transaction(**fields)  # type: ignore[arg-type]
        self._total.add(entry)
        return entry


def _with_end(header: StatementHeader, closing: date) -> StatementHeader:
    return attrs.evolve(header, to_date=closing)


def _account(text: str | None) -> AccountId | None:
    if not text:
        return None
    value = text.split("\n")[0].strip()
    compact = value.replace(" ", "")
    try:
        return Iban(compact)
    except ValidationError:
        return LocalAccount(value[:70])
