"""The bank side of ``iso20022_h2h``: a host-to-host file endpoint, as in
``docs/iso20022_h2h.md``.

Every request must carry an RFC 9421 signature by a wallet key registered here (uploads also
a covered ``Content-Digest``); anything else is a ``401`` that says what was wrong. An upload
is read safely (:mod:`walletlink.formats`, no DTDs or entities), validated, recognised by its
MsgId, and executed transaction by transaction against the
:class:`~walletlink.testing.ledger.Ledger`; the answer is a pain.002 status report.
Statements are camt.053 (camt.054) documents written from the ledger.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import re
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import attrs

from walletlink.errors import (
    CurrencyMismatchError,
    DigestMismatchError,
    ParseError,
    SignatureError,
    SignatureMissingError,
)
from walletlink.formats import (
    Pain001Document,
    Pain001Transaction,
    PaymentStatus,
    Statement,
    StatementHeader,
    StatusReport,
    TransactionStatus,
    parse_pain001,
    write_camt053,
    write_camt054,
    write_mt940,
    write_pain002,
)
from walletlink.formats._iso import text_of
from walletlink.formats._xml import parse_tree
from walletlink.formats.pain001 import PAIN001_NAMESPACE
from walletlink.models import (
    Balance,
    BalanceType,
    BookingStatus,
    Direction,
    Reason,
    ReasonCode,
    Transaction,
    TransferStatus,
)
from walletlink.money import Money
from walletlink.signing.keys import KeyRing, SigningKey, generate_ed25519_key
from walletlink.signing.rfc9421 import HttpMessage, Rfc9421Verifier
from walletlink.testing._http import MockRequest, MockResponse
from walletlink.testing._routing import NoRoute, find_route
from walletlink.testing.faults import FaultKind
from walletlink.testing.idempotency import ClaimState, IdempotencyStore
from walletlink.testing.ledger import (
    AccountNotFoundError,
    BankTransferView,
    LedgerEntry,
    TransferInstruction,
)

if TYPE_CHECKING:
    from walletlink.testing.mockbank import MockBank, OutgoingWebhook

__all__ = [
    "FileTransaction",
    "Iso20022H2HServer",
    "PaymentFile",
    "PaymentFileValidator",
    "statement_document",
]

XML_TYPE: Final = "application/xml"
_SCOPE: Final = "h2h"
_REQUEST_COMPONENTS: Final = ("@method", "@authority", "@path", "@query")
#: The ledger's status of a transaction → its pain.002 ``TxSts``.
_TX_STATUS: Final[dict[TransferStatus, str]] = {
    TransferStatus.PENDING: "ACCP",
    TransferStatus.PROCESSING: "ACSP",
    TransferStatus.SETTLED: "ACSC",
    TransferStatus.REJECTED: "RJCT",
    TransferStatus.CANCELLED: "CANC",
    # A return arrives as its own credit (camt); the payment itself did settle.
    TransferStatus.RETURNED: "ACSC",
}
#: The ledger's reason → ISO ``ExternalStatusReason1Code``.
_REASON_CODES: Final[dict[ReasonCode, str]] = {
    ReasonCode.INSUFFICIENT_FUNDS: "AM04",
    ReasonCode.ACCOUNT_CLOSED: "AC04",
    ReasonCode.INVALID_ACCOUNT: "AC01",
    ReasonCode.ACCOUNT_UNKNOWN: "AC01",
    ReasonCode.CANCELLED_BY_USER: "DS02",
}


@attrs.frozen(kw_only=True)
class FileTransaction:
    """One ``CdtTrfTxInf`` of an uploaded file: the ledger transfer it became, or why not."""

    payment_information_id: str
    instruction_id: str | None
    end_to_end_id: str | None
    transfer_id: str | None = None
    rejection: Reason | None = None


@attrs.frozen(kw_only=True)
class PaymentFile:
    """An accepted upload."""

    id: str
    message_id: str
    received_at: datetime
    transactions: tuple[FileTransaction, ...]

    def summary(self) -> dict[str, str]:
        return {
            "id": self.id,
            "msg_id": self.message_id,
            "received_at": self.received_at.isoformat(),
            "status_report": f"/h2h/v1/payment-files/{self.id}/status-report",
        }


class _Fail(Exception):
    """Stop handling and answer with this response."""

    def __init__(self, response: MockResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _error(status: int, code: str, message: str, **headers: str) -> _Fail:
    body = {"error": {"code": code, "message": message}}
    return _Fail(
        MockResponse.json(status, body, {k.replace("_", "-"): v for k, v in headers.items()})
    )


def _xml(status: int, body: bytes, **headers: str) -> MockResponse:
    extra = {name.replace("_", "-"): value for name, value in headers.items()}
    return MockResponse(status=status, headers={"Content-Type": XML_TYPE, **extra}, body=body)


class Iso20022H2HServer:
    """Answers ``iso20022_h2h`` requests for one :class:`~walletlink.testing.MockBank`.

    ``client_keys`` are the wallets' public keys the bank trusts (by key id); without them
    the server makes one ed25519 pair and hands its private half to clients through
    :meth:`client_config_fields`, as :class:`MockBank` hands out a test API key.
    ``pain001_schema`` is the path of the pain.001.001.09 XSD: when given and ``xmlschema``
    is installed, uploads are also validated against it (see :mod:`._h2h_files`).
    """

    def __init__(
        self,
        bank: MockBank,
        *,
        client_keys: Sequence[SigningKey] = (),
        pain001_schema: str | Path | None = None,
        debtor_name: str = "Wallet Ltd",
    ) -> None:
        self.bank = bank
        self.client_key: SigningKey | None = None
        if not client_keys:
            self.client_key = generate_ed25519_key("wallet-h2h")
            client_keys = (self.client_key,)
        self.debtor_name = debtor_name
        self._keys = KeyRing.of(*(key.public() for key in client_keys))
        self.validator = PaymentFileValidator(pain001_schema)
        self._lock = threading.Lock()
        self._files: dict[str, PaymentFile] = {}
        self._payment_blocks: dict[str, str] = {}  # PmtInfId → id of the file that used it
        # MsgId → file id. A year, not a day: banks keep MsgIds for duplicate checks.
        self._uploads: IdempotencyStore[str] = IdempotencyStore(bank.clock.now)
        self._uploads.ttl = self._uploads.ttl * 365
        self._counters: dict[str, int] = {}
        self._routes: Sequence[tuple[str, re.Pattern[str], Callable[..., MockResponse]]] = (
            ("POST", re.compile(r"/h2h/v1/payment-files"), self._upload),
            ("GET", re.compile(r"/h2h/v1/payment-files"), self._find),
            ("GET", re.compile(r"/h2h/v1/payment-files/([^/]+)"), self._file),
            ("GET", re.compile(r"/h2h/v1/payment-files/([^/]+)/status-report"), self._report),
            ("GET", re.compile(r"/h2h/v1/statements"), self._statement),
            ("GET", re.compile(r"/h2h/v1/accounts/([^/]+)/balances"), self._balances),
        )

    # -- what clients need ------------------------------------------------------------------

    def trust(self, key: SigningKey) -> None:
        """Register one more wallet public key (only the public half is kept)."""
        with self._lock:
            self._keys = self._keys.add(key.public())

    def client_config_fields(self) -> dict[str, Any]:
        """Credentials and options a client of this bank needs (see :meth:`MockBank.config`)."""
        credentials = {"signing_key": self.client_key} if self.client_key else {}
        return {"credentials": credentials, "options": {"debtor_name": self.debtor_name}}

    def files(self) -> list[PaymentFile]:
        """Every accepted payment file, oldest first."""
        with self._lock:
            return list(self._files.values())

    # -- the ProtocolServer interface -------------------------------------------------------

    def handle(self, request: MockRequest) -> MockResponse:
        try:
            self._authenticate(request)
            response = self._route(request)
        except _Fail as failure:
            response = failure.response
        return response.with_headers(Request_Id=self._next("req"))

    def fault_response(self, kind: FaultKind, retry_after: int) -> MockResponse:
        if kind is FaultKind.RATE_LIMIT:
            failure = _error(429, "rate_limited", "too many requests", Retry_After=str(retry_after))
        elif kind is FaultKind.UNAVAILABLE:
            failure = _error(503, "unavailable", "temporarily unavailable")
        else:
            failure = _error(500, "internal_error", "internal error")
        return failure.response.with_headers(Request_Id=self._next("req"))

    def webhooks_for(self, transfer: BankTransferView) -> list[OutgoingWebhook]:
        # Host-to-host is pull only: status reports and camt.054 are downloaded, not pushed.
        return []

    # -- plumbing ---------------------------------------------------------------------------

    def _next(self, kind: str) -> str:
        with self._lock:
            self._counters[kind] = self._counters.get(kind, 0) + 1
            return f"{kind}_{self._counters[kind]:06d}"

    def _authenticate(self, request: MockRequest) -> None:
        """RFC 9421 over method, authority, path, query (and Content-Digest for a body)."""
        required = _REQUEST_COMPONENTS + (("content-digest",) if request.body else ())
        with self._lock:
            keys = self._keys
        verifier = Rfc9421Verifier(
            keys=keys, required_components=required, clock=self.bank.clock.now
        )
        message = HttpMessage(
            method=request.method,
            url=request.url,
            headers=tuple(request.headers.items()),
            body=request.body,
        )
        try:
            verifier.verify(message)
        except SignatureMissingError as exc:
            raise _error(401, "signature_missing", exc.message) from None
        except DigestMismatchError as exc:
            raise _error(401, "digest_mismatch", exc.message) from None
        except (SignatureError, ParseError) as exc:
            raise _error(401, "signature_invalid", exc.message) from None

    def _route(self, request: MockRequest) -> MockResponse:
        try:
            (_, _, handler), args = find_route(self._routes, request)
        except NoRoute as missing:
            if missing.method_not_allowed:
                raise _error(
                    405, "method_not_allowed", f"{request.method} is not allowed here"
                ) from None
            raise _error(404, "not_found", "no such endpoint") from None
        return handler(request, *args)

    # -- uploads ----------------------------------------------------------------------------

    def _upload(self, request: MockRequest) -> MockResponse:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type not in (XML_TYPE, "text/xml"):
            raise _error(415, "unsupported_media_type", "upload a pain.001 as application/xml")
        try:
            document = self.validator.validate(request.body)
        except ParseError as exc:
            # FF01: the file cannot be read as a valid pain.001; nothing was executed.
            self.bank.count("h2h.invalid_files")
            report = self._rejection(self.validator.message_id_of(request.body), "FF01", exc)
            return _xml(400, report)
        fingerprint = hashlib.sha256(request.body).hexdigest()
        claim = self._uploads.begin(_SCOPE, document.message_id, fingerprint)
        if claim.state is ClaimState.MISMATCH:
            self.bank.count("h2h.duplicate_msg_ids")
            report = self._rejection(
                document.message_id, "DUPL", "a different file was sent with this MsgId"
            )
            return _xml(422, report)
        if claim.state is ClaimState.IN_FLIGHT:
            raise _error(409, "upload_in_progress", "this MsgId is being processed; retry")
        if claim.state is ClaimState.REPLAY:
            assert claim.response is not None
            self.bank.count("replays")
            return self._file_answer(200, self._lookup(claim.response), Idempotent_Replayed="true")
        try:
            accepted = self._execute(document)
        except BaseException:
            self._uploads.release(_SCOPE, document.message_id)
            raise
        self._uploads.complete(_SCOPE, document.message_id, accepted.id)
        return self._file_answer(201, accepted)

    def _file_answer(self, status: int, accepted: PaymentFile, **headers: str) -> MockResponse:
        location = f"/h2h/v1/payment-files/{quote(accepted.id, safe='')}"
        return _xml(status, self._status_report(accepted), Location=location, **headers)

    def _execute(self, document: Pain001Document) -> PaymentFile:
        file_id = self._next("pf")
        now = self.bank.clock.now()
        with self._lock:
            # A PmtInfId is unique per customer: one reused from another file is a duplicate.
            reused = {
                block for block in document.payment_information_ids if block in self._payment_blocks
            }
            for block in document.payment_information_ids:
                self._payment_blocks.setdefault(block, file_id)
        transactions = tuple(
            self._submit(tx, document.message_id, file_id, now, reused)
            for tx in document.transactions
        )
        accepted = PaymentFile(
            id=file_id, message_id=document.message_id, received_at=now, transactions=transactions
        )
        with self._lock:
            self._files[file_id] = accepted
        self.bank.count("h2h.files")
        return accepted

    def _submit(
        self,
        tx: Pain001Transaction,
        message_id: str,
        file_id: str,
        now: datetime,
        reused: set[str],
    ) -> FileTransaction:
        base = FileTransaction(
            payment_information_id=tx.payment_information_id,
            instruction_id=tx.instruction_id,
            end_to_end_id=tx.end_to_end_id,
        )
        if tx.payment_information_id in reused:
            return attrs.evolve(
                base, rejection=Reason(ReasonCode.DUPLICATE, "DUPL", "PmtInfId used before")
            )
        metadata = {
            "msg_id": message_id,
            "pmt_inf_id": tx.payment_information_id,
            "file_id": file_id,
        }
        if tx.instruction_id is not None:
            metadata["instr_id"] = tx.instruction_id
        instruction = TransferInstruction(
            amount=tx.amount,
            debtor_account=tx.debtor_account,
            creditor_name=tx.creditor.name,
            creditor_account=tx.creditor.account,
            creditor_agent=tx.creditor.agent.value if tx.creditor.agent else None,
            creditor_country=tx.creditor.country,
            remittance=tx.remittance or "",
            end_to_end_id=tx.end_to_end_id or "NOTPROVIDED",
            metadata=metadata,
        )
        try:
            transfer = self.bank.ledger.submit(instruction, now)
        except AccountNotFoundError:
            return attrs.evolve(
                base,
                rejection=Reason(
                    ReasonCode.INVALID_ACCOUNT, "AC01", "debtor account not held here"
                ),
            )
        except CurrencyMismatchError:
            return attrs.evolve(
                base,
                rejection=Reason(
                    ReasonCode.INVALID_AMOUNT, "AM03", "currency not held on the debtor account"
                ),
            )
        return attrs.evolve(base, transfer_id=transfer.id)

    # -- status reports ---------------------------------------------------------------------

    def _rejection(self, message_id: str | None, code: str, detail: object) -> bytes:
        text = detail.message if isinstance(detail, ParseError) else str(detail)
        reason = Reason(ReasonCode.OTHER, code, text[:210])
        report = StatusReport(
            message_id=self._next("sts"),
            created_at=self.bank.clock.now(),
            original_message_id=(message_id or "NOTPROVIDED")[:35],
            raw_group_status="RJCT",
            group_status=TransferStatus.REJECTED,
            group_reasons=(reason,),
        )
        return write_pain002(report)

    def _tx_status(self, tx: FileTransaction) -> tuple[str, tuple[Reason, ...]]:
        if tx.rejection is not None or tx.transfer_id is None:
            return "RJCT", (tx.rejection,) if tx.rejection else ()
        transfer = self.bank.ledger.transfer(tx.transfer_id)
        code = _TX_STATUS[transfer.status]
        if transfer.reason is None or code == "ACSC":
            return code, ()
        raw = _REASON_CODES.get(transfer.reason, "NARR")
        return code, (Reason(transfer.reason, raw, transfer.reason_message),)

    def _status_report(self, accepted: PaymentFile) -> bytes:
        """A pain.002 of the file as the ledger has it now."""
        blocks: dict[str, list[TransactionStatus]] = {}
        for tx in accepted.transactions:
            code, reasons = self._tx_status(tx)
            blocks.setdefault(tx.payment_information_id, []).append(
                TransactionStatus(
                    original_end_to_end_id=tx.end_to_end_id,
                    original_instruction_id=tx.instruction_id,
                    raw_status=code,
                    reasons=reasons,
                    status_id=tx.transfer_id,
                )
            )
        payments = tuple(
            PaymentStatus(
                original_payment_information_id=block,
                raw_status=_overall([t.raw_status or "" for t in txs]),
                transactions=tuple(txs),
            )
            for block, txs in blocks.items()
        )
        every = [tx.raw_status or "" for p in payments for tx in p.transactions]
        report = StatusReport(
            message_id=self._next("sts"),
            created_at=self.bank.clock.now(),
            original_message_id=accepted.message_id,
            raw_group_status=_overall(every),
            payments=payments,
        )
        return write_pain002(report)

    def _lookup(self, file_id: str) -> PaymentFile:
        with self._lock:
            found = self._files.get(file_id)
        if found is None:
            raise _error(404, "file_not_found", "no such payment file")
        return found

    def _file(self, request: MockRequest, file_id: str) -> MockResponse:
        return MockResponse.json(200, self._lookup(file_id).summary())

    def _report(self, request: MockRequest, file_id: str) -> MockResponse:
        return _xml(200, self._status_report(self._lookup(file_id)))

    def _find(self, request: MockRequest) -> MockResponse:
        filters = {name: request.param(name) for name in ("msg_id", "end_to_end_id", "instr_id")}
        if not any(filters.values()):
            raise _error(400, "parameter_missing", "give msg_id, end_to_end_id or instr_id")
        found = [
            accepted.summary()
            for accepted in self.files()
            if _matches(accepted, filters["msg_id"], filters["end_to_end_id"], filters["instr_id"])
        ]
        return MockResponse.json(200, {"data": found})

    # -- statements -------------------------------------------------------------------------

    def _statement(self, request: MockRequest) -> MockResponse:
        account = request.param("account")
        day_text = request.param("date")
        kind = request.param("type") or "camt.053"
        if not account or not day_text:
            raise _error(400, "parameter_missing", "account and date are required")
        if kind not in ("camt.053", "camt.054", "mt940"):
            raise _error(400, "parameter_invalid", "type is camt.053, camt.054 or mt940")
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            raise _error(400, "parameter_invalid", "date is YYYY-MM-DD") from None
        if day > self.bank.clock.now().date():
            raise _error(404, "statement_not_available", "no statement for a future day")
        return self._camt(account, day, kind)

    def _balances(self, request: MockRequest, account: str) -> MockResponse:
        return self._camt(account, self.bank.clock.now().date(), "camt.053")

    def _camt(self, account: str, day: date, kind: str) -> MockResponse:
        try:
            body = statement_document(self.bank, account, day, kind, self._next(kind[:4]))
        except AccountNotFoundError:
            raise _error(404, "account_not_found", "no such account") from None
        if kind == "mt940":
            # Latin-1 is what MT940 files travel in; CRLF line ends come from the writer.
            return MockResponse(
                status=200, headers={"Content-Type": "text/plain; charset=iso-8859-1"}, body=body
            )
        return _xml(200, body)


def _overall(codes: Sequence[str]) -> str | None:
    """One code for a block or a file: the common one, ``PART`` when only some were
    rejected, nothing when its transactions differ otherwise (each speaks for itself)."""
    if codes and all(code == codes[0] for code in codes):
        return codes[0]
    if "RJCT" in codes:
        return "PART"
    return None


def _matches(
    accepted: PaymentFile, msg_id: str | None, end_to_end_id: str | None, instr_id: str | None
) -> bool:
    if msg_id is not None and accepted.message_id != msg_id:
        return False
    return any(
        (end_to_end_id is None or tx.end_to_end_id == end_to_end_id)
        and (instr_id is None or tx.instruction_id == instr_id)
        for tx in accepted.transactions
    )


# -- validating uploads ---------------------------------------------------------------------

_MAX35: Final = r"[^\n]{1,35}"
_MAX140: Final = r"[^\n]{1,140}"
#: Element → the XSD facet its text must match (pain.001.001.09 simple types).
_TEXT_RULES: Final[dict[str, str]] = {
    "MsgId": _MAX35,
    "PmtInfId": _MAX35,
    "InstrId": _MAX35,
    "EndToEndId": _MAX35,
    "Nm": _MAX140,
    "Ustrd": r"[\s\S]{1,140}",
    "NbOfTxs": r"[0-9]{1,15}",
    "PmtMtd": r"TRF|CHK|TRA",
    "ChrgBr": r"DEBT|CRED|SHAR|SLEV",
    "IBAN": r"[A-Z]{2}[0-9]{2}[a-zA-Z0-9]{1,30}",
    "BICFI": r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?",
    "CtrlSum": r"[0-9]{1,18}(\.[0-9]{1,17})?",
    "InstdAmt": r"[0-9]{1,18}(\.[0-9]{1,5})?",
}
#: Element → the children the XSD requires of it.
_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "GrpHdr": ("MsgId", "CreDtTm", "NbOfTxs", "InitgPty"),
    "PmtInf": ("PmtInfId", "PmtMtd", "ReqdExctnDt", "Dbtr", "DbtrAcct", "DbtrAgt", "CdtTrfTxInf"),
    "CdtTrfTxInf": ("PmtId", "Amt"),
    "PmtId": ("EndToEndId",),
}


def _check_rules(root: Any) -> None:
    """The schema facts that matter to a bank, checked without the XSD."""
    for parent, names in _REQUIRED.items():
        for elem in root.iter(parent):
            for name in names:
                if elem.find(name) is None:
                    raise ParseError(f"missing required element {name}", position=parent)
    for name, pattern in _TEXT_RULES.items():
        for elem in root.iter(name):
            text = (elem.text or "").strip()
            if not re.fullmatch(pattern, text):
                raise ParseError(f"{name} breaks its schema type: {text[:40]!r}", position=name)
            if name in ("InstdAmt", "CtrlSum") and sum(ch.isdigit() for ch in text) > 18:
                raise ParseError(f"{name} has more than 18 digits", position=name)
    for elem in root.iter("InstdAmt"):
        if not re.fullmatch(r"[A-Z]{3}", elem.get("Ccy", "")):
            raise ParseError("InstdAmt needs a Ccy of three capital letters", position="InstdAmt")


@functools.cache
def _xsd(path: str) -> Any:
    """The compiled XSD (compiling takes a while: once per path), or ``None`` without
    ``xmlschema`` (a runtime install: the structural checks still run)."""
    try:
        xmlschema = importlib.import_module("xmlschema")
    except ImportError:
        return None
    return xmlschema.XMLSchema(path)


class PaymentFileValidator:
    """Decides whether an upload is a valid pain.001.001.09.

    Always: the strict reader of :mod:`walletlink.formats.pain001` (safe XML, no DTD or
    entities; NbOfTxs and CtrlSum consistent; accounts, BICs and amounts well formed) and the
    schema rules above (required elements, lengths, patterns). When ``schema`` names the XSD
    and ``xmlschema`` is installed, the document is also validated against the XSD; the
    hostile-input checks run first, so the XSD validator only sees a document already parsed
    safely.
    """

    def __init__(self, schema: str | Path | None = None) -> None:
        self._schema: Any = None if schema is None else _xsd(str(schema))

    @property
    def uses_xsd(self) -> bool:
        return self._schema is not None

    def validate(self, body: bytes) -> Pain001Document:
        """The parsed document; an invalid file is a :class:`ParseError` naming the problem."""
        namespace, root = parse_tree(body)
        if namespace != PAIN001_NAMESPACE:
            raise ParseError(
                f"not a pain.001.001.09 document ({namespace[:80]!r})", position="Document"
            )
        _check_rules(root)
        document = parse_pain001(body)
        if self._schema is not None:
            defused = importlib.import_module("defusedxml.ElementTree")
            error = next(iter(self._schema.iter_errors(defused.fromstring(body))), None)
            if error is not None:
                raise ParseError(f"XSD: {str(error.reason)[:160]}", position=str(error.path)[:80])
        return document

    def message_id_of(self, body: bytes) -> str | None:
        """The MsgId of a file that failed validation, when one can still be read."""
        try:
            _, root = parse_tree(body)
        except ParseError:
            return None
        return text_of(root, "CstmrCdtTrfInitn/GrpHdr/MsgId")


# -- statements from the ledger -------------------------------------------------------------


def _signed(entry: LedgerEntry) -> Money:
    return entry.amount if entry.direction is Direction.CREDIT else -entry.amount


def _transaction(bank: MockBank, entry: LedgerEntry, day: date) -> Transaction:
    instruction = bank.ledger.transfer(entry.transfer_id).instruction
    debit = entry.direction is Direction.DEBIT
    other = entry.counterparty_account
    return Transaction(
        amount=entry.amount,
        direction=entry.direction,
        status=BookingStatus.BOOKED,
        transaction_id=entry.id,
        booking_date=day,
        value_date=day,
        end_to_end_id=None if entry.end_to_end_id == "NOTPROVIDED" else entry.end_to_end_id,
        instruction_id=instruction.metadata.get("instr_id"),
        bank_reference=entry.transfer_id,
        counterparty_name=entry.counterparty_name,
        counterparty_account=other.value if other is not None else None,
        remittance=entry.remittance or None,
        type_code="PMNT/ICDT/ESCT" if debit else "PMNT/RCDT/ESCT",
    )


def statement_document(
    bank: MockBank, account: str, day: date, kind: str, message_id: str
) -> bytes:
    """The camt.053 statement (camt.054 notification, MT940 statement) of ``account`` for
    ``day``, by ``kind``.

    Booked entries of that day (UTC) only; the opening balance is today's booked balance
    minus everything booked since the start of ``day``, so every statement balances. The
    statement of the current day also carries the interim available balance (ITAV).
    Raises :class:`AccountNotFoundError` for an account the bank does not hold.
    """
    view = bank.ledger.account(account)
    entries = bank.ledger.entries(account)
    now = bank.clock.now()
    since = [e for e in entries if e.booked_at.astimezone(UTC).date() >= day]
    todays = [e for e in since if e.booked_at.astimezone(UTC).date() == day]
    opening = view.booked - sum((_signed(e) for e in since), Money.zero(view.currency))
    closing = opening + sum((_signed(e) for e in todays), Money.zero(view.currency))
    balances = [
        Balance(account=view.account, amount=opening, type=BalanceType.OPENING_BOOKED, as_of=day),
        Balance(account=view.account, amount=closing, type=BalanceType.CLOSING_BOOKED, as_of=day),
    ]
    if day == now.astimezone(UTC).date():
        balances.append(
            Balance(
                account=view.account,
                amount=view.available,
                type=BalanceType.INTERIM_AVAILABLE,
                as_of=now,
            )
        )
    statement = Statement(
        header=StatementHeader(
            format=kind,
            statement_id=f"STMT-{day:%Y%m%d}-{view.account.value[-4:]}",
            account=view.account,
            currency=view.currency,
            created_at=now,
            sequence_number=str(day.toordinal()),
            from_date=day,
            to_date=day,
        ),
        balances=tuple(balances),
        entries=tuple(_transaction(bank, entry, day) for entry in todays),
    )
    if kind == "camt.054":
        return write_camt054([statement], message_id=message_id, created_at=now)
    if kind == "mt940":
        return write_mt940([statement], envelope=True).encode("latin-1", errors="replace")
    document = write_camt053([statement], message_id=message_id, created_at=now)
    assert document is not None  # no ``out`` given: the writer returns the bytes
    return document
