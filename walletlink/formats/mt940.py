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
from collections.abc import Generator, Iterable, Iterator
from datetime import date
from decimal import Decimal
from typing import IO, Final

import attrs

from walletlink.accounts import AccountId, Iban, LocalAccount
from walletlink.errors import InvalidAmountError, ParseError, ValidationError
from walletlink.models import Balance, BalanceType, Direction, Transaction
from walletlink.money import Money, exponent_of

from ._mt940_info import Info, parse_info
from ._mt940_writer import write_mt940
from .statement import RunningTotal, Statement, StatementEnd, StatementHeader, StatementItem
from .statement import collect_statements as _collect

__all__ = ["MT940Source", "iter_mt940", "parse_mt940", "write_mt940"]

#: An MT940 file as bytes, text, a path or an open binary file.
MT940Source = bytes | str | os.PathLike[str] | IO[bytes]

# A field starts at a line start with :tag: (split in C over whole chunks, not per line).
_FIELD_SPLIT: Final = re.compile(r"^:(\d\d[A-Z]?):", re.MULTILINE)
# Block 4 ends with a line "-" or "-}" (then blocks 5 and the next envelope may follow).
_BLOCK_END: Final = re.compile(r"\n-(?:\}|[ \t]*\r?(?:\n|$))")
_ENVELOPE: Final = re.compile(r"\s*(?:\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}\s*)*(?:\{4:)?\s*")
_BALANCE: Final = re.compile(r"([CD])(\d{6})([A-Z]{3})(\d{1,15}),(\d*)")
_LINE61: Final = re.compile(
    r"(\d{6})(\d{4})?(RC|RD|EC|ED|C|D)([A-Z])?(\d{1,15}),(\d*)([NFS][A-Z0-9]{3})"
    r"([^\r\n]*)(.*)",
    re.DOTALL,
)
#: Bytes read per chunk from a file: fields are split out of whole chunks at once.
CHUNK_SIZE: Final = 1 << 20
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

    Memory holds one chunk (1 MiB) at a time. Raises ``ParseError`` naming the line of a
    field that breaks the format (a bad ``:61:``, amount or date).
    """
    reader = _Reader()
    for tag, body, line_no in _fields(_texts(source)):
        try:
            yield from reader.field(tag, body, line_no)
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


def _texts(source: MT940Source) -> Iterator[str]:
    """The text in pieces that end at a line end (so no character or line is ever cut)."""
    if isinstance(source, str):
        yield source
    elif isinstance(source, bytes):
        yield _decode(source)
    elif isinstance(source, os.PathLike):
        with open(source, "rb") as handle:
            yield from _file_texts(handle)
    else:
        yield from _file_texts(source)


def _file_texts(handle: IO[bytes]) -> Iterator[str]:
    carry = b""
    while chunk := handle.read(CHUNK_SIZE):
        data = carry + chunk
        cut = data.rfind(b"\n") + 1
        carry = data[cut:]
        if cut:
            yield _decode(data[:cut])
    if carry:
        yield _decode(carry)


def _fields(texts: Iterable[str]) -> Iterator[tuple[str, str, int]]:
    """``(tag, body, line number)`` per field; ``("-", "", n)`` where a block 4 ends."""
    carry = ""
    line_no = 1
    for text in texts:
        text = carry + text
        # Keep the last field back: its continuation lines may be in the next piece.
        cut = _last_field_start(text)
        carry = text[cut:]
        line_no = yield from _split(text[:cut], line_no)
    yield from _split(carry, line_no)


def _last_field_start(text: str) -> int:
    at = text.rfind("\n:")
    return at + 1 if at >= 0 else 0


def _split(text: str, line_no: int) -> Generator[tuple[str, str, int], None, int]:
    parts = _FIELD_SPLIT.split(text)
    line_no = _outside(parts[0], line_no)
    for index in range(1, len(parts), 2):
        tag, body = parts[index], parts[index + 1]
        end = _BLOCK_END.search(body)
        if end is None:
            yield tag, body, line_no
        else:
            yield tag, body[: end.start()], line_no
            yield "-", "", line_no + body.count("\n", 0, end.start())
            _outside(body[end.end() :], line_no)
        line_no += body.count("\n")
    return line_no


def _outside(text: str, line_no: int) -> int:
    """Text between fields may only be envelope blocks and blank lines."""
    if text and _ENVELOPE.fullmatch(text) is None:
        raise ParseError("text outside any MT940 field", position=f"line {line_no}")
    return line_no + text.count("\n")


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


class _Reader:
    """The state between fields: the open statement and the entry awaiting its ``:86:``."""

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}
        self._header: StatementHeader | None = None
        self._exponent = 2
        self._balances: list[Balance] = []
        self._total = RunningTotal()
        self._pending: re.Match[str] | None = None
        self._pending_line = 0
        self._open = False

    def field(self, tag: str, body: str, line_no: int) -> Iterator[StatementItem]:
        if tag == "61":
            if self._pending is not None:
                yield self._entry(None)
            self._pending = self._match_61(body, line_no)
            self._pending_line = line_no
        elif tag == "86":
            if self._pending is not None:
                yield self._entry(parse_info(body))
        elif tag in _BALANCE_TAGS:
            if self._pending is not None:
                yield self._entry(None)
            yield from self._balance(tag, body, line_no)
        elif tag == "20":
            yield from self.finish()
            self._open = True
            self._fields = {"20": body.strip()}
        elif tag == "-":
            yield from self.finish()
        elif self._open:
            self._fields[tag[:2]] = body.strip()
        else:
            raise ParseError(f"field :{tag}: before :20:", position=f"line {line_no}")

    def finish(self) -> Iterator[StatementItem]:
        if self._pending is not None:
            yield self._entry(None)
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

    def _balance(self, tag: str, body: str, line_no: int) -> Iterator[StatementItem]:
        match = _BALANCE.match(body.strip())
        if match is None:
            raise ParseError(f"malformed balance in :{tag}:", position=f"line {line_no}")
        mark, day, currency, units, fraction = match.groups()
        try:
            as_of = _date(day)
        except ValueError:
            raise ParseError(f"bad date in :{tag}:", position=f"line {line_no}") from None
        amount = _money(units, fraction, currency, exponent_of(currency))
        if tag.startswith("60"):
            if not self._open:
                raise ParseError(f"field :{tag}: before :20:", position=f"line {line_no}")
            if self._header is None:
                self._header = self._make_header(currency, as_of)
                self._exponent = exponent_of(currency)
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

    def _match_61(self, body: str, line_no: int) -> re.Match[str]:
        self._require_header("61", line_no)
        match = _LINE61.match(body)
        if match is None:
            raise ParseError("malformed :61: statement line", position=f"line {line_no}")
        return match

    def _entry(self, info: Info | None) -> Transaction:
        """Build the pending ``:61:`` entry, completed by its ``:86:`` when there is one."""
        match, line_no = self._pending, self._pending_line
        self._pending = None
        if match is None or self._header is None:  # pragma: no cover - callers check first
            raise ParseError("internal: no pending :61:", position=f"line {line_no}")
        value_text, entry_text, mark, _, units, fraction, type_code, refs, more = match.groups()
        try:
            value_date = _date(value_text)
            booking = _entry_date(value_date, entry_text) if entry_text else value_date
        except ValueError:
            raise ParseError("bad date in :61:", position=f"line {line_no}") from None
        customer, _, bank = refs.partition("//")
        customer = customer.strip()
        direction, reversal = _MARKS[mark]
        supplementary = " ".join(more.split()) or None
        try:
            amount = _money(units, fraction, self._header.currency or "", self._exponent)
        except ValidationError as exc:
            raise ParseError(
                f"bad :61: amount: {exc.message}", position=f"line {line_no}"
            ) from None
        entry = Transaction(
            amount=amount,
            direction=direction,
            reversal=reversal,
            value_date=value_date,
            booking_date=booking,
            type_code=type_code,
            customer_reference=None if customer in _NO_REFERENCE else customer,
            bank_reference=bank.strip() or None,
            end_to_end_id=info.end_to_end_id if info else None,
            counterparty_name=info.name if info else None,
            counterparty_account=info.account if info else None,
            remittance=(info.remittance if info else None) or supplementary,
        )
        self._total.add(entry)
        return entry


def _money(units: str, fraction: str, currency: str, exponent: int) -> Money:
    """``"123"``, ``"5"`` → 123.50: exact, and never more decimals than the currency has."""
    if len(fraction) > exponent:
        raise InvalidAmountError(f"{currency} allows {exponent} decimal places")
    if exponent == 0:
        return Money(Decimal(units), currency)
    return Money(Decimal(f"{units}.{fraction.ljust(exponent, '0')}"), currency)


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
