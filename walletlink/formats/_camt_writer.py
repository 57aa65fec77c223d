"""Write statements as camt.053.001.08 (for mock banks, tests and benchmarks).

Text is written straight to the output in XSD element order, entry by entry, so a
million-entry statement streams to disk without building a tree. ``iter_camt`` reads the
output back to the same values (see ``tests/formats/test_camt.py`` for the round trip).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import IO, Final
from xml.sax.saxutils import escape

from walletlink.accounts import AccountId, Iban
from walletlink.errors import ValidationError
from walletlink.models import Balance, BookingStatus, Direction, Transaction, TransactionDetail
from walletlink.money import Money

from .statement import Statement

__all__ = ["CAMT053_NAMESPACE", "CAMT054_NAMESPACE", "write_camt053", "write_camt054"]

CAMT053_NAMESPACE: Final = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
CAMT054_NAMESPACE: Final = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"
_STATUS_CODES: Final = {
    BookingStatus.BOOKED: "BOOK",
    BookingStatus.PENDING: "PDNG",
    BookingStatus.INFO: "INFO",
}


def write_camt053(
    statements: Iterable[Statement],
    *,
    message_id: str,
    created_at: datetime,
    out: IO[bytes] | None = None,
) -> bytes | None:
    """Write ``statements`` as one camt.053.001.08 document.

    Returns the UTF-8 bytes, or writes them to ``out`` (a binary file) and returns ``None``.
    Raises ``ValidationError`` for a statement the schema cannot express (no balance).
    """
    target = out if out is not None else io.BytesIO()
    text = io.TextIOWrapper(target, encoding="utf-8", newline="\n", write_through=False)
    text.write(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="{CAMT053_NAMESPACE}"><BkToCstmrStmt>\n'
        f"<GrpHdr><MsgId>{_t(message_id)}</MsgId>"
        f"<CreDtTm>{created_at.isoformat()}</CreDtTm></GrpHdr>\n"
    )
    for statement in statements:
        _write_statement(text, statement, created_at.date())
    text.write("</BkToCstmrStmt></Document>\n")
    text.flush()
    text.detach()
    return target.getvalue() if isinstance(target, io.BytesIO) and out is None else None


def write_camt054(
    notifications: Iterable[Statement], *, message_id: str, created_at: datetime
) -> bytes:
    """Write ``notifications`` as one camt.054.001.08 debit/credit notification (UTF-8).

    Each statement becomes one ``Ntfctn`` holding its entries, written exactly as
    :func:`write_camt053` writes them; camt.054 carries no balances, so they are left out.
    """
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="{CAMT054_NAMESPACE}"><BkToCstmrDbtCdtNtfctn>\n'
        f"<GrpHdr><MsgId>{_t(message_id)}</MsgId>"
        f"<CreDtTm>{created_at.isoformat()}</CreDtTm></GrpHdr>\n"
    ]
    for notification in notifications:
        header = notification.header
        parts.append(f"<Ntfctn><Id>{_t(header.statement_id)}</Id>")
        if header.created_at is not None:
            parts.append(f"<CreDtTm>{header.created_at.isoformat()}</CreDtTm>")
        currency = notification.currency
        ccy = f"<Ccy>{currency}</Ccy>" if currency else ""
        parts.append(f"<Acct>{_account_id(header.account)}{ccy}</Acct>\n")
        parts.extend(_entry(entry) for entry in notification.entries)
        parts.append("</Ntfctn>\n")
    parts.append("</BkToCstmrDbtCdtNtfctn></Document>\n")
    return "".join(parts).encode("utf-8")


def _t(value: str) -> str:
    return escape(value)


def _write_statement(out: IO[str], statement: Statement, today: date) -> None:
    header = statement.header
    if not statement.balances:
        raise ValidationError("a camt.053 statement needs at least one balance")
    parts = [f"<Stmt><Id>{_t(header.statement_id)}</Id>"]
    if header.sequence_number is not None and header.sequence_number.isdigit():
        parts.append(f"<ElctrncSeqNb>{header.sequence_number}</ElctrncSeqNb>")
    if header.created_at is not None:
        parts.append(f"<CreDtTm>{header.created_at.isoformat()}</CreDtTm>")
    if header.from_date is not None and header.to_date is not None:
        parts.append(
            f"<FrToDt><FrDtTm>{_moment(header.from_date, time.min)}</FrDtTm>"
            f"<ToDtTm>{_moment(header.to_date, time(23, 59, 59))}</ToDtTm></FrToDt>"
        )
    currency = statement.currency
    parts.append(f"<Acct>{_account_id(header.account)}")
    parts.append(f"<Ccy>{currency}</Ccy></Acct>\n" if currency else "</Acct>\n")
    # The schema requires a balance date; an undated balance is dated with the message.
    parts.extend(_balance(balance, today) for balance in statement.balances)
    out.write("".join(parts))
    for entry in statement.entries:
        out.write(_entry(entry))
    out.write("</Stmt>\n")


def _moment(value: date | datetime, default: time) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return datetime.combine(value, default).isoformat()


def _account_id(account: AccountId | None) -> str:
    if isinstance(account, Iban):
        return f"<Id><IBAN>{account.value}</IBAN></Id>"
    if account is None:
        return "<Id><Othr><Id>NOTPROVIDED</Id></Othr></Id>"
    return f"<Id><Othr><Id>{_t(account.value)}</Id></Othr></Id>"


def _account_text(value: str) -> str:
    # An IBAN-shaped id goes in <IBAN>; anything else in <Othr><Id> (what the parser reads).
    if len(value) >= 15 and value[:2].isalpha() and value[2:4].isdigit() and value.isalnum():
        return f"<Id><IBAN>{value}</IBAN></Id>"
    return f"<Id><Othr><Id>{_t(value)}</Id></Othr></Id>"


def _amount(tag: str, money: Money) -> str:
    return f'<{tag} Ccy="{money.currency}">{abs(money.amount):f}</{tag}>'


def _indicator(negative: bool) -> str:
    return "<CdtDbtInd>DBIT</CdtDbtInd>" if negative else "<CdtDbtInd>CRDT</CdtDbtInd>"


def _date_choice(value: date | datetime) -> str:
    if isinstance(value, datetime):
        return f"<DtTm>{value.isoformat()}</DtTm>"
    return f"<Dt>{value.isoformat()}</Dt>"


def _balance(balance: Balance, today: date) -> str:
    as_of = balance.as_of or today
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{balance.type.value}</Cd></CdOrPrtry></Tp>"
        f"{_amount('Amt', balance.amount)}{_indicator(balance.amount.is_negative())}"
        f"<Dt>{_date_choice(as_of)}</Dt></Bal>\n"
    )


def _bank_code(code: str | None) -> str:
    if code is None:
        return "<BkTxCd/>"
    pieces = code.split("/")
    if len(pieces) == 3 and all(pieces):
        return (
            f"<BkTxCd><Domn><Cd>{_t(pieces[0])}</Cd><Fmly><Cd>{_t(pieces[1])}</Cd>"
            f"<SubFmlyCd>{_t(pieces[2])}</SubFmlyCd></Fmly></Domn></BkTxCd>"
        )
    return f"<BkTxCd><Prtry><Cd>{_t(code)}</Cd></Prtry></BkTxCd>"


def _entry(entry: Transaction) -> str:
    parts = ["<Ntry>"]
    if entry.transaction_id is not None:
        parts.append(f"<NtryRef>{_t(entry.transaction_id)}</NtryRef>")
    parts.append(_amount("Amt", entry.amount))
    parts.append(_indicator(entry.direction is Direction.DEBIT))
    if entry.reversal:
        parts.append("<RvslInd>true</RvslInd>")
    parts.append(f"<Sts><Cd>{_STATUS_CODES[entry.status]}</Cd></Sts>")
    if entry.booking_date is not None:
        parts.append(f"<BookgDt>{_date_choice(entry.booking_date)}</BookgDt>")
    if entry.value_date is not None:
        parts.append(f"<ValDt>{_date_choice(entry.value_date)}</ValDt>")
    if entry.bank_reference is not None:
        parts.append(f"<AcctSvcrRef>{_t(entry.bank_reference)}</AcctSvcrRef>")
    parts.append(_bank_code(entry.type_code))
    if entry.original_amount is not None:
        parts.append(f"<AmtDtls><InstdAmt>{_amount('Amt', entry.original_amount)}</InstdAmt>")
        parts.append("</AmtDtls>")
    if entry.charges is not None:
        parts.append(f"<Chrgs>{_amount('TtlChrgsAndTaxAmt', entry.charges)}</Chrgs>")
    parts.append(_entry_details(entry))
    parts.append("</Ntry>\n")
    return "".join(parts)


def _entry_details(entry: Transaction) -> str:
    original = entry.direction
    if entry.reversal:
        original = Direction.CREDIT if original is Direction.DEBIT else Direction.DEBIT
    details = entry.details or (
        TransactionDetail(
            end_to_end_id=entry.end_to_end_id,
            instruction_id=entry.instruction_id,
            counterparty_name=entry.counterparty_name,
            counterparty_account=entry.counterparty_account,
            remittance=entry.remittance,
        ),
    )
    batch = ""
    if entry.batch_id is not None:
        batch = f"<Btch><PmtInfId>{_t(entry.batch_id)}</PmtInfId>"
        # NbOfTxs is optional: an entry that lists no members says nothing of their number.
        count = entry.batch_count if entry.batch_count is not None else len(entry.details)
        batch += f"<NbOfTxs>{count}</NbOfTxs></Btch>" if count else "</Btch>"
    body = "".join(_tx_details(d, original) for d in details)
    if not batch and body == "<TxDtls></TxDtls>":
        return ""
    return f"<NtryDtls>{batch}{body}</NtryDtls>"


def _tx_details(detail: TransactionDetail, original: Direction) -> str:
    parts = ["<TxDtls>"]
    refs = [  # the schema's order: AcctSvcrRef, PmtInfId, InstrId, EndToEndId
        ("AcctSvcrRef", detail.bank_reference),
        ("PmtInfId", detail.payment_information_id),
        ("InstrId", detail.instruction_id),
        ("EndToEndId", detail.end_to_end_id),
    ]
    if any(value for _, value in refs):
        parts.append("<Refs>")
        parts.extend(f"<{tag}>{_t(value)}</{tag}>" for tag, value in refs if value)
        parts.append("</Refs>")
    if detail.amount is not None:
        parts.append(_amount("Amt", detail.amount))
    side = "Cdtr" if original is Direction.DEBIT else "Dbtr"
    if detail.counterparty_name or detail.counterparty_account:
        parts.append("<RltdPties>")
        if detail.counterparty_name:
            parts.append(f"<{side}><Pty><Nm>{_t(detail.counterparty_name)}</Nm></Pty></{side}>")
        if detail.counterparty_account:
            parts.append(f"<{side}Acct>{_account_text(detail.counterparty_account)}</{side}Acct>")
        parts.append("</RltdPties>")
    if detail.remittance:
        parts.append(f"<RmtInf><Ustrd>{_t(detail.remittance[:140])}</Ustrd></RmtInf>")
    parts.append("</TxDtls>")
    return "".join(parts)
