"""pain.002.001.10 customer payment status reports: read them, and write them (mock banks).

A report answers a pain.001 at three levels: the group (``GrpSts``), each payment block
(``PmtInfSts``) and each transaction (``TxSts``), each with optional reasons
(``StsRsnInf/Rsn/Cd``). Codes map to :class:`~walletlink.models.TransferStatus` and
:class:`~walletlink.models.ReasonCode`; the raw code is always kept.
:meth:`StatusReport.status_of` resolves one transfer: its own status wins, then its block's,
then the group's.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from typing import Final

import attrs

from walletlink.errors import ParseError
from walletlink.models import Reason, ReasonCode, TransferStatus

from . import _iso
from ._iso import fail, optional_ref, text_of
from ._xml import Source, parse_tree

__all__ = [
    "PAIN002_NAMESPACE",
    "REASON_CODES",
    "STATUS_CODES",
    "PaymentStatus",
    "StatusReport",
    "TransactionStatus",
    "parse_pain002",
    "reason_of",
    "status_of_code",
    "write_pain002",
]

PAIN002_NAMESPACE: Final = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"
_ADDTL_MAX: Final = 105  # AddtlInf is Max105Text
_S = TransferStatus
#: ISO ``ExternalPaymentTransactionStatus1Code`` → walletlink status. PART (partially
#: accepted) is PROCESSING at group/block level: the transactions carry the real answer.
STATUS_CODES: Final[dict[str, TransferStatus]] = {
    "ACSC": _S.SETTLED,
    "ACCC": _S.SETTLED,
    "RJCT": _S.REJECTED,
    "CANC": _S.CANCELLED,
    "PDNG": _S.PENDING,
    "RCVD": _S.PENDING,
    "ACTC": _S.PROCESSING,
    "ACCP": _S.PROCESSING,
    "ACSP": _S.PROCESSING,
    "ACWC": _S.PROCESSING,
    "ACFC": _S.PROCESSING,
    "ACWP": _S.PROCESSING,
    "ACIS": _S.PROCESSING,
    "ACPD": _S.PROCESSING,
    "PATC": _S.PROCESSING,
    "PART": _S.PROCESSING,
    "BLCK": _S.PENDING,
}
_R = ReasonCode
#: ISO ``ExternalStatusReason1Code`` → walletlink reason; unknown codes become OTHER.
REASON_CODES: Final[dict[str, ReasonCode]] = {
    "AC01": _R.INVALID_ACCOUNT,
    "AC02": _R.INVALID_ACCOUNT,
    "AC03": _R.INVALID_ACCOUNT,
    "AC04": _R.ACCOUNT_CLOSED,
    "AC06": _R.ACCOUNT_BLOCKED,
    "AC13": _R.INVALID_ACCOUNT,
    "AG01": _R.ACCOUNT_BLOCKED,
    "AG02": _R.TECHNICAL,
    "AM01": _R.INVALID_AMOUNT,
    "AM02": _R.LIMIT_EXCEEDED,
    "AM03": _R.INVALID_AMOUNT,
    "AM04": _R.INSUFFICIENT_FUNDS,
    "AM05": _R.DUPLICATE,
    "AM09": _R.INVALID_AMOUNT,
    "AM10": _R.INVALID_AMOUNT,
    "AM14": _R.LIMIT_EXCEEDED,
    "BE01": _R.INVALID_CREDITOR,
    "BE04": _R.INVALID_CREDITOR,
    "BE05": _R.AUTHORISATION_FAILED,
    "BE06": _R.INVALID_CREDITOR,
    "BE07": _R.INVALID_CREDITOR,
    "CUST": _R.CANCELLED_BY_USER,
    "DS02": _R.CANCELLED_BY_USER,
    "DUPL": _R.DUPLICATE,
    "FF01": _R.TECHNICAL,
    "MD07": _R.ACCOUNT_CLOSED,
    "MS02": _R.OTHER,
    "MS03": _R.OTHER,
    "NARR": _R.OTHER,
    "RC01": _R.INVALID_CREDITOR,
    "RR01": _R.REGULATORY,
    "RR02": _R.REGULATORY,
    "RR03": _R.REGULATORY,
    "RR04": _R.REGULATORY,
    "TM01": _R.TECHNICAL,
}


def status_of_code(code: str | None) -> TransferStatus | None:
    """``"ACSC"`` → SETTLED; an unknown code → UNKNOWN; no code → ``None``."""
    if code is None:
        return None
    return STATUS_CODES.get(code.upper(), TransferStatus.UNKNOWN)


def reason_of(code: str | None, message: str = "") -> Reason:
    """A :class:`Reason` keeping the raw ISO code (``AM04`` → INSUFFICIENT_FUNDS)."""
    return Reason(REASON_CODES.get((code or "").upper(), ReasonCode.OTHER), code, message)


@attrs.frozen(kw_only=True)
class TransactionStatus:
    """One ``TxInfAndSts``: the original ids, the raw and mapped status and the reasons."""

    original_end_to_end_id: str | None
    original_instruction_id: str | None = None
    raw_status: str | None = None
    status: TransferStatus | None = None
    reasons: tuple[Reason, ...] = ()
    status_id: str | None = None


@attrs.frozen(kw_only=True)
class PaymentStatus:
    """One ``OrgnlPmtInfAndSts`` block with its transactions."""

    original_payment_information_id: str
    raw_status: str | None = None
    status: TransferStatus | None = None
    reasons: tuple[Reason, ...] = ()
    transactions: tuple[TransactionStatus, ...] = ()


@attrs.frozen(kw_only=True)
class StatusReport:
    """A whole pain.002 report."""

    message_id: str
    created_at: datetime
    original_message_id: str
    original_message_name: str = "pain.001.001.09"
    raw_group_status: str | None = None
    group_status: TransferStatus | None = None
    group_reasons: tuple[Reason, ...] = ()
    payments: tuple[PaymentStatus, ...] = ()

    def transactions(self) -> Iterator[tuple[PaymentStatus, TransactionStatus]]:
        for payment in self.payments:
            for tx in payment.transactions:
                yield payment, tx

    def status_of(self, end_to_end_id: str) -> tuple[TransferStatus, Reason | None]:
        """The status and first reason for one transfer: its own, else its block's, else the
        group's; ``UNKNOWN`` when the report says nothing that applies."""
        for payment, tx in self.transactions():
            if tx.original_end_to_end_id == end_to_end_id:
                for status, reasons in (
                    (tx.status, tx.reasons),
                    (_unless_part(payment.status, payment.raw_status), payment.reasons),
                    (_unless_part(self.group_status, self.raw_group_status), self.group_reasons),
                ):
                    if status is not None:
                        return status, reasons[0] if reasons else None
        group = _unless_part(self.group_status, self.raw_group_status)
        if group is not None:
            return group, self.group_reasons[0] if self.group_reasons else None
        return TransferStatus.UNKNOWN, None


def _unless_part(status: TransferStatus | None, raw: str | None) -> TransferStatus | None:
    # PART at a higher level says "some were rejected": it cannot speak for one transaction.
    return None if raw == "PART" else status


def parse_pain002(source: Source) -> StatusReport:
    """Read a pain.002 (v10; the elements used are the same from v03 to v12)."""
    namespace, root = parse_tree(source)
    if not namespace.startswith("urn:iso:std:iso:20022:tech:xsd:pain.002."):
        raise ParseError(f"not a pain.002 document (namespace {namespace!r})", position="Document")
    report = root.find("CstmrPmtStsRpt")
    if report is None:
        fail("missing required element CstmrPmtStsRpt", 0, "Document")
    header = report.find("GrpHdr")
    group = report.find("OrgnlGrpInfAndSts")
    if header is None or group is None:
        fail("missing GrpHdr or OrgnlGrpInfAndSts", 0, "CstmrPmtStsRpt")
    raw_group = text_of(group, "GrpSts")
    created = _iso.required(header, "CreDtTm", 0, "GrpHdr")
    return StatusReport(
        message_id=_iso.required(header, "MsgId", 0, "GrpHdr"),
        created_at=_iso.parse_datetime(created, 0, "GrpHdr/CreDtTm"),
        original_message_id=_iso.required(group, "OrgnlMsgId", 0, "OrgnlGrpInfAndSts"),
        original_message_name=text_of(group, "OrgnlMsgNmId") or "",
        raw_group_status=raw_group,
        group_status=status_of_code(raw_group),
        group_reasons=_reasons(group),
        payments=tuple(
            _payment(block, f"OrgnlPmtInfAndSts[{n}]")
            for n, block in enumerate(report.iterfind("OrgnlPmtInfAndSts"), 1)
        ),
    )


def _reasons(elem: ET.Element) -> tuple[Reason, ...]:
    found = []
    for info in elem.iterfind("StsRsnInf"):
        code = text_of(info, "Rsn/Cd") or text_of(info, "Rsn/Prtry")
        found.append(reason_of(code, _joined([e.text or "" for e in info.findall("AddtlInf")])))
    return tuple(found)


def _joined(pieces: list[str]) -> str:
    """AddtlInf lines rejoined: a full 105-character line was cut mid-text, so no space."""
    text = ""
    for index, piece in enumerate(pieces):
        glue = "" if index == 0 or len(pieces[index - 1]) == _ADDTL_MAX else " "
        text += glue + piece
    return text.strip()


def _payment(block: ET.Element, where: str) -> PaymentStatus:
    raw = text_of(block, "PmtInfSts")
    return PaymentStatus(
        original_payment_information_id=_iso.required(block, "OrgnlPmtInfId", 0, where),
        raw_status=raw,
        status=status_of_code(raw),
        reasons=_reasons(block),
        transactions=tuple(_transaction(tx) for tx in block.iterfind("TxInfAndSts")),
    )


def _transaction(tx: ET.Element) -> TransactionStatus:
    raw = text_of(tx, "TxSts")
    return TransactionStatus(
        original_end_to_end_id=optional_ref(tx, "OrgnlEndToEndId"),
        original_instruction_id=optional_ref(tx, "OrgnlInstrId"),
        raw_status=raw,
        status=status_of_code(raw),
        reasons=_reasons(tx),
        status_id=text_of(tx, "StsId"),
    )


def write_pain002(report: StatusReport) -> bytes:
    """The report as a pain.002.001.10 document (UTF-8), raw codes written as given."""
    root = ET.Element("Document", xmlns=PAIN002_NAMESPACE)
    body = ET.SubElement(root, "CstmrPmtStsRpt")
    header = ET.SubElement(body, "GrpHdr")
    _leaf(header, "MsgId", report.message_id)
    _leaf(header, "CreDtTm", report.created_at.isoformat(timespec="seconds"))
    group = ET.SubElement(body, "OrgnlGrpInfAndSts")
    _leaf(group, "OrgnlMsgId", report.original_message_id)
    _leaf(group, "OrgnlMsgNmId", report.original_message_name)
    _optional(group, "GrpSts", report.raw_group_status)
    _write_reasons(group, report.group_reasons)
    for payment in report.payments:
        block = ET.SubElement(body, "OrgnlPmtInfAndSts")
        _leaf(block, "OrgnlPmtInfId", payment.original_payment_information_id)
        _optional(block, "PmtInfSts", payment.raw_status)
        _write_reasons(block, payment.reasons)
        for tx in payment.transactions:
            _write_transaction(ET.SubElement(block, "TxInfAndSts"), tx)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _write_transaction(elem: ET.Element, tx: TransactionStatus) -> None:
    _optional(elem, "StsId", tx.status_id)
    _optional(elem, "OrgnlInstrId", tx.original_instruction_id)
    _optional(elem, "OrgnlEndToEndId", tx.original_end_to_end_id)
    _optional(elem, "TxSts", tx.raw_status)
    _write_reasons(elem, tx.reasons)


def _leaf(parent: ET.Element, tag: str, text: str) -> None:
    ET.SubElement(parent, tag).text = text


def _optional(parent: ET.Element, tag: str, text: str | None) -> None:
    if text is not None:
        _leaf(parent, tag, text)


def _write_reasons(parent: ET.Element, reasons: tuple[Reason, ...]) -> None:
    for reason in reasons:
        info = ET.SubElement(parent, "StsRsnInf")
        if reason.raw_code is not None:
            _leaf(ET.SubElement(info, "Rsn"), "Cd", reason.raw_code)
        if reason.message:
            # AddtlInf is Max105Text: longer messages are cut into several elements.
            for start in range(0, len(reason.message), _ADDTL_MAX):
                _leaf(info, "AddtlInf", reason.message[start : start + _ADDTL_MAX])
