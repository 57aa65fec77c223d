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
from typing import IO, Final, TypeAlias

import attrs

from walletlink.accounts import AccountId, Iban, LocalAccount
from walletlink.errors import InvalidAmountError, ParseError, ValidationError
from walletlink.models import Balance, BalanceType, BookingStatus, Direction, Transaction
from walletlink.money import Money, _trusted_money, exponent_of

from ._mt940_info import EntryInfo, entry_info
from ._mt940_writer import write_mt940
from .statement import (
    RunningTotal,
    Statement,
    StatementEnd,
    StatementHeader,
    StatementItem,
    unchecked_entry,
)
from .statement import collect_statements as _collect

__all__ = ["MT940Source", "iter_mt940", "parse_mt940", "write_mt940"]

#: An MT940 file as bytes, text, a path or an open binary file.
MT940Source = bytes | str | os.PathLike[str] | IO[bytes]

# A field starts at a line start with :tag:. The split pattern takes the line end before the
# tag too (a literal "\n:" lets the regex engine skip ahead in C, 2-3x faster than a
# MULTILINE "^"), so every piece handed to it starts with a line end (see _pieces).
_FIELD_SPLIT: Final = re.compile(r"\n:(\d\d[A-Z]?):")
# Block 4 ends with a line "-" or "-}" (then blocks 5 and the next envelope may follow).
_BLOCK_END: Final = re.compile(r"\n-(?:\}|[ \t]*\r?(?:\n|$))")
_ENVELOPE: Final = re.compile(r"\s*(?:\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}\s*)*(?:\{4:)?\s*")
_BALANCE: Final = re.compile(r"([CD])(\d{6})([A-Z]{3})(\d{1,15}),(\d*)")
# MT942's :34F: floor limit (currency, optional D/C mark, amount): it opens an interim report.
_FLOOR: Final = re.compile(r"([A-Z]{3})[CD]?\d{1,15},\d*")
# Value date and optional entry date, mark, funds code, amount, type, references, the rest.
_LINE61: Final = re.compile(
    r"(\d{6}(?:\d{4})?)(RC|RD|EC|ED|C|D)[A-Z]?(\d{1,15}),(\d*)([NFS][A-Z0-9]{3})"
    r"([^\r\n]*)(.*)",
    re.DOTALL,
)
#: Bytes read per chunk from a file: fields are split out of whole chunks at once.
CHUNK_SIZE: Final = 1 << 20
# Mark → (effective direction, reversal, whether it credits).
_MARKS: Final = {
    "C": (Direction.CREDIT, False, True),
    "D": (Direction.DEBIT, False, False),
    "EC": (Direction.CREDIT, False, True),
    "ED": (Direction.DEBIT, False, False),
    "RC": (Direction.DEBIT, True, False),
    "RD": (Direction.CREDIT, True, True),
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
# ":61:" dates text (YYMMDD or YYMMDDMMDD) → (value date, booking date); bounded.
_ENTRY_DATES: Final[dict[str, tuple[date, date]]] = {}
_ENTRY_DATES_MAX: Final = 4096

# A :61: awaiting its :86: (or the next field): its match, and where to find its line.
_Pending: TypeAlias = "tuple[re.Match[str], _Lines, int] | None"


def iter_mt940(source: MT940Source) -> Iterator[StatementItem]:
    """Stream MT940 statements as header, balances, entries and ends.

    Memory holds one chunk (1 MiB) at a time. Raises ``ParseError`` naming the line of a
    field that breaks the format (a bad ``:61:``, amount or date).
    """
    return _Reader().items(_pieces(_texts(source)))


def parse_mt940(source: MT940Source, *, check_balance: bool = False) -> list[Statement]:
    """Every statement in the file, in memory; optionally balance-checked."""
    statements = list(_collect(iter_mt940(source)))
    if check_balance:
        for statement in statements:
            if statement.header.format == "mt940":  # an MT942 report has no balances
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


def _pieces(texts: Iterable[str]) -> Iterator[tuple[str, int]]:
    """Whole fields in pieces, each starting with a line end, and the line number after it.

    The last field of a text is kept back (its continuation lines may be in the next text);
    the first piece starts with a line end put before line 1.
    """
    carry = "\n"
    line_no = 1
    for text in texts:
        text = carry + text
        cut = text.rfind("\n:")
        if cut <= 0:
            carry = text
            continue
        carry = text[cut:]
        piece = text[:cut]
        yield piece, line_no
        line_no += piece.count("\n")
    yield carry, line_no


class _Lines:
    """The line numbers of one split piece's fields, counted only when asked for.

    ``parts`` is ``[before, tag, body, tag, body, …]``; each tag's line end went into the
    split, so a field is one line further than the line ends before it. :meth:`at` counts on
    from the last field asked for (ask in order); :meth:`exact` counts afresh (for errors).
    """

    __slots__ = ("_index", "_line", "_line_no", "_parts")

    def __init__(self, parts: list[str], line_no: int) -> None:
        self._parts = parts
        self._line_no = line_no
        self._index = 1
        self._line = line_no + parts[0].count("\n")

    def at(self, index: int) -> int:
        parts, line = self._parts, self._line
        for body in range(self._index + 1, index, 2):
            line += parts[body].count("\n") + 1
        self._index, self._line = index, line
        return line

    def exact(self, index: int) -> int:
        parts = self._parts
        line = self._line_no + parts[0].count("\n")
        return line + sum(parts[body].count("\n") + 1 for body in range(2, index, 2))


def _outside(text: str, line_no: int) -> None:
    """Text between fields may only be envelope blocks and blank lines."""
    if text and _ENVELOPE.fullmatch(text) is None:
        raise ParseError("text outside any MT940 field", position=f"line {line_no}")


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


def _entry_dates(text: str) -> tuple[date, date]:
    """``YYMMDD[MMDD]`` → (value date, booking date); raises ``ValueError`` for a bad date."""
    value_date = _date(text[:6])
    dates = (value_date, _entry_date(value_date, text[6:]) if len(text) > 6 else value_date)
    if len(_ENTRY_DATES) >= _ENTRY_DATES_MAX:
        _ENTRY_DATES.clear()
    _ENTRY_DATES[text] = dates
    return dates


class _Reader:
    """The state between fields: the open statement and the entry awaiting its ``:86:``.

    :meth:`feed` reads ``:61:`` and ``:86:`` inline (they are nearly every field) and hands
    every other field, and any field holding a block end, to :meth:`field`.
    """

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}
        self._header: StatementHeader | None = None
        self._currency = ""
        self._exponent = 2
        self._balances: list[Balance] = []
        self._total = RunningTotal()
        self._pending: _Pending = None
        self._open = False
        # An MT942 interim report (opened by :34F:): its entries are not booked yet.
        self._interim = False

    def items(self, pieces: Iterable[tuple[str, int]]) -> Iterator[StatementItem]:
        """The items of every piece (each starts with a line end; the line number after it)."""
        match_61, info_of = _LINE61.match, entry_info
        for piece, line_no in pieces:
            parts = _FIELD_SPLIT.split(piece)
            _outside(parts[0], line_no)
            lines = _Lines(parts, line_no)
            may_end = "\n-" in piece  # else no body holds a block end
            index, stop = 1, len(parts)
            while index < stop:
                tag, body = parts[index], parts[index + 1]
                if may_end and "\n-" in body and (end := _BLOCK_END.search(body)) is not None:
                    line = lines.at(index)
                    yield from self._field(tag, body[: end.start()], line)
                    yield from self._field("-", "", line + body.count("\n", 0, end.start()))
                    _outside(body[end.end() :], line)
                elif tag == "61":
                    if self._pending is not None:
                        yield self._pending_entry(None)
                    if self._header is None:
                        self._require_header("61", lines.exact(index))
                    if (match := match_61(body)) is None:
                        raise _malformed_61(lines.exact(index))
                    if (
                        index + 2 < stop
                        and parts[index + 2] == "86"
                        and not (may_end and "\n-" in parts[index + 3])
                    ):
                        # The usual pair, in one step.
                        yield self._entry(match, info_of(parts[index + 3]), lines, index)
                        index += 2
                    else:
                        self._pending = (match, lines, index)
                elif tag == "86":
                    if self._pending is not None:
                        yield self._pending_entry(info_of(body))
                else:
                    yield from self._field(tag, body, lines.at(index))
                index += 2
        yield from self.finish()

    def _field(self, tag: str, body: str, line_no: int) -> Iterator[StatementItem]:
        try:
            yield from self.field(tag, body, line_no)
        except ValidationError as exc:  # Money, Iban: wrap with the position
            raise ParseError(
                f"bad :{tag}: field: {exc.message}", position=f"line {line_no}"
            ) from exc

    def field(self, tag: str, body: str, line_no: int) -> Iterator[StatementItem]:
        if tag == "61":
            if self._pending is not None:
                yield self._pending_entry(None)
            self._require_header("61", line_no)
            if (match := _LINE61.match(body)) is None:
                raise _malformed_61(line_no)
            self._pending = (match, _Lines([""], line_no), 1)
        elif tag == "86":
            if self._pending is not None:
                yield self._pending_entry(entry_info(body))
        elif tag in _BALANCE_TAGS:
            if self._pending is not None:
                yield self._pending_entry(None)
            if self._interim:
                raise ParseError(f"field :{tag}: in an MT942 report", position=f"line {line_no}")
            yield from self._balance(tag, body, line_no)
        elif tag == "34F" and self._open and self._header is None:
            yield from self._interim_report(body, line_no)
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
            yield self._pending_entry(None)
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
        self._interim = False

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
                self._currency = currency
                self._exponent = exponent_of(currency)
                yield self._header
        header = self._require_header(tag, line_no)
        if currency != self._currency:  # one statement, one currency: the check relies on it
            raise ParseError(
                f":{tag}: in {currency} in a {self._currency} statement", position=f"line {line_no}"
            )
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

    def _interim_report(self, body: str, line_no: int) -> Iterator[StatementItem]:
        """MT942's first :34F: gives the currency; its entries are pending, it has no balances."""
        match = _FLOOR.fullmatch(body.strip())
        if match is None:
            raise ParseError("malformed floor limit in :34F:", position=f"line {line_no}")
        currency = match.group(1)
        self._exponent = exponent_of(currency)
        self._currency, self._interim = currency, True
        self._header = self._make_header(currency, None, "mt942")
        yield self._header

    def _make_header(
        self, currency: str, opening: date | None, kind: str = "mt940"
    ) -> StatementHeader:
        fields = self._fields
        return StatementHeader(
            format=kind,
            statement_id=fields.get("20") or "NONREF",
            account=_account(fields.get("25")),
            currency=currency,
            sequence_number=fields.get("28"),
            related_reference=fields.get("21"),
            from_date=opening,
        )

    def _pending_entry(self, info: EntryInfo | None) -> Transaction:
        pending = self._pending
        self._pending = None
        if pending is None:  # pragma: no cover - callers check first
            raise ParseError("internal: no pending :61:", position="unknown")
        match, lines, index = pending
        return self._entry(match, info, lines, index)

    def _entry(
        self, match: re.Match[str], info: EntryInfo | None, lines: _Lines, index: int
    ) -> Transaction:
        """The entry of a matched ``:61:``, completed by its ``:86:`` when there is one."""
        dates, mark, units, fraction, type_code, refs, more = match.groups()
        both = _ENTRY_DATES.get(dates)
        if both is None:
            try:
                both = _entry_dates(dates)
            except ValueError:
                raise ParseError(
                    "bad date in :61:", position=f"line {lines.exact(index)}"
                ) from None
        exponent = self._exponent
        if len(fraction) == exponent and exponent:
            value = Decimal(f"{units}.{fraction}")
        elif len(fraction) <= exponent:
            value = Decimal(f"{units}.{fraction.ljust(exponent, '0')}" if exponent else units)
        else:
            raise ParseError(
                f"bad :61: amount: {self._currency} allows {exponent} decimal places",
                position=f"line {lines.exact(index)}",
            )
        direction, reversal, credit = _MARKS[mark]
        customer, _, bank = refs.partition("//")
        customer = customer.strip()
        supplementary = " ".join(more.split()) or None if more and not more.isspace() else None
        if info is None:
            end_to_end_id = name = account = None
            remittance = supplementary
        else:
            end_to_end_id, name, account, remittance = info
            remittance = remittance or supplementary
        entry = unchecked_entry(
            _trusted_money(value, self._currency),
            direction,
            reversal,
            both[0],
            both[1],
            type_code,
            None if customer in _NO_REFERENCE else customer,
            bank.strip() or None,
            end_to_end_id,
            name,
            account,
            remittance,
        )
        total = self._total
        total.count += 1
        if self._interim:  # MT942: reported, not booked; it moves no booked balance
            return attrs.evolve(entry, status=BookingStatus.PENDING)
        if credit:
            total.net += value
        else:
            total.net -= value
        return entry


def _malformed_61(line_no: int) -> ParseError:
    return ParseError("malformed :61: statement line", position=f"line {line_no}")


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
