"""The normalised record both sides of a reconciliation are turned into.

Whatever the source (a wallet ledger, a camt.053 entry, an MT940 line, a CSV row), the engine
sees one shape: a signed integer amount in minor units (credit positive, debit negative, in the
bank account's own view), a currency, an account, a UTC value date, references and a status.
Placeholder references such as ``NOTPROVIDED`` and ``NONREF`` are emptied here, once, so that
no pass ever matches two records on a word that means "no reference".
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, Final

import attrs

from walletlink.errors import ValidationError
from walletlink.money import exponent_of

__all__ = [
    "PLACEHOLDER_REFERENCES",
    "BatchMember",
    "Record",
    "RecordStatus",
    "StatementBalance",
    "clean_reference",
    "format_minor",
    "to_utc_date",
]

#: References that banks write when there is none; compared after upper-casing and trimming.
PLACEHOLDER_REFERENCES: Final = frozenset(
    {"", "NOTPROVIDED", "NONREF", "NOREF", "NONE", "N/A", "NA", "-", "NULL", "UNKNOWN"}
)


class RecordStatus(enum.StrEnum):
    """Where a movement stands, on either side, reduced to what reconciliation compares."""

    BOOKED = "booked"
    PENDING = "pending"
    FAILED = "failed"
    RETURNED = "returned"


def clean_reference(value: object) -> str:
    """Trim a reference and turn the placeholders (``NOTPROVIDED``, ``NONREF``…) into ``""``."""
    if value is None:
        return ""
    text = str(value).strip()
    return "" if text.upper() in PLACEHOLDER_REFERENCES else text


# A million records span a few hundred distinct days and a handful of currencies, but every
# parsed date and every ``upper()`` is a new object (32 and 52 bytes): records share one
# instance per value instead. Bounded, so that a long-lived process cannot grow them forever.
_SHARED_LIMIT: Final = 65_536
_DATES: dict[date, date] = {}
_CURRENCIES: dict[str, str] = {}


def _shared_date(day: date) -> date:
    shared = _DATES.get(day)
    if shared is None:
        if len(_DATES) >= _SHARED_LIMIT:
            _DATES.clear()
        shared = _DATES[day] = day
    return shared


def to_utc_date(value: object) -> date:
    """A ``date`` as is; an aware ``datetime`` as its UTC date; a naive one is taken as UTC."""
    if type(value) is date:
        return _shared_date(value)
    if isinstance(value, datetime):
        day = value.astimezone(UTC).date() if value.tzinfo is not None else value.date()
        return _shared_date(day)
    if isinstance(value, date):
        return value  # a subclass of date: kept as given
    raise ValidationError(f"a record date must be a date or datetime, got {value!r}")


def _optional_date(value: object) -> date | None:
    return None if value is None else to_utc_date(value)


def _currency(value: object) -> str:
    # Only codes that passed the check are remembered, keyed by what the caller wrote.
    code = _CURRENCIES.get(value) if type(value) is str else None
    if code is not None:
        return code
    if not isinstance(value, str):
        raise ValidationError(f"a currency is an ISO 4217 code, got {value!r}")
    code = value.strip().upper()
    exponent_of(code)  # raises CurrencyError for an unknown code
    if len(_CURRENCIES) >= _SHARED_LIMIT:
        _CURRENCIES.clear()
    code = _CURRENCIES.setdefault(code, code)
    _CURRENCIES[str(value)] = code
    return code


def _minor(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{attribute.name} must be an int in minor units, got {value!r}")


def _optional_minor(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _minor(instance, attribute, value)
        if isinstance(value, int) and value < 0:
            raise ValidationError(f"{attribute.name} must not be negative")


def _text(value: object) -> str:
    return "" if value is None else " ".join(str(value).split())


def _name(value: object) -> str:
    """``_text``, one shared string per distinct value: accounts and counterparties repeat
    across a run's records (one payer, a few hundred accounts), and ``join`` copies them."""
    return sys.intern(_text(value))


@attrs.frozen(kw_only=True)
class BatchMember:
    """One member a bank entry says it contains (camt ``TxDtls``, a payout's item)."""

    reference: str = attrs.field(converter=clean_reference)
    amount_minor: int | None = attrs.field(default=None, validator=_optional_minor)


def _members(value: Iterable[BatchMember]) -> tuple[BatchMember, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Record:
    """One ledger entry or bank entry, normalised.

    ``amount_minor`` is signed in the bank account's view: a credit to the account is positive,
    a debit negative. ``id`` identifies the record in the report; ``source_id`` is the bank's
    own id for the entry (FITID, AcctSvcrRef) and is what re-imports are recognised by, per
    account. ``members`` and ``fee_minor`` describe a batch entry the bank itself itemised.
    ``source`` is ``"<file>#<n>"`` for records read from a file: the part before ``#`` tells
    which delivery a record came in, so the same booking in two files is a re-import.
    """

    id: str = attrs.field(converter=str)
    account: str = attrs.field(converter=_name)
    currency: str = attrs.field(converter=_currency)
    amount_minor: int = attrs.field(validator=_minor)
    value_date: date = attrs.field(converter=to_utc_date)
    booking_date: date | None = attrs.field(default=None, converter=_optional_date)
    status: RecordStatus = attrs.field(default=RecordStatus.BOOKED, converter=RecordStatus)
    end_to_end_id: str = attrs.field(default="", converter=clean_reference)
    instruction_id: str = attrs.field(default="", converter=clean_reference)
    bank_reference: str = attrs.field(default="", converter=clean_reference)
    idempotency_key: str = attrs.field(default="", converter=clean_reference)
    source_id: str = attrs.field(default="", converter=clean_reference)
    batch_id: str = attrs.field(default="", converter=clean_reference)
    members: tuple[BatchMember, ...] = attrs.field(default=(), converter=_members)
    #: How many members the bank says the batch holds (camt ``Btch/NbOfTxs``), when it says.
    member_count: int | None = attrs.field(default=None, validator=_optional_minor)
    fee_minor: int | None = attrs.field(default=None, validator=_optional_minor)
    counterparty: str = attrs.field(default="", converter=_name)
    text: str = attrs.field(default="", converter=_text)
    source: str = ""
    #: A storno (camt ``RvslInd``, MT940 ``RC``/``RD``): ``amount_minor`` is already the
    #: effective movement, the opposite sign of the booking it undoes.
    reversal: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))

    @property
    def is_credit(self) -> bool:
        return self.amount_minor >= 0

    @property
    def direction(self) -> str:
        """``"credit"`` or ``"debit"``: the sign of ``amount_minor`` in words."""
        return "credit" if self.amount_minor >= 0 else "debit"


def format_minor(amount_minor: int, currency: str) -> str:
    """``(-1234, "EUR")`` → ``"-12.34"``: integer arithmetic only, no Decimal, no float."""
    exponent = exponent_of(currency)
    sign = "-" if amount_minor < 0 else ""
    if exponent == 0:
        return f"{sign}{abs(amount_minor)}"
    whole, fraction = divmod(abs(amount_minor), 10**exponent)
    return f"{sign}{whole}.{fraction:0{exponent}d}"


@attrs.frozen(kw_only=True)
class StatementBalance:
    """A statement's own arithmetic, checked by hygiene: ``opening + entries = closing``."""

    statement: str
    account: str = attrs.field(converter=_text)
    currency: str = attrs.field(converter=_currency)
    opening_minor: int = attrs.field(validator=_minor)
    entries_minor: int = attrs.field(validator=_minor)
    closing_minor: int = attrs.field(validator=_minor)
