"""camt.053 (.001.02 and .001.08) statements and camt.054 notifications: streaming parse,
and a camt.053.001.08 writer.

:func:`iter_camt` streams a file of any size as :mod:`~walletlink.formats.statement` items,
holding one ``<Ntry>`` in memory at a time; :func:`parse_camt` collects them into
:class:`~walletlink.formats.statement.Statement` values. :func:`write_camt053` writes
statements back out (the mock bank uses it; the output validates against the official XSD).

Direction: ``CdtDbtInd`` is the effective direction. ISO 20022 defines it that way for
reversals too (``RvslInd`` true with ``CRDT`` means the *original* was a debit), so a
reversal keeps ``CdtDbtInd`` and only sets ``Transaction.reversal``; the balance check then
holds for conforming files. MT940 spells the same storno ``RD`` (see ``docs/formats.md``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from typing import Final

from walletlink.errors import ParseError
from walletlink.models import (
    Balance,
    BalanceType,
    BookingStatus,
    Direction,
    Transaction,
    TransactionDetail,
)
from walletlink.money import Money

from . import _iso
from ._camt_writer import write_camt053
from ._iso import fail, money_of, optional_ref, text_of
from ._xml import Source, SubtreeStream
from .statement import RunningTotal, Statement, StatementEnd, StatementHeader, StatementItem
from .statement import collect_statements as _collect

__all__ = [
    "CAMT_NAMESPACES",
    "iter_camt",
    "parse_camt",
    "read_balance",
    "read_entry",
    "write_camt053",
]

_PREFIX: Final = "urn:iso:std:iso:20022:tech:xsd:"
#: The camt versions read, by root namespace, with the format name they report.
CAMT_NAMESPACES: Final[dict[str, str]] = {
    f"{_PREFIX}camt.053.001.{v:02d}": "camt.053" for v in range(2, 14)
} | {f"{_PREFIX}camt.054.001.{v:02d}": "camt.054" for v in range(2, 14)}

_CONTAINERS: Final = frozenset(
    {"Document", "BkToCstmrStmt", "BkToCstmrDbtCdtNtfctn", "Stmt", "Ntfctn"}
)
_STATEMENTS: Final = frozenset({"Stmt", "Ntfctn"})
_DIRECTIONS: Final = {"CRDT": Direction.CREDIT, "DBIT": Direction.DEBIT}
_STATUSES: Final = {
    "BOOK": BookingStatus.BOOKED,
    "PDNG": BookingStatus.PENDING,
    "FUTR": BookingStatus.PENDING,
    "INFO": BookingStatus.INFO,
}
_BALANCE_TYPES: Final = {member.value: member for member in BalanceType}
_TRUE: Final = frozenset({"true", "1"})


def iter_camt(source: Source) -> Iterator[StatementItem]:
    """Stream a camt.053 or camt.054 document as header, balances, entries and ends.

    ``source`` is bytes, XML text, a path (``os.PathLike``) or a binary file. Memory stays
    flat: only the current entry is ever built. Raises ``ParseError`` (``HostileInputError``
    for DTDs and entities) naming the line and element.
    """
    reader = _CamtReader()
    stream = SubtreeStream(_CONTAINERS, reader.on_container, reader.on_subtree)
    reader.stream = stream
    for _ in stream.run(source):
        if reader.pending:
            yield from reader.pending
            reader.pending.clear()
    if not reader.seen_document:
        raise ParseError("empty or non-camt XML document", position="end")


def parse_camt(source: Source, *, check_balance: bool = False) -> list[Statement]:
    """Every statement (or notification) in the document, in memory.

    With ``check_balance=True`` each statement's opening + booked entries must equal its
    closing balance, or :class:`~walletlink.errors.StatementBalanceError` is raised.
    """
    statements = list(_collect(iter_camt(source)))
    if check_balance:
        for statement in statements:
            statement.check_balance()
    return statements


class _CamtReader:
    """Turns the subtrees of a camt document into statement items, in order."""

    def __init__(self) -> None:
        self.pending: list[StatementItem] = []
        self.stream: SubtreeStream | None = None
        self.seen_document = False
        self._format = "camt.053"
        self._message_id: str | None = None
        self._message_created: datetime | None = None
        self._header: dict[str, object] = {}
        self._emitted: StatementHeader | None = None
        self._balances: list[Balance] = []
        self._total = RunningTotal()

    # --- containers ----------------------------------------------------------------
    def on_container(self, name: str, attrib: dict[str, str] | None, line: int) -> None:
        if attrib is not None and name == "Document":
            self._open_document(line)
        elif name in _STATEMENTS:
            if attrib is not None:
                self._header, self._balances = {}, []
                self._emitted, self._total = None, RunningTotal()
            else:
                self._close_statement(line)

    def _open_document(self, line: int) -> None:
        namespace = self.stream.namespace if self.stream is not None else None
        kind = CAMT_NAMESPACES.get(namespace or "")
        if kind is None:
            raise ParseError(
                f"not a camt.053/camt.054 document (namespace {namespace!r})",
                position=f"line {line}",
            )
        self._format, self.seen_document = kind, True

    def _close_statement(self, line: int) -> None:
        header = self._emit_header(line)
        currency = header.currency or next((b.amount.currency for b in self._balances), None)
        self.pending.append(
            StatementEnd(
                header=header,
                balances=tuple(self._balances),
                entry_count=self._total.count,
                booked_net=self._total.money(currency),
            )
        )

    # --- subtrees ------------------------------------------------------------------
    def on_subtree(self, elem: ET.Element, line: int) -> None:
        if not self.seen_document:
            fail("camt content outside a Document", line, elem.tag)
        tag = elem.tag
        if tag == "Ntry":
            header = self._emit_header(line)
            entry = read_entry(elem, line)
            self._same_currency(header, entry.amount, line, "Ntry/Amt")
            self._total.add(entry)
            self.pending.append(entry)
        elif tag == "Bal":
            header = self._emit_header(line)
            balance = read_balance(elem, line, header)
            if balance is not None:
                self._same_currency(header, balance.amount, line, "Bal/Amt")
                self._balances.append(balance)
                self.pending.append(balance)
        elif tag == "GrpHdr":
            self._message_id = _iso.required(elem, "MsgId", line, "GrpHdr")
            created = text_of(elem, "CreDtTm")
            if created is not None:
                self._message_created = _iso.parse_datetime(created, line, "GrpHdr/CreDtTm")
        else:
            self._header_field(elem, line)

    def _same_currency(self, header: StatementHeader, amount: Money, line: int, path: str) -> None:
        """One statement, one account currency: the sums and the balance check rely on it."""
        currency = header.currency or self._total.currency
        if currency is None and self._balances:
            currency = self._balances[0].amount.currency
        if currency is not None and amount.currency != currency:
            fail(f"amount in {amount.currency} in a {currency} statement", line, path)

    def _header_field(self, elem: ET.Element, line: int) -> None:
        tag, value = elem.tag, (elem.text or "").strip()
        if tag == "Id":
            self._header["statement_id"] = value
        elif tag in ("ElctrncSeqNb", "LglSeqNb"):
            self._header.setdefault("sequence_number", value)
        elif tag == "CreDtTm":
            self._header["created_at"] = _iso.parse_datetime(value, line, "Stmt/CreDtTm")
        elif tag == "FrToDt":
            for key, path in (("from_date", "FrDtTm"), ("to_date", "ToDtTm")):
                moment = text_of(elem, path)
                if moment is not None:
                    self._header[key] = _iso.parse_datetime(moment, line, f"FrToDt/{path}")
        elif tag == "Acct":
            self._header["account"] = _iso.account_of(elem, line, "Stmt/Acct")
            # Checked here: a bad code would otherwise escape later as a CurrencyError.
            self._header["currency"] = _iso.currency_of(text_of(elem, "Ccy"), line, "Acct/Ccy")

    def _emit_header(self, line: int) -> StatementHeader:
        if self._emitted is None:
            fields = self._header
            statement_id = fields.pop("statement_id", None)
            if not isinstance(statement_id, str) or not statement_id:
                fail("missing required element Id", line, "Stmt/Id")
            self._emitted = StatementHeader(
                format=self._format,
                statement_id=statement_id,
                message_id=self._message_id,
                **{"created_at": self._message_created, **fields},  # type: ignore[arg-type]
            )
            self.pending.append(self._emitted)
        return self._emitted


def read_balance(elem: ET.Element, line: int, header: StatementHeader) -> Balance | None:
    """One ``<Bal>``: type code, signed amount and date.

    ``None`` for a type :class:`~walletlink.models.BalanceType` does not model (``OPAV``,
    ``INFO``, proprietary codes): they inform, and no check depends on them.
    """
    balance_type = _BALANCE_TYPES.get(text_of(elem, "Tp/CdOrPrtry/Cd") or "")
    if balance_type is None:
        return None
    amount = money_of(elem.find("Amt"), line, "Bal/Amt")
    direction = _direction(elem, line, "Bal/CdtDbtInd")
    return Balance(
        account=header.account,
        amount=amount if direction is Direction.CREDIT else -amount,
        type=balance_type,
        as_of=_iso.date_choice(elem.find("Dt"), line, "Bal/Dt"),
    )


def _direction(elem: ET.Element, line: int, path: str) -> Direction:
    code = text_of(elem, "CdtDbtInd")
    direction = _DIRECTIONS.get(code or "")
    if direction is None:
        fail(f"CdtDbtInd must be CRDT or DBIT, got {code!r}", line, path)
    return direction


def _status(entry: ET.Element, line: int) -> BookingStatus:
    status = entry.find("Sts")
    if status is None:
        fail("missing required element Sts", line, "Ntry/Sts")
    # .08 wraps the code (Sts/Cd or Sts/Prtry); .02 has the code as Sts text.
    code = (status.findtext("Cd") or status.findtext("Prtry") or status.text or "").strip()
    # An unknown status is information only: it must never move the booked balance.
    return _STATUSES.get(code, BookingStatus.INFO)


def _bank_code(entry: ET.Element) -> str | None:
    code = entry.find("BkTxCd")
    if code is None:
        return None
    domain = text_of(code, "Domn/Cd")
    if domain is not None:
        family = text_of(code, "Domn/Fmly/Cd") or ""
        sub = text_of(code, "Domn/Fmly/SubFmlyCd") or ""
        return f"{domain}/{family}/{sub}"
    return text_of(code, "Prtry/Cd")


def read_entry(entry: ET.Element, line: int) -> Transaction:
    """One ``<Ntry>`` as a :class:`~walletlink.models.Transaction`."""
    amount = money_of(entry.find("Amt"), line, "Ntry/Amt")
    direction = _direction(entry, line, "Ntry/CdtDbtInd")
    reversal = (entry.findtext("RvslInd") or "").strip() in _TRUE
    # The counterparty sits on the side of the *original* booking, before any storno.
    original = direction if not reversal else _other(direction)
    tx_elems = [tx for group in entry.findall("NtryDtls") for tx in group.findall("TxDtls")]
    details = tuple(_detail(tx, original, line) for tx in tx_elems)
    single = tx_elems[0] if len(tx_elems) == 1 else None
    first = details[0] if len(details) == 1 else None
    batch = _iso.find(entry, "NtryDtls/Btch")
    return Transaction(
        amount=amount,
        direction=direction,
        status=_status(entry, line),
        transaction_id=optional_ref(entry, "NtryRef"),
        booking_date=_iso.as_date(_iso.date_choice(entry.find("BookgDt"), line, "Ntry/BookgDt")),
        value_date=_iso.as_date(_iso.date_choice(entry.find("ValDt"), line, "Ntry/ValDt")),
        # A bank that references the transaction rather than the entry puts its
        # AcctSvcrRef in TxDtls/Refs: for a single transaction that names the booking too.
        bank_reference=(
            optional_ref(entry, "AcctSvcrRef") or (first.bank_reference if first else None)
        ),
        end_to_end_id=first.end_to_end_id if first else None,
        instruction_id=first.instruction_id if first else None,
        counterparty_name=first.counterparty_name if first else None,
        counterparty_account=first.counterparty_account if first else None,
        remittance=(first.remittance if first else None) or text_of(entry, "AddtlNtryInf"),
        reversal=reversal,
        batch_id=_batch_id(batch, details),
        batch_count=None if batch is None else _batch_count(batch, line),
        details=details if len(details) > 1 else (),
        charges=_charges(entry, amount, line),
        original_amount=_original_amount(entry, single, amount, line),
        type_code=_bank_code(entry),
    )


def _other(direction: Direction) -> Direction:
    return Direction.DEBIT if direction is Direction.CREDIT else Direction.CREDIT


def _batch_id(batch: ET.Element | None, details: tuple[TransactionDetail, ...]) -> str | None:
    """``Btch/PmtInfId`` (or ``MsgId``); else the one ``Refs/PmtInfId`` all members share.

    Several members under one payment information id are one payment batch of ours even
    when the bank leaves ``Btch`` out. A single member's id is not a batch: a bank that books
    each payment of a batch on its own repeats it on every entry.
    """
    if batch is not None:
        found = optional_ref(batch, "PmtInfId") or optional_ref(batch, "MsgId")
        if found is not None:
            return found
    shared = {d.payment_information_id for d in details}
    if len(details) > 1 and len(shared) == 1:
        return shared.pop()
    return None


def _batch_count(batch: ET.Element, line: int) -> int | None:
    text = text_of(batch, "NbOfTxs")
    if text is None:
        return None
    if not text.isdigit() or len(text) > 15:  # Max15NumericText
        raise ParseError(f"Btch/NbOfTxs is not a count: {text[:20]!r}", position=f"line {line}")
    return int(text)


def _detail(tx: ET.Element, original: Direction, line: int) -> TransactionDetail:
    # We paid (debit): the counterparty is the creditor. We were paid: the debtor.
    side = "Cdtr" if original is Direction.DEBIT else "Dbtr"
    parties = tx.find("RltdPties")
    name = account = None
    if parties is not None:
        # .08 wraps the party (Cdtr/Pty/Nm); .02 does not (Cdtr/Nm).
        name = text_of(parties, f"{side}/Pty/Nm") or text_of(parties, f"{side}/Nm")
        account = _iso.account_text(parties.find(f"{side}Acct"))
    amount_elem = tx.find("Amt")
    ustrd = [t.strip() for t in (e.text for e in _iso.children(tx, "RmtInf/Ustrd")) if t]
    return TransactionDetail(
        amount=None if amount_elem is None else money_of(amount_elem, line, "TxDtls/Amt"),
        end_to_end_id=optional_ref(tx, "Refs/EndToEndId"),
        instruction_id=optional_ref(tx, "Refs/InstrId"),
        payment_information_id=optional_ref(tx, "Refs/PmtInfId"),
        bank_reference=optional_ref(tx, "Refs/AcctSvcrRef"),
        counterparty_name=name,
        counterparty_account=account,
        remittance=" ".join(t for t in ustrd if t) or text_of(tx, "AddtlTxInf"),
    )


def _charges(entry: ET.Element, amount: Money, line: int) -> Money | None:
    charges = entry.find("Chrgs")
    if charges is None:
        return None
    total = charges.find("TtlChrgsAndTaxAmt")
    if total is not None:
        found = money_of(total, line, "Chrgs/TtlChrgsAndTaxAmt")
    else:
        # .08 lists records (Rcrd/Amt); .02 also allows plain Amt children.
        parts = [
            money_of(e, line, "Chrgs/Rcrd/Amt")
            for record in charges.findall("Rcrd")
            for e in record.findall("Amt")
        ]
        parts += [money_of(e, line, "Chrgs/Amt") for e in charges.findall("Amt")]
        if not parts:
            return None
        found = parts[0]
        for part in parts[1:]:
            if part.currency == found.currency:
                found += part
    # Charges in another currency than the entry cannot be netted: keep the entry clean.
    return found if found.currency == amount.currency else None


def _original_amount(
    entry: ET.Element, single: ET.Element | None, amount: Money, line: int
) -> Money | None:
    """The first instructed / transaction / counter-value amount in a foreign currency."""
    for holder in (entry, single):
        details = None if holder is None else holder.find("AmtDtls")
        if details is None:
            continue
        for kind in ("InstdAmt", "TxAmt", "CntrValAmt"):
            elem = _iso.find(details, f"{kind}/Amt")
            if elem is not None and elem.get("Ccy") not in (None, amount.currency):
                return money_of(elem, line, f"AmtDtls/{kind}/Amt")
    return None
