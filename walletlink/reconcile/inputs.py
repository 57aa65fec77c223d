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
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, DecimalException
from pathlib import Path
from typing import Any, Final, Literal, Protocol, TypeVar

import attrs

from walletlink.errors import ConfigurationError, InvalidAmountError, ParseError, ValidationError
from walletlink.models import BookingStatus, Direction, Transaction
from walletlink.money import exponent_of
from walletlink.reconcile.records import BatchMember, Record, RecordStatus, to_utc_date

__all__ = [
    "STANDARD_MAPPING",
    "ColumnMapping",
    "DbApiCursor",
    "bind_columns",
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
_T = TypeVar("_T")

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
#: Amounts beyond 10**40 minor units are no ledger's: refusing them keeps ``1E999999`` from
#: turning into a ``decimal.Overflow`` (or a million-digit integer) deep in the arithmetic.
_MAX_AMOUNT_DIGITS: Final = 40
#: What a malformed cell or line can raise below the readers; each becomes a ``ParseError``.
_ROW_ERRORS: Final = (ValueError, TypeError, ArithmeticError, RecursionError)


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
    except DecimalException:
        raise InvalidAmountError(f"not an amount: {text[:40]!r}") from None
    if not amount.is_finite():
        raise InvalidAmountError(f"not a finite amount: {text[:40]!r}")
    if amount and amount.adjusted() > _MAX_AMOUNT_DIGITS:
        raise InvalidAmountError(f"amount out of range: {text[:40]!r}")
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
        except (ValueError, OverflowError):  # OverflowError: an offset past year 1 or 9999
            raise ValidationError(f"not an ISO date: {text[:40]!r}") from None
    match = _DATE_PARTS.fullmatch(value)
    if match is None:
        raise ValidationError(f"not a date: {text[:40]!r}")
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


def _names(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


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
    #: Fields (not column names) whose column may be absent from a file: they then read as
    #: empty. Any other column the mapping names must exist (see :func:`bind_columns`).
    optional_columns: frozenset[str] = attrs.field(default=frozenset(), converter=_names)

    def __attrs_post_init__(self) -> None:
        if self.amount is None and (self.debit is None or self.credit is None):
            raise ConfigurationError("a mapping needs an amount column or debit and credit")
        if self.currency is None and self.default_currency is None:
            raise ConfigurationError("a mapping needs a currency column or a default_currency")

    @classmethod
    def from_mapping(
        cls, raw: Mapping[str, Any], *, base: ColumnMapping | None = None
    ) -> ColumnMapping:
        """From a plain dict (a ``[ledger]`` or ``[statement]`` table of a TOML file).

        TOML has no null, so an empty string switches a column off (``amount = ""`` for a file
        with debit and credit columns). With ``base`` the table changes only the keys it
        names (the CLI passes :data:`STANDARD_MAPPING`): a column it names becomes required,
        the others keep ``base``'s names and stay optional.
        """
        known = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigurationError(f"unknown column mapping key(s): {', '.join(unknown)}")
        columns: dict[str, Any] = {k: (None if v == "" else v) for k, v in raw.items()}
        try:
            if base is None:
                return cls(**columns)
            optional = base.optional_columns - set(columns)
            return attrs.evolve(base, **{"optional_columns": optional, **columns})
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"invalid column mapping: {exc}") from None


#: The mapping used for a CSV or JSON-lines file when none is given: columns named as fields
#: (``direction`` holds ``C``/``D``/``CRDT``/``DBIT`` for unsigned amounts, as
#: :class:`~walletlink.models.Transaction` names it). Only ``amount``, ``currency`` and
#: ``value_date`` must exist; the others are read when the file has them.
STANDARD_MAPPING: Final = ColumnMapping(
    id="id",
    account="account",
    currency="currency",
    amount="amount",
    sign="direction",
    value_date="value_date",
    booking_date="booking_date",
    status="status",
    end_to_end_id="end_to_end_id",
    instruction_id="instruction_id",
    bank_reference="bank_reference",
    idempotency_key="idempotency_key",
    source_id="source_id",
    batch_id="batch_id",
    counterparty="counterparty",
    text="text",
    optional_columns=frozenset(
        "id account sign booking_date status end_to_end_id instruction_id bank_reference "
        "idempotency_key source_id batch_id counterparty text".split()
    ),
)


def _cell(row: Mapping[str, Any], column: str | None) -> str:
    if column is None:
        return ""
    value = row.get(column)
    if value is None:
        return ""
    if isinstance(value, float):
        raise InvalidAmountError(f"column {column!r} holds a float; floats are not exact")
    return str(value).strip()


class _CellError(Exception):
    """A cell that could not be read, with the column it came from (made a ``ParseError``)."""

    def __init__(self, column: str | None, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def _reading(column: str | None, read: Callable[..., _T], *args: Any) -> _T:
    """``read(*args)``, any failure turned into a ``_CellError`` naming ``column``."""
    try:
        return read(*args)
    except ValidationError as exc:
        raise _CellError(column, exc.message) from None
    except _ROW_ERRORS as exc:
        raise _CellError(column, f"{type(exc).__name__}: {str(exc)[:80]}") from None


def _minor(text: str, m: ColumnMapping, currency: str) -> int:
    if m.amount_in_minor_units:
        if len(text.lstrip("+-")) > _MAX_AMOUNT_DIGITS:
            raise InvalidAmountError(f"amount out of range: {text[:40]!r}")
        return int(text)
    return parse_minor(text, currency, decimal_comma=m.decimal_comma)


def _amount(row: Mapping[str, Any], m: ColumnMapping, currency: str) -> int:
    if m.amount is not None and _cell(row, m.amount):
        value = _reading(m.amount, _minor, _cell(row, m.amount), m, currency)
        mark = _cell(row, m.sign)
        # An optional sign column (the standard ``direction``) may be blank on signed rows.
        if m.sign is not None and (mark or "sign" not in m.optional_columns):
            value = abs(value) * _reading(m.sign, parse_sign, mark)
    elif m.debit is not None and _cell(row, m.debit):
        value = -abs(_reading(m.debit, _minor, _cell(row, m.debit), m, currency))
    elif m.credit is not None and _cell(row, m.credit):
        value = abs(_reading(m.credit, _minor, _cell(row, m.credit), m, currency))
    else:
        raise _CellError(m.amount or m.debit, "no amount in the row")
    return -value if m.negate else value


def _date_cell(row: Mapping[str, Any], column: str, order: DateOrder) -> date:
    value = row.get(column)
    if isinstance(value, date):
        return to_utc_date(value)
    return parse_date(_cell(row, column), order)


def record_from_row(row: Mapping[str, Any], m: ColumnMapping, fallback_id: str) -> Record:
    """One mapped row to a :class:`Record`; errors are left for the caller to position."""
    try:
        return _record(row, m, fallback_id)
    except _CellError as exc:
        where = f" (column {exc.column!r})" if exc.column else ""
        raise ValidationError(f"{exc.message}{where}") from None


def _record(row: Mapping[str, Any], m: ColumnMapping, fallback_id: str) -> Record:
    def text(column: str | None) -> str:
        return _reading(column, _cell, row, column)

    currency = text(m.currency) or m.default_currency or ""
    booking = text(m.booking_date)
    return Record(
        id=text(m.id) or fallback_id,
        account=text(m.account) or m.default_account,
        currency=currency,
        amount_minor=_amount(row, m, currency.strip().upper()),
        value_date=_reading(m.value_date, _date_cell, row, m.value_date, m.date_order),
        booking_date=(
            _reading(m.booking_date, parse_date, booking, m.date_order) if booking else None
        ),
        status=_reading(m.status, parse_status, text(m.status)),
        end_to_end_id=text(m.end_to_end_id),
        instruction_id=text(m.instruction_id),
        bank_reference=text(m.bank_reference),
        idempotency_key=text(m.idempotency_key),
        source_id=text(m.source_id),
        batch_id=text(m.batch_id),
        counterparty=text(m.counterparty),
        text=text(m.text),
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
            yield _record(row, mapping, position)
        except _CellError as exc:
            where = f"{position}, column {exc.column!r}" if exc.column else position
            raise ParseError(exc.message, position=where) from None
        except (ValidationError, *_ROW_ERRORS) as exc:  # e.g. Record's own validators
            message = exc.message if isinstance(exc, ValidationError) else str(exc)[:120]
            raise ParseError(message, position=position) from None


def _text_of(source: str | Path | bytes) -> tuple[str, str]:
    if isinstance(source, bytes):
        data, name = source, "<bytes>"
    else:
        path = Path(source)
        name = path.name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ParseError(f"cannot read {path}: {exc.strerror}") from None
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" is UTF-16
            return data.decode("utf-16"), name
        # utf-8-sig drops the byte-order mark that spreadsheet exports put first.
        return data.decode("utf-8-sig"), name
    except UnicodeDecodeError:
        return data.decode("latin-1"), name


#: The fields of a mapping that name a column (everything else says how to read one).
_COLUMN_FIELDS: Final = (
    "id", "account", "currency", "amount", "debit", "credit", "sign", "value_date",
    "booking_date", "status", "end_to_end_id", "instruction_id", "bank_reference",
    "idempotency_key", "source_id", "batch_id", "counterparty", "text",
)  # fmt: skip


def bind_columns(mapping: ColumnMapping, present: Collection[str], source: str) -> ColumnMapping:
    """The mapping with the columns this file lacks switched off, or ``ParseError``.

    A column the mapping names must exist: a typo would otherwise read as an empty column
    and every row would quietly lose that field. Only the fields in ``optional_columns``,
    ``id`` and ``currency`` at their default names (with a ``default_currency``), and
    ``amount`` when ``debit`` and ``credit`` stand in for it, may be absent.
    """
    lenient = set(mapping.optional_columns)
    if mapping.id == "id":
        lenient.add("id")
    if mapping.currency == "currency" and mapping.default_currency:
        lenient.add("currency")
    if mapping.debit is not None and mapping.credit is not None:
        lenient.add("amount")
    off: dict[str, Any] = {}
    missing: list[str] = []
    for field in _COLUMN_FIELDS:
        column = getattr(mapping, field)
        if column is None or column in present:
            continue
        if field in lenient:
            off[field] = None
        else:
            missing.append(f"{column!r} ({field})")
    if missing:
        shown = ", ".join(repr(c) for c in list(present)[:40]) or "none"
        raise ParseError(
            f"{source}: mapped column(s) {', '.join(missing)} not in the file; "
            f"the columns present are {shown}",
            position=f"{source} line 1",
        )
    return attrs.evolve(mapping, **off) if off else mapping


def _csv_rows(reader: csv.DictReader[str], name: str) -> Iterator[dict[str, str]]:
    try:
        yield from reader
    except csv.Error as exc:  # a field over csv.field_size_limit(), a NUL in strict mode
        raise ParseError(f"not CSV: {exc}", position=f"{name} line {reader.line_num + 1}") from None


def read_csv(
    source: str | Path | bytes, mapping: ColumnMapping, *, delimiter: str | None = None
) -> list[Record]:
    """Records from a CSV file with a header row; the delimiter is sniffed when not given.

    A byte-order mark is dropped (a UTF-16 one decodes the file as UTF-16), and a file that
    is not UTF-8 is read as Latin-1. A column the mapping names that the header lacks is a
    ``ParseError`` listing the columns present.
    """
    text, name = _text_of(source)
    if delimiter is None:
        header = text.split("\n", 1)[0]
        delimiter = max(";,\t|", key=header.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        fieldnames = reader.fieldnames or ()
    except csv.Error as exc:
        raise ParseError(f"not CSV: {exc}", position=f"{name} line 1") from None
    bound = bind_columns(mapping, fieldnames, name)
    return list(records_from_mappings(_csv_rows(reader, name), bound, source=name, first_line=2))


def read_jsonl(source: str | Path | bytes, mapping: ColumnMapping) -> list[Record]:
    """Records from JSON lines (one object per line; blank lines skipped).

    JSON numbers with a fraction are floats and are refused: write amounts as strings, or
    as integers with ``amount_in_minor_units``. A column the mapping names that no line
    holds is a ``ParseError``, as for CSV.
    """
    text, name = _text_of(source)
    rows: list[tuple[int, Mapping[str, Any]]] = []
    keys: dict[str, None] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            where = f"{name} line {line_no}, column {exc.colno}"
            raise ParseError(f"not JSON: {exc.msg}", position=where) from None
        except (ValueError, RecursionError) as exc:  # 4,301-digit integers, deep nesting
            message = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:80]
            raise ParseError(f"not JSON: {message}", position=f"{name} line {line_no}") from None
        if not isinstance(obj, dict):
            raise ParseError("expected a JSON object", position=f"{name} line {line_no}")
        rows.append((line_no, obj))
        keys.update(dict.fromkeys(obj))
    bound = bind_columns(mapping, keys, name) if rows else mapping
    out: list[Record] = []
    for line_no, row in rows:
        out.extend(records_from_mappings([row], bound, source=name, first_line=line_no))
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
    mapping = bind_columns(mapping, names, "cursor")
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
    # The MT940 ":61:" customer reference (before "//") is the reference the account owner
    # gave the payment: it stands in for the end-to-end and instruction ids a bank that
    # writes no "/EREF/" leaves empty, so that the exact-key pass sees it as it would in camt.
    customer = tx.customer_reference
    return Record(
        id=own_id or f"{source}#{number}",
        account=account if account is not None else (tx.account.value if tx.account else ""),
        currency=tx.amount.currency,
        amount_minor=minor if tx.direction is Direction.CREDIT else -minor,
        value_date=tx.value_date or tx.booking_date or date.min,
        booking_date=tx.booking_date,
        status=_status_of(tx),
        end_to_end_id=tx.end_to_end_id or (single.end_to_end_id if single else None) or customer,
        instruction_id=tx.instruction_id or (single.instruction_id if single else None) or customer,
        bank_reference=tx.bank_reference,
        # The account servicer's reference identifies a booking in every format it is
        # delivered in (camt AcctSvcrRef, MT940 ":61:" bank reference); NtryRef is only
        # unique within one camt document.
        source_id=tx.bank_reference or own_id,
        batch_id=tx.batch_id,
        member_count=tx.batch_count,
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
