"""Small readers shared by the ISO 20022 parsers: text, amounts, dates, accounts, errors.

Every reader takes the element it reads and the line the enclosing subtree started on, so a
failure names both the element path and the line. Nothing here ever puts a full account
number into a message.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Final, NoReturn

from walletlink.accounts import AccountId, Iban, LocalAccount
from walletlink.errors import ParseError, ValidationError
from walletlink.money import Money

__all__ = [
    "PLACEHOLDERS",
    "account_of",
    "date_choice",
    "fail",
    "money_of",
    "optional_ref",
    "parse_date",
    "parse_datetime",
    "text_of",
]

#: References that mean "there is none" (EPC: NOTPROVIDED; MT940 habit: NONREF).
PLACEHOLDERS: Final = frozenset({"NOTPROVIDED", "NOT PROVIDED", "NONREF", "NONE"})
# ISO 20022 amounts: a plain decimal, at most 18 digits and 5 fraction digits, never signed.
_AMOUNT: Final = re.compile(r"[0-9]{1,18}(?:\.[0-9]{0,5})?")


def fail(message: str, line: int, path: str) -> NoReturn:
    """Raise ``ParseError`` at element ``path`` (and ``line`` when known, i.e. not 0)."""
    raise ParseError(message, position=f"line {line}, element {path}" if line else path)


def find(elem: ET.Element | None, path: str) -> ET.Element | None:
    """``elem.find(path)`` for a plain ``A/B/C`` path, one C-level step per name.

    ElementTree sends any path with a ``/`` through its pure-Python ElementPath engine; the
    statement hot path looks up ~20 paths per entry, so stepping ourselves halves its cost.
    """
    if elem is None:
        return None
    if "/" not in path:
        return elem.find(path)
    for name in path.split("/"):
        if elem is None:
            return None
        elem = elem.find(name)
    return elem


def children(elem: ET.Element | None, path: str) -> list[ET.Element]:
    """All ``elem/<parent path>/<last>`` elements, e.g. ``children(tx, "RmtInf/Ustrd")``."""
    parent_path, _, name = path.rpartition("/")
    parent = find(elem, parent_path) if parent_path else elem
    return [] if parent is None else parent.findall(name)


def text_of(elem: ET.Element | None, path: str) -> str | None:
    """The stripped text at ``path`` below ``elem``; ``None`` when absent or empty."""
    found = find(elem, path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def optional_ref(elem: ET.Element, path: str) -> str | None:
    """A reference, with placeholders such as ``NOTPROVIDED`` read as ``None``."""
    found = text_of(elem, path)
    return None if found is None or found.upper() in PLACEHOLDERS else found


def required(elem: ET.Element, path: str, line: int, where: str) -> str:
    found = text_of(elem, path)
    if found is None:
        fail(f"missing required element {path}", line, f"{where}/{path}")
    return found


def parse_amount_text(text: str, line: int, path: str) -> Decimal:
    if not _AMOUNT.fullmatch(text):
        fail(f"not an ISO 20022 amount: {text[:40]!r}", line, path)
    return Decimal(text)


def money_of(amount_elem: ET.Element | None, line: int, path: str) -> Money:
    """The ``Money`` of an ``…Amt Ccy="EUR"`` element."""
    if amount_elem is None:
        fail("missing amount", line, path)
    value = parse_amount_text((amount_elem.text or "").strip(), line, path)
    currency = amount_elem.get("Ccy")
    if currency is None:
        fail("amount without a Ccy attribute", line, path)
    try:
        return Money(value, currency)
    except ValidationError as exc:
        fail(f"bad amount: {exc.message}", line, path)


def currency_of(text: str | None, line: int, path: str) -> str | None:
    """An ISO 4217 code read from a ``Ccy`` element (``None`` when there is none)."""
    if text is None:
        return None
    try:
        return Money(0, text).currency
    except ValidationError as exc:
        fail(f"bad currency: {exc.message}", line, path)


def parse_date(text: str, line: int, path: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"not an ISO date: {text[:40]!r}", line, path)


def parse_datetime(text: str, line: int, path: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is not None:
            # 9999-12-31T23:59:59-23:59 parses but lies past datetime.max in UTC: refuse it
            # here, not with an OverflowError wherever it is first converted.
            moment.astimezone(UTC)
    except (ValueError, OverflowError):
        fail(f"not an ISO date-time: {text[:40]!r}", line, path)
    return moment


def date_choice(elem: ET.Element | None, line: int, path: str) -> date | datetime | None:
    """A ``DateAndDateTime2Choice``: ``<Dt>`` gives a date, ``<DtTm>`` a datetime."""
    if elem is None:
        return None
    day = elem.findtext("Dt")
    if day is not None:
        return parse_date(day.strip(), line, f"{path}/Dt")
    moment = text_of(elem, "DtTm")
    if moment is not None:
        return parse_datetime(moment, line, f"{path}/DtTm")
    fail("a date needs Dt or DtTm", line, path)


def as_date(value: date | datetime | None) -> date | None:
    return value.date() if isinstance(value, datetime) else value


def account_text(acct: ET.Element | None) -> str | None:
    """The identifier of a ``CashAccount`` element as written (IBAN or ``Othr/Id``)."""
    if acct is None:
        return None
    return text_of(acct, "Id/IBAN") or optional_ref(acct, "Id/Othr/Id")


def account_of(acct: ET.Element | None, line: int, path: str) -> AccountId | None:
    """A ``CashAccount``'s id as an ``Iban`` (checked) or a ``LocalAccount`` (``Othr/Id``)."""
    if acct is None:
        return None
    try:
        iban = text_of(acct, "Id/IBAN")
        if iban is not None:
            return Iban(iban)
        other = text_of(acct, "Id/Othr/Id")
        return None if other is None else LocalAccount(other)
    except ValidationError as exc:
        fail(f"bad account: {exc.message}", line, path)
