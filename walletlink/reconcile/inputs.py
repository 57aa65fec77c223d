"""Turn ledgers, CSV files, JSON lines, DB-API cursors and bank transactions into records.

Every reader normalises once, at the edge: amounts become integer minor units through the
currency's ISO 4217 exponent (a decimal string is parsed exactly; a float is refused), signs
come from a signed amount, from separate debit and credit columns, or from a sign column
(``C``/``D``, ``CRDT``/``DBIT``, ``RC``/``RD``), dates become UTC dates, and placeholder
references become empty. A bad row raises :class:`~walletlink.errors.ParseError` naming the
file and line and what was wrong with it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import attrs

from walletlink.errors import ConfigurationError, InvalidAmountError, ParseError, ValidationError
from walletlink.models import BookingStatus, Direction, Transaction
from walletlink.money import exponent_of
from walletlink.reconcile.records import BatchMember, Record, RecordStatus, to_utc_date

__all__ = [
    "ColumnMapping",
    "DbApiCursor",
    "parse_date",
    "parse_minor",
    "parse_sign",
    "parse_status",
    "read_csv",
    "read_jsonl",
    "record_from_row",
    "record_from_transaction",
    "records_from_cursor",
    "records_from_mappings",
    "records_from_transactions",
]

DateOrder = Literal["ymd", "dmy", "mdy"]

_CREDIT_SIGNS: Final = frozenset({"C", "CR", "CRDT", "CREDIT", "+", "RD"})
_DEBIT_SIGNS: Final = frozenset({"D", "DR", "DBIT", "DEBIT", "-", "RC"})
_STATUSES: Final[dict[str, RecordStatus]] = {
    **dict.fromkeys(
        "booked book settled completed complete success succeeded paid posted done".split(),
        RecordStatus.BOOKED,
    ),
    **dict.fromkeys(
        "pending pdng processing requires_action unknown info initiated created".split(),
        RecordStatus.PENDING,
    ),
    **dict.fromkeys(
        "failed failure rejected rjct cancelled canceled declined error".split(),
        RecordStatus.FAILED,
    ),
    **dict.fromkeys("returned reversed rtrn refunded chargeback".split(), RecordStatus.RETURNED),
}
_DATE_PARTS: Final = re.compile(r"(\d{1,4})[./-](\d{1,2})[./-](\d{1,4})")


def parse_minor(text: str, currency: str, *, decimal_comma: bool = False) -> int:
    """``"1.234,50"`` (decimal comma) or ``"1,234.50"`` → ``123450`` for EUR, exactly.

    Spaces, apostrophes and the thousands separator are dropped; a trailing or leading minus
    (``"12.00-"``) is honoured; more decimals than the currency allows is an error.
    """
    cleaned = text.strip().replace(" ", "").replace("\u00a0", "").replace("'", "")
    if decimal_comma:
        cleaned = cleaned.replace(".", "").replace(",", ".")
    else:
        cleaned = cleaned.replace(",", "")
    if cleaned.endswith("-"):
        cleaned = "-" + cleaned[:-1]
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidAmountError(f"not an amount: {text!r}") from None
    if not amount.is_finite():
        raise InvalidAmountError(f"not a finite amount: {text!r}")
    scaled = amount.scaleb(exponent_of(currency))
    if scaled != scaled.to_integral_value():
        raise InvalidAmountError(
            f"{text!r} has more decimals than {currency} allows ({exponent_of(currency)})"
        )
    return int(scaled)


def parse_sign(text: str) -> int:
    """``+1`` for a credit (``C``, ``CRDT``, ``RD``), ``-1`` for a debit (``D``, ``DBIT``, ``RC``).

    ``RC`` is a reversed credit, which takes money out; ``RD`` a reversed debit, which puts it
    back (the sign the MT940 balance arithmetic needs).
    """
    mark = text.strip().upper()
    if mark in _CREDIT_SIGNS:
        return 1
    if mark in _DEBIT_SIGNS:
        return -1
    raise ValidationError(f"unknown credit/debit mark {text!r}")


def parse_status(text: str) -> RecordStatus:
    """Map a ledger's or bank's status word to a :class:`RecordStatus` (case-insensitive)."""
    word = text.strip().lower()
    if not word:
        return RecordStatus.BOOKED
    try:
        return _STATUSES[word]
    except KeyError:
        raise ValidationError(f"unknown status {text!r}") from None


def parse_date(text: str, order: DateOrder = "ymd") -> date:
    """An ISO date or timestamp (offsets honoured, result in UTC), ``YYYYMMDD``, or
    ``dd/mm/yyyy`` / ``mm/dd/yyyy`` per ``order`` (``.``, ``/`` and ``-`` separate)."""
    value = text.strip()
    if len(value) == 8 and value.isdigit():
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    if len(value) >= 10 and value[4] == "-" and value[:4].isdigit():
        try:
            return to_utc_date(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            raise ValidationError(f"not an ISO date: {text!r}") from None
    match = _DATE_PARTS.fullmatch(value)
    if match is None:
        raise ValidationError(f"not a date: {text!r}")
    first, second, third = (int(part) for part in match.groups())
    year, month, day = {
        "ymd": (first, second, third),
        "dmy": (third, second, first),
        "mdy": (third, first, second),
    }[order]
    if year < 100:
        year += 2000
    try:
        return date(year, month, day)
    except ValueError:
        raise ValidationError(f"not a valid {order} date: {text!r}") from None


def _column(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigurationError(f"{attribute.name} must name a column, got {value!r}")


def _col(default: str | None = None) -> Any:
    return attrs.field(default=default, validator=_column)


@attrs.frozen(kw_only=True)
class ColumnMapping:
    """Which column holds what, and how to read it. ``None`` means "no such column".

    Amounts come from ``amount`` (signed, optionally with ``sign`` giving the direction), or
    from separate ``debit`` and ``credit`` columns. ``amount_in_minor_units`` reads integers
    such as ``1999`` as 19.99. ``negate`` flips every sign, for a ledger kept from the
    customer's side instead of the bank account's.
    """

    id: str | None = _col("id")
    account: str | None = _col(None)
    default_account: str = ""
    currency: str | None = _col("currency")
    default_currency: str | None = None
    amount: str | None = _col("amount")
    debit: str | None = _col(None)
    credit: str | None = _col(None)
    sign: str | None = _col(None)
    value_date: str = attrs.field(default="value_date", validator=_column)
    booking_date: str | None = _col(None)
    status: str | None = _col(None)
    end_to_end_id: str | None = _col(None)
    instruction_id: str | None = _col(None)
    bank_reference: str | None = _col(None)
    idempotency_key: str | None = _col(None)
    source_id: str | None = _col(None)
    batch_id: str | None = _col(None)
    counterparty: str | None = _col(None)
    text: str | None = _col(None)
    decimal_comma: bool = False
    date_order: DateOrder = attrs.field(
        default="ymd", validator=attrs.validators.in_(("ymd", "dmy", "mdy"))
    )
    amount_in_minor_units: bool = False
    negate: bool = False

    def __attrs_post_init__(self) -> None:
        if self.amount is None and (self.debit is None or self.credit is None):
            raise ConfigurationError("a mapping needs an amount column or debit and credit")
        if self.currency is None and self.default_currency is None:
            raise ConfigurationError("a mapping needs a currency column or a default_currency")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> ColumnMapping:
        """From a plain dict (a ``[ledger]`` or ``[statement]`` table of a TOML file).

        TOML has no null, so an empty string switches a column off (``amount = ""`` for a file
        with debit and credit columns).
        """
        known = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigurationError(f"unknown column mapping key(s): {', '.join(unknown)}")
        columns: dict[str, Any] = {k: (None if v == "" else v) for k, v in raw.items()}
        try:
            return cls(**columns)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"invalid column mapping: {exc}") from None


def _cell(row: Mapping[str, Any], column: str | None) -> str:
    if column is None:
        return ""
    value = row.get(column)
    if value is None:
        return ""
    if isinstance(value, float):
        raise InvalidAmountError(f"column {column!r} holds a float; floats are not exact")
    return str(value).strip()


def _amount(row: Mapping[str, Any], m: ColumnMapping, currency: str) -> int:
    def read(column: str) -> int:
        text = _cell(row, column)
        if m.amount_in_minor_units:
            return int(text)
        return parse_minor(text, currency, decimal_comma=m.decimal_comma)

    if m.amount is not None and _cell(row, m.amount):
        value = read(m.amount)
        if m.sign is not None:
            value = abs(value) * parse_sign(_cell(row, m.sign))
    elif m.debit is not None and _cell(row, m.debit):
        value = -abs(read(m.debit))
    elif m.credit is not None and _cell(row, m.credit):
        value = abs(read(m.credit))
    else:
        raise InvalidAmountError("no amount in the row")
    return -value if m.negate else value


def record_from_row(row: Mapping[str, Any], m: ColumnMapping, fallback_id: str) -> Record:
    """One mapped row to a :class:`Record`; errors are left for the caller to position."""
    currency = _cell(row, m.currency) or m.default_currency or ""
    value_date = row.get(m.value_date)
    if isinstance(value_date, date):
        parsed_date = to_utc_date(value_date)
    else:
        parsed_date = parse_date(_cell(row, m.value_date), m.date_order)
    booking = _cell(row, m.booking_date)
    return Record(
        id=_cell(row, m.id) or fallback_id,
        account=_cell(row, m.account) or m.default_account,
        currency=currency,
        amount_minor=_amount(row, m, currency.strip().upper()),
        value_date=parsed_date,
        booking_date=parse_date(booking, m.date_order) if booking else None,
        status=parse_status(_cell(row, m.status)),
        end_to_end_id=_cell(row, m.end_to_end_id),
        instruction_id=_cell(row, m.instruction_id),
        bank_reference=_cell(row, m.bank_reference),
        idempotency_key=_cell(row, m.idempotency_key),
        source_id=_cell(row, m.source_id),
        batch_id=_cell(row, m.batch_id),
        counterparty=_cell(row, m.counterparty),
        text=_cell(row, m.text),
        source=fallback_id,
    )


def records_from_mappings(
    rows: Iterable[Mapping[str, Any]],
    mapping: ColumnMapping,
    *,
    source: str = "rows",
    first_line: int = 1,
) -> Iterator[Record]:
    """Records from dict-like rows; a bad row raises ``ParseError`` at ``source line N``."""
    for line, row in enumerate(rows, start=first_line):
        position = f"{source} line {line}"
        try:
            yield record_from_row(row, mapping, position)
        except (ValidationError, ValueError, TypeError) as exc:
            message = exc.message if isinstance(exc, ValidationError) else str(exc)
            raise ParseError(message, position=position) from None


def _text_of(source: str | Path | bytes) -> tuple[str, str]:
    if isinstance(source, bytes):
        return source.decode("utf-8-sig"), "<bytes>"
    path = Path(source)
    try:
        # utf-8-sig drops the byte-order mark that spreadsheet exports put first.
        return path.read_text(encoding="utf-8-sig"), path.name
    except UnicodeDecodeError:
        return path.read_text(encoding="latin-1"), path.name
    except OSError as exc:
        raise ParseError(f"cannot read {path}: {exc.strerror}") from None


def read_csv(
    source: str | Path | bytes, mapping: ColumnMapping, *, delimiter: str | None = None
) -> list[Record]:
    """Records from a CSV file with a header row; the delimiter is sniffed when not given.

    A byte-order mark is dropped, and a file that is not UTF-8 is read as Latin-1.
    """
    text, name = _text_of(source)
    if delimiter is None:
        header = text.split("\n", 1)[0]
        delimiter = max(";,\t|", key=header.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    present = set(reader.fieldnames or ())
    wanted = [mapping.value_date]
    if mapping.amount is not None and (mapping.amount in present or mapping.debit is None):
        wanted.append(mapping.amount)
    else:
        wanted += [c for c in (mapping.debit, mapping.credit) if c is not None]
    missing = [column for column in wanted if column not in present]
    if missing:
        raise ParseError(f"{name}: missing column(s) {missing}", position=f"{name} line 1")
    return list(records_from_mappings(reader, mapping, source=name, first_line=2))


def read_jsonl(source: str | Path | bytes, mapping: ColumnMapping) -> list[Record]:
    """Records from JSON lines (one object per line; blank lines skipped).

    JSON numbers with a fraction are floats and are refused: write amounts as strings, or
    as integers with ``amount_in_minor_units``.
    """
    text, name = _text_of(source)
    rows: list[tuple[int, Mapping[str, Any]]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ParseError(f"not JSON: {exc.msg}", position=f"{name} line {line_no}") from None
        if not isinstance(obj, dict):
            raise ParseError("expected a JSON object", position=f"{name} line {line_no}")
        rows.append((line_no, obj))
    out: list[Record] = []
    for line_no, row in rows:
        out.extend(records_from_mappings([row], mapping, source=name, first_line=line_no))
    return out


class DbApiCursor(Protocol):
    """The part of a PEP 249 cursor the reader uses (after ``execute``)."""

    @property
    def description(self) -> Sequence[Sequence[Any]] | None: ...

    def fetchmany(self, size: int = ...) -> Sequence[Sequence[Any]]: ...


def records_from_cursor(
    cursor: DbApiCursor, mapping: ColumnMapping, *, batch_size: int = 10_000
) -> Iterator[Record]:
    """Records from an executed DB-API cursor, fetched ``batch_size`` rows at a time.

    Column names come from ``cursor.description``; ``Decimal``, ``int``, ``str`` and ``date``
    values are read as they are; a ``float`` column (e.g. SQLite REAL) is refused.
    """
    if cursor.description is None:
        raise ConfigurationError("the cursor has no result set: execute a query first")
    names = [column[0] for column in cursor.description]
    line = 1
    while batch := cursor.fetchmany(batch_size):
        rows = [dict(zip(names, values, strict=True)) for values in batch]
        yield from records_from_mappings(rows, mapping, source="cursor", first_line=line)
        line += len(batch)


def _status_of(transaction: Transaction) -> RecordStatus:
    if transaction.status is BookingStatus.BOOKED:
        return RecordStatus.BOOKED
    return RecordStatus.PENDING


def records_from_transactions(
    transactions: Iterable[Transaction], *, account: str | None = None, source: str = "bank"
) -> Iterator[Record]:
    """Records from :class:`~walletlink.models.Transaction` values (a statement or a client).

    The bank's own id (``transaction_id``, else ``bank_reference``) becomes ``source_id``, so
    that overlapping downloads are recognised as re-imports. An entry with several
    ``details`` becomes a known batch whose members are the details' references.
    """
    for number, tx in enumerate(transactions, start=1):
        yield record_from_transaction(tx, number=number, account=account, source=source)


def record_from_transaction(
    tx: Transaction, *, number: int, account: str | None = None, source: str = "bank"
) -> Record:
    """One transaction as a record; ``number`` makes the fallback id when the bank gave none."""
    minor = tx.amount.minor_units
    details = tx.details if len(tx.details) > 1 else ()
    single = tx.details[0] if len(tx.details) == 1 else None
    own_id = tx.transaction_id or tx.bank_reference or ""
    return Record(
        id=own_id or f"{source}#{number}",
        account=account if account is not None else (tx.account.value if tx.account else ""),
        currency=tx.amount.currency,
        amount_minor=minor if tx.direction is Direction.CREDIT else -minor,
        value_date=tx.value_date or tx.booking_date or date.min,
        booking_date=tx.booking_date,
        status=_status_of(tx),
        end_to_end_id=tx.end_to_end_id or (single.end_to_end_id if single else None),
        instruction_id=tx.instruction_id or (single.instruction_id if single else None),
        bank_reference=tx.bank_reference,
        # The account servicer's reference identifies a booking in every format it is
        # delivered in (camt AcctSvcrRef, MT940 ":61:" bank reference); NtryRef is only
        # unique within one camt document.
        source_id=tx.bank_reference or own_id,
        batch_id=tx.batch_id,
        members=tuple(
            BatchMember(
                reference=d.end_to_end_id or d.instruction_id or "",
                amount_minor=d.amount.minor_units if d.amount is not None else None,
            )
            for d in details
        ),
        fee_minor=tx.charges.minor_units if tx.charges is not None and details else None,
        counterparty=tx.counterparty_name or (single.counterparty_name if single else None),
        text=tx.remittance,
        source=f"{source}#{number}",
        reversal=tx.reversal,
    )
