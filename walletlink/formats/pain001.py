"""pain.001.001.09 customer credit transfer initiation: build from transfers, read back.

:func:`build_pain001` turns :class:`~walletlink.models.TransferRequest` values into one
schema-valid document, one ``PmtInf`` block per (debtor account, currency), with
``NbOfTxs`` and ``CtrlSum`` at group and block level. :func:`parse_pain001` reads such a
document (the mock bank's upload endpoint) back into :class:`Pain001Transaction` values and
checks the counts and sums.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Final

import attrs

from walletlink.accounts import AccountId, Bic, Iban, LocalAccount, SortCodeAccount
from walletlink.errors import InvalidAmountError, InvalidTextError, ParseError, ValidationError
from walletlink.models import Party, TransferRequest
from walletlink.money import Money, exact_sum
from walletlink.text import sepa_text

from . import _iso
from ._iso import fail, money_of, optional_ref, text_of
from ._xml import Source, parse_tree

__all__ = [
    "PAIN001_NAMESPACE",
    "Pain001Document",
    "Pain001Transaction",
    "build_pain001",
    "parse_pain001",
]

PAIN001_NAMESPACE: Final = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
_SORT_CODE: Final = "sort_code"


def build_pain001(
    transfers: Sequence[TransferRequest],
    *,
    message_id: str,
    debtor_name: str,
    created_at: datetime,
    execution_date: date,
    debtor_agent: Bic | None = None,
    initiating_party: str | None = None,
    transliterate: bool = False,
) -> bytes:
    """One pain.001.001.09 document for ``transfers``, as UTF-8 bytes.

    Transfers are grouped by (debtor account, currency) into ``PmtInf`` blocks numbered
    ``<message_id>-1``, ``-2``… in first-seen order. ``InstrId`` is the transfer's
    ``metadata["instruction_id"]`` when given, else its end-to-end id. A missing debtor
    agent is written as ``Othr/Id NOTPROVIDED`` (the SEPA convention).

    Every text is written in the SEPA Latin character set (:func:`walletlink.text.sepa_text`)
    within the EPC's lengths (names 70, remittance 140, references 35, account ids 34), and
    every reference follows the EPC slash rule. Nothing is cut or replaced silently: text
    outside those rules raises :class:`~walletlink.errors.InvalidTextError` naming the field
    and the first offending character, and an amount beyond the schema's 18 digits raises
    :class:`~walletlink.errors.InvalidAmountError`. With ``transliterate=True`` accented
    Latin in names and remittance is spelled in the set first (``é`` → ``e``, ``ß`` → ``ss``);
    references are never transliterated, because the bank echoes them back in its pain.002
    and they must match the journal.
    """
    if not transfers:
        raise ValidationError("a pain.001 needs at least one transfer")
    _reference(message_id, "message_id")
    debtor = _name(debtor_name, "debtor_name", transliterate)
    initiator = _name(initiating_party or debtor_name, "initiating_party", transliterate)
    texts = [_texts(t, n, transliterate) for n, t in enumerate(transfers)]
    if len({t.end_to_end_id for t in texts}) != len(texts):
        # pain.002 answers per end-to-end id: a repeated one could not be told apart.
        raise ValidationError("end-to-end ids must be unique within one pain.001")
    groups: dict[tuple[str, str], list[tuple[TransferRequest, _TransactionText]]] = {}
    for transfer, text in zip(transfers, texts, strict=True):
        key = (_account_key(transfer.debtor_account), transfer.amount.currency)
        groups.setdefault(key, []).append((transfer, text))
    root = ET.Element("Document", xmlns=PAIN001_NAMESPACE)
    initiation = ET.SubElement(root, "CstmrCdtTrfInitn")
    header = ET.SubElement(initiation, "GrpHdr")
    _leaf(header, "MsgId", message_id)
    _leaf(header, "CreDtTm", created_at.isoformat(timespec="seconds"))
    _leaf(header, "NbOfTxs", str(len(transfers)))
    # ISO: the group control sum adds every amount "irrespective of currencies".
    _leaf(header, "CtrlSum", _sum(transfers, "GrpHdr/CtrlSum"))
    _leaf(ET.SubElement(header, "InitgPty"), "Nm", initiator)
    for number, group in enumerate(groups.values(), 1):
        block_id = f"{message_id[:30]}-{number}"
        _payment_info(initiation, block_id, group, debtor, debtor_agent, execution_date)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


# EPC usage rules: names are limited to 70 characters; ISO: Max35Text references, Max34Text
# Othr/Id, Max140Text Ustrd, amounts of at most 18 digits (5 after the point).
_NAME_LENGTH: Final = 70
_REFERENCE_LENGTH: Final = 35
_ACCOUNT_ID_LENGTH: Final = 34
_REMITTANCE_LENGTH: Final = 140
_AMOUNT_DIGITS: Final = 18


@attrs.frozen
class _TransactionText:
    """The texts of one transaction as they are written: checked, maybe transliterated."""

    instruction_id: str
    end_to_end_id: str
    creditor_name: str
    remittance: str


def _reference(value: str, field: str) -> str:
    if not value:
        raise InvalidTextError(f"{field} has 1 to 35 characters", field=field)
    return sepa_text(value, field=field, max_length=_REFERENCE_LENGTH, identifier=True)


def _name(value: str, field: str, transliterate: bool) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidTextError(f"{field} is required", field=field)
    return sepa_text(value, field=field, max_length=_NAME_LENGTH, transliterate=transliterate)


def _texts(transfer: TransferRequest, index: int, transliterate: bool) -> _TransactionText:
    where = f"transfers[{index}]"
    _check_amount(transfer.amount.amount, f"{where}.amount")
    _check_account(transfer.debtor_account, f"{where}.debtor_account")
    _check_account(transfer.creditor.account, f"{where}.creditor.account")
    end_to_end_id = _reference(transfer.end_to_end_id, f"{where}.end_to_end_id")
    instruction = transfer.metadata.get("instruction_id")
    return _TransactionText(
        instruction_id=end_to_end_id
        if instruction is None
        else _reference(instruction, f"{where}.metadata['instruction_id']"),
        end_to_end_id=end_to_end_id,
        creditor_name=_name(transfer.creditor.name, f"{where}.creditor.name", transliterate),
        remittance=sepa_text(
            transfer.remittance,
            field=f"{where}.remittance",
            max_length=_REMITTANCE_LENGTH,
            transliterate=transliterate,
        ),
    )


def _check_account(account: AccountId, field: str) -> None:
    # An IBAN and a sort code are ASCII letters and digits already; a local id may hold
    # printable ASCII outside the set. The scheme travels as a walletlink code (SchmeNm/Prtry,
    # e.g. "sort_code") that only walletlink's reader interprets, so it is not checked here.
    if isinstance(account, LocalAccount):
        sepa_text(account.value, field=field, max_length=_ACCOUNT_ID_LENGTH, identifier=True)


def _check_amount(amount: Decimal, field: str) -> None:
    if len(amount.as_tuple().digits) > _AMOUNT_DIGITS:
        raise InvalidAmountError(f"{field}: a pain.001 amount has at most 18 digits")


def _account_key(account: AccountId) -> str:
    return f"{type(account).__name__}:{account.value}"


def _sum(transfers: Sequence[TransferRequest], field: str) -> str:
    total = exact_sum(t.amount.amount for t in transfers)
    _check_amount(total, field)
    return f"{total:f}"


def _leaf(parent: ET.Element, tag: str, text: str) -> ET.Element:
    elem = ET.SubElement(parent, tag)
    elem.text = text
    return elem


def _payment_info(
    parent: ET.Element,
    block_id: str,
    group: list[tuple[TransferRequest, _TransactionText]],
    debtor_name: str,
    debtor_agent: Bic | None,
    execution_date: date,
) -> None:
    transfers = [transfer for transfer, _ in group]
    block = ET.SubElement(parent, "PmtInf")
    _leaf(block, "PmtInfId", block_id)
    _leaf(block, "PmtMtd", "TRF")
    _leaf(block, "NbOfTxs", str(len(group)))
    _leaf(block, "CtrlSum", _sum(transfers, f"PmtInf {block_id}/CtrlSum"))
    _leaf(ET.SubElement(block, "ReqdExctnDt"), "Dt", execution_date.isoformat())
    _leaf(ET.SubElement(block, "Dbtr"), "Nm", debtor_name)
    _account(ET.SubElement(block, "DbtrAcct"), transfers[0].debtor_account)
    _agent(ET.SubElement(block, "DbtrAgt"), debtor_agent)
    _leaf(block, "ChrgBr", "SLEV")
    for transfer, text in group:
        _transaction(block, transfer, text)


def _account(parent: ET.Element, account: AccountId) -> None:
    ident = ET.SubElement(parent, "Id")
    if isinstance(account, Iban):
        _leaf(ident, "IBAN", account.value)
        return
    other = ET.SubElement(ident, "Othr")
    _leaf(other, "Id", account.value)
    scheme = _SORT_CODE if isinstance(account, SortCodeAccount) else account.scheme
    # The scheme travels as a proprietary name so the reader can rebuild the same account.
    _leaf(ET.SubElement(other, "SchmeNm"), "Prtry", scheme[:35])


def _agent(parent: ET.Element, bic: Bic | None) -> None:
    institution = ET.SubElement(parent, "FinInstnId")
    if bic is not None:
        _leaf(institution, "BICFI", bic.value)
    else:
        _leaf(ET.SubElement(institution, "Othr"), "Id", "NOTPROVIDED")


def _transaction(block: ET.Element, transfer: TransferRequest, text: _TransactionText) -> None:
    tx = ET.SubElement(block, "CdtTrfTxInf")
    payment_id = ET.SubElement(tx, "PmtId")
    _leaf(payment_id, "InstrId", text.instruction_id)
    _leaf(payment_id, "EndToEndId", text.end_to_end_id)
    amount = _leaf(ET.SubElement(tx, "Amt"), "InstdAmt", transfer.amount.to_decimal_string())
    amount.set("Ccy", transfer.amount.currency)
    creditor = transfer.creditor
    if creditor.agent is not None:
        _agent(ET.SubElement(tx, "CdtrAgt"), creditor.agent)
    party = ET.SubElement(tx, "Cdtr")
    _leaf(party, "Nm", text.creditor_name)
    if creditor.country:
        _leaf(ET.SubElement(party, "PstlAdr"), "Ctry", creditor.country)
    _account(ET.SubElement(tx, "CdtrAcct"), creditor.account)
    if text.remittance:
        _leaf(ET.SubElement(tx, "RmtInf"), "Ustrd", text.remittance)


@attrs.frozen(kw_only=True)
class Pain001Transaction:
    """One ``CdtTrfTxInf`` with the debtor data of its ``PmtInf`` block."""

    payment_information_id: str
    instruction_id: str | None
    end_to_end_id: str | None
    amount: Money
    creditor: Party
    debtor_name: str | None
    debtor_account: AccountId
    debtor_agent: Bic | None
    requested_execution_date: date | datetime | None
    remittance: str | None

    def to_transfer_request(self, idempotency_key: str | None = None) -> TransferRequest:
        """The transfer this instruction asks for (a mock bank books it under its e2e id)."""
        request = TransferRequest(
            amount=self.amount,
            debtor_account=self.debtor_account,
            creditor=self.creditor,
            remittance=self.remittance or "",
            end_to_end_id=self.end_to_end_id or "NOTPROVIDED",
        )
        if idempotency_key is None:
            return request
        return attrs.evolve(request, idempotency_key=idempotency_key)


@attrs.frozen(kw_only=True)
class Pain001Document:
    """A parsed pain.001: group header and every transaction, in document order."""

    message_id: str
    created_at: datetime
    initiating_party: str | None
    transactions: tuple[Pain001Transaction, ...]

    @property
    def payment_information_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.payment_information_id for t in self.transactions))


def parse_pain001(source: Source) -> Pain001Document:
    """Read a pain.001.001.03 to .11.

    The elements read here kept their names across versions, with two changes of shape that
    are both read: ``ReqdExctnDt`` is a plain ISODate up to .08 and a ``Dt``/``DtTm`` choice
    from .09; an agent's ``BIC`` became ``BICFI``.

    Raises ``ParseError`` naming the element for a missing field, a bad amount, or a
    ``NbOfTxs`` / ``CtrlSum`` that does not match the transactions.
    """
    namespace, root = parse_tree(source)
    if not namespace.startswith("urn:iso:std:iso:20022:tech:xsd:pain.001."):
        raise ParseError(f"not a pain.001 document (namespace {namespace!r})", position="Document")
    initiation = root.find("CstmrCdtTrfInitn")
    if initiation is None:
        fail("missing required element CstmrCdtTrfInitn", 0, "Document")
    header = initiation.find("GrpHdr")
    if header is None:
        fail("missing required element GrpHdr", 0, "CstmrCdtTrfInitn")
    transactions: list[Pain001Transaction] = []
    for index, block in enumerate(initiation.iterfind("PmtInf"), 1):
        found = _read_block(block, f"PmtInf[{index}]")
        _check_totals(block, found, f"PmtInf[{index}]")
        transactions.extend(found)
    if not transactions:
        fail("no PmtInf/CdtTrfTxInf", 0, "CstmrCdtTrfInitn")
    _check_totals(header, transactions, "GrpHdr")
    created = _iso.required(header, "CreDtTm", 0, "GrpHdr")
    return Pain001Document(
        message_id=_iso.required(header, "MsgId", 0, "GrpHdr"),
        created_at=_iso.parse_datetime(created, 0, "GrpHdr/CreDtTm"),
        initiating_party=text_of(header, "InitgPty/Nm"),
        transactions=tuple(transactions),
    )


def _check_totals(elem: ET.Element, found: Sequence[Pain001Transaction], where: str) -> None:
    count = text_of(elem, "NbOfTxs")
    if count is not None and count != str(len(found)):
        fail(f"NbOfTxs says {count[:18]} but there are {len(found)} transactions", 0, where)
    control = text_of(elem, "CtrlSum")
    if control is not None:
        expected = _iso.parse_amount_text(control, 0, f"{where}/CtrlSum")
        actual = sum((t.amount.amount for t in found), Decimal(0))
        if expected != actual:
            fail(f"CtrlSum says {expected} but the amounts add up to {actual}", 0, where)


def _read_block(block: ET.Element, where: str) -> list[Pain001Transaction]:
    block_id = _iso.required(block, "PmtInfId", 0, where)
    debtor_account = _read_account(block.find("DbtrAcct"), f"{where}/DbtrAcct")
    agent = _read_bic(block.find("DbtrAgt"), f"{where}/DbtrAgt")
    execution = _execution_date(block.find("ReqdExctnDt"), f"{where}/ReqdExctnDt")
    debtor_name = text_of(block, "Dbtr/Nm")
    return [
        Pain001Transaction(
            payment_information_id=block_id,
            instruction_id=optional_ref(tx, "PmtId/InstrId"),
            end_to_end_id=optional_ref(tx, "PmtId/EndToEndId"),
            amount=money_of(tx.find("Amt/InstdAmt"), 0, f"{where}/CdtTrfTxInf[{n}]/Amt"),
            creditor=_read_creditor(tx, f"{where}/CdtTrfTxInf[{n}]"),
            debtor_name=debtor_name,
            debtor_account=debtor_account,
            debtor_agent=agent,
            requested_execution_date=execution,
            remittance=" ".join(e.text.strip() for e in tx.iterfind("RmtInf/Ustrd") if e.text)
            or None,
        )
        for n, tx in enumerate(block.iterfind("CdtTrfTxInf"), 1)
    ]


def _execution_date(elem: ET.Element | None, where: str) -> date | datetime | None:
    """``ReqdExctnDt``: a plain ISODate up to .08, a ``Dt``/``DtTm`` choice from .09 on."""
    if elem is None:
        return None
    if len(elem) == 0:
        return _iso.parse_date((elem.text or "").strip(), 0, where)
    return _iso.date_choice(elem, 0, where)


def _read_creditor(tx: ET.Element, where: str) -> Party:
    name = text_of(tx, "Cdtr/Nm")
    if name is None:
        fail("missing creditor name", 0, f"{where}/Cdtr/Nm")
    try:
        return Party(
            name=name,
            account=_read_account(tx.find("CdtrAcct"), f"{where}/CdtrAcct"),
            agent=_read_bic(tx.find("CdtrAgt"), f"{where}/CdtrAgt"),
            country=text_of(tx, "Cdtr/PstlAdr/Ctry"),
        )
    except ValidationError as exc:
        fail(f"bad creditor: {exc.message}", 0, where)


def _read_account(elem: ET.Element | None, where: str) -> AccountId:
    if elem is None:
        fail("missing account", 0, where)
    other = elem.find("Id/Othr")
    if other is None:
        account = _iso.account_of(elem, 0, where)
        if account is None:
            fail("account has neither IBAN nor Othr/Id", 0, where)
        return account
    value = _iso.required(other, "Id", 0, f"{where}/Id/Othr")
    scheme = text_of(other, "SchmeNm/Prtry") or text_of(other, "SchmeNm/Cd") or "local"
    try:
        if scheme == _SORT_CODE:
            return SortCodeAccount(value[:6], value[6:])
        return LocalAccount(value, scheme=scheme)
    except ValidationError as exc:
        fail(f"bad account: {exc.message}", 0, where)


def _read_bic(elem: ET.Element | None, where: str) -> Bic | None:
    if elem is None:
        return None
    value = text_of(elem, "FinInstnId/BICFI") or text_of(elem, "FinInstnId/BIC")
    if value is None:
        return None
    try:
        return Bic(value)
    except ValidationError as exc:
        fail(f"bad BIC: {exc.message}", 0, where)
