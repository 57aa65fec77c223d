"""Write statements as MT940 (block 4 content, optionally enveloped), for mock banks and tests.

The ``:86:`` written is SWIFT-style tags (``/EREF/…/NAME/…/IBAN/…/REMI/…``) cut into 65
character lines, which :func:`~walletlink.formats.mt940.iter_mt940` reads back exactly.

An MT940 statement holds booked entries only: its ``:61:`` lines must add up from ``:60F:``
to ``:62F:``. Pending entries go where banks report them, in an MT942 interim transaction
report written right after the statement (``:34F:`` floor limit 0, ``:13D:``, the entries,
``:90D:``/``:90C:`` counts and sums), which the reader reads back as pending entries of a
``mt942`` statement. Info entries have no place in either message and are not written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Final

from walletlink.models import Balance, BalanceType, BookingStatus, Direction, Transaction
from walletlink.money import Money

from .statement import Statement

__all__ = ["write_mt940"]

_TAGS: Final = {
    BalanceType.OPENING_BOOKED: "60F",
    BalanceType.PREVIOUSLY_CLOSED_BOOKED: "60F",
    BalanceType.CLOSING_BOOKED: "62F",
    BalanceType.CLOSING_AVAILABLE: "64",
    BalanceType.FORWARD_AVAILABLE: "65",
}
_LINE: Final = 65
_TYPE_CODE: Final = re.compile(r"[NFS][A-Z0-9]{3}")


def write_mt940(
    statements: Iterable[Statement], *, envelope: bool = False, sender_bic: str = "BANKDEFFXXX"
) -> str:
    """MT940 text (CRLF line ends) for ``statements``; one message per statement.

    Only balance types MT940 has a field for are written (OPBD/PRCD → ``:60F:``, CLBD →
    ``:62F:``, CLAV → ``:64:``, FWAV → ``:65:``). Only booked entries go into the MT940;
    a statement with pending entries is followed by an MT942 report holding them.
    """
    return "".join(_messages(s, envelope, sender_bic) for s in statements)


def _messages(statement: Statement, envelope: bool, sender_bic: str) -> str:
    booked = [e for e in statement.entries if e.status is BookingStatus.BOOKED]
    pending = [e for e in statement.entries if e.status is BookingStatus.PENDING]
    lines = list(_header_lines(statement))
    balances = [b for b in statement.balances if b.type in _TAGS]
    opening = [b for b in balances if _TAGS[b.type] == "60F"][:1]
    lines.extend(_balance("60F", b) for b in opening)
    for entry in booked:
        lines.extend(_entry(entry))
    lines.extend(_balance(_TAGS[b.type], b) for b in balances if _TAGS[b.type] != "60F")
    text = _block(lines, "940", envelope, sender_bic)
    if pending:
        text += _block(_interim_lines(statement, pending), "942", envelope, sender_bic)
    return text


def _block(lines: list[str], kind: str, envelope: bool, sender_bic: str) -> str:
    body = "\r\n".join(lines) + "\r\n"
    if not envelope:
        return body + "-\r\n"
    bic12 = (sender_bic + "XXXXXXXXXXXX")[:8] + "A" + (sender_bic + "XXX")[8:11]
    return f"{{1:F01{bic12}0000000000}}{{2:I{kind}{bic12}N}}{{4:\r\n{body}-}}\r\n"


def _interim_lines(statement: Statement, pending: list[Transaction]) -> list[str]:
    """An MT942 for the pending entries: floor limit 0 (every amount), then counts and sums."""
    currency = statement.currency or pending[0].amount.currency
    created = statement.header.created_at
    if created is None:
        last = max(e.value_date or e.booking_date or date(2000, 1, 1) for e in pending)
        created = datetime(last.year, last.month, last.day)
    offset = created.strftime("%z") or "+0000"
    lines = list(_header_lines(statement))
    lines += [f":34F:{currency}0,", f":13D:{created.strftime('%y%m%d%H%M')}{offset}"]
    for entry in pending:
        lines.extend(_entry(entry))
    for tag, direction in (("90D", Direction.DEBIT), ("90C", Direction.CREDIT)):
        side = [e.amount for e in pending if e.direction is direction]
        total = sum(side[1:], side[0]) if side else Money.zero(currency)
        lines.append(f":{tag}:{len(side)}{currency}{_amount(total)}")
    return lines


def _header_lines(statement: Statement) -> Iterable[str]:
    header = statement.header
    yield f":20:{header.statement_id[:16]}"
    if header.related_reference:
        yield f":21:{header.related_reference[:16]}"
    account = header.account
    yield f":25:{account.value if account is not None else 'NOTPROVIDED'}"
    yield f":28C:{header.sequence_number or '1'}"


def _yymmdd(day: date) -> str:
    return day.strftime("%y%m%d")


def _amount(money: Money) -> str:
    text = f"{abs(money.amount):f}"
    return text.replace(".", ",") if "." in text else text + ","


def _balance(tag: str, balance: Balance) -> str:
    mark = "D" if balance.amount.is_negative() else "C"
    as_of = balance.as_of
    day = as_of.date() if isinstance(as_of, datetime) else as_of or date(2000, 1, 1)
    return f":{tag}:{mark}{_yymmdd(day)}{balance.amount.currency}{_amount(balance.amount)}"


def _mark(entry: Transaction) -> str:
    if entry.reversal:
        # The mark names the original booking: a storno of a credit debits the account.
        return "RC" if entry.direction is Direction.DEBIT else "RD"
    return "C" if entry.direction is Direction.CREDIT else "D"


def _entry(entry: Transaction) -> list[str]:
    value = entry.value_date or entry.booking_date or date(2000, 1, 1)
    booking = entry.booking_date or value
    # An MT940 type code (NTRF, FCHG, S103) is kept; others (camt's PMNT/ICDT/ESCT) → NTRF.
    code = entry.type_code or ""
    type_code = code if _TYPE_CODE.fullmatch(code) else "NTRF"
    line = (
        f":61:{_yymmdd(value)}{booking.strftime('%m%d')}{_mark(entry)}{_amount(entry.amount)}"
        f"{type_code}{(entry.customer_reference or 'NONREF')[:16]}"
    )
    if entry.bank_reference:
        line += f"//{entry.bank_reference[:16]}"
    lines = [line]
    info = _info(entry)
    if info:
        wrapped = _wrap(f":86:{info}")
        lines.extend(wrapped)
    return lines


def _wrap(text: str) -> list[str]:
    """Cut into lines of at most 65 characters; no continuation line may start with ``-``
    or ``:`` (a reader would take it for the end of block 4 or a new field)."""
    lines = []
    while len(text) > _LINE:
        cut = _LINE
        while cut > 1 and text[cut] in "-:":
            cut -= 1
        lines.append(text[:cut])
        text = text[cut:]
    lines.append(text)
    return lines


def _info(entry: Transaction) -> str:
    tags = (
        ("EREF", entry.end_to_end_id),
        ("NAME", entry.counterparty_name),
        ("IBAN", entry.counterparty_account),
        ("REMI", entry.remittance),
    )
    return "".join(f"/{tag}/{value}" for tag, value in tags if value)
