"""The ``iso20022_h2h`` adapter: ISO 20022 files over a bank's host-to-host HTTPS API.

Payments go up as one pain.001.001.09 file per call (a batch is one file), signed with RFC 9421
over a ``Content-Digest``; their fate comes back as pain.002 status reports; balances and
booked entries come down as camt.053 (camt.054 on request). The wire surface is in
``docs/iso20022_h2h.md``. Like every adapter this module only translates: the client sends,
signs (through :meth:`Iso20022H2HAdapter.signer`), retries and journals.

Idempotency is the file's own identity: ``MsgId`` (and the ``PmtInfId`` derived from it)
is a hash of the transfers' idempotency keys and ``CreDtTm`` is the time the intents were
journalled, so sending the same intents again sends the same bytes, which the bank
recognises as the file it already has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

import attrs

from walletlink._crosscheck import disagreement
from walletlink.accounts import AccountId, Bic
from walletlink.adapters._wire import list_of, retry_after_seconds, text_field
from walletlink.adapters.base import Adapter, Flow, Page, RequestSigner, TransferRef
from walletlink.config import BankConfig
from walletlink.errors import (
    AuthenticationError,
    BankRejectedError,
    BankUnavailableError,
    ConfigurationError,
    IdempotencyMismatchError,
    ProtocolError,
    RateLimitedError,
    ValidationError,
    WalletLinkError,
)
from walletlink.formats import (
    FileFormat,
    Statement,
    StatusReport,
    build_pain001,
    detect_format,
    parse_camt,
    parse_pain002,
)
from walletlink.formats.pain002 import REASON_CODES
from walletlink.http import PreparedRequest, RawResponse
from walletlink.models import (
    Balance,
    Capability,
    ReasonCode,
    Transaction,
    Transfer,
    TransferRequest,
)
from walletlink.signing.keys import KeyType, SigningKey
from walletlink.signing.rfc9421 import Rfc9421Signer

__all__ = [
    "FILES_PATH",
    "STATEMENTS_PATH",
    "Iso20022H2HAdapter",
    "instruction_id_for",
    "message_id_for",
]

FILES_PATH: Final = "/h2h/v1/payment-files"
STATEMENTS_PATH: Final = "/h2h/v1/statements"
ACCOUNTS_PATH: Final = "/h2h/v1/accounts"
XML_TYPE: Final = "application/xml"
STATEMENT_KINDS: Final = frozenset(
    {FileFormat.CAMT053.value, FileFormat.CAMT054.value, FileFormat.MT940.value}
)
# Any fixed time does for a dry run of the file: nothing the builder checks depends on it.
_DRY_RUN_TIME: Final = datetime(2000, 1, 1, tzinfo=UTC)
#: Signature algorithms an H2H upload may use (``BankConfig.credentials["signing_key"]``).
_KEY_ALGORITHMS: Final = {KeyType.ED25519: "ed25519", KeyType.RSA: "rsa-pss-sha512"}


def _digest(kind: str, parts: Sequence[str]) -> str:
    # Length-prefixed parts: ("ab", "c") and ("a", "bc") must not hash alike.
    hasher = hashlib.sha256(kind.encode())
    for part in parts:
        data = part.encode()
        hasher.update(len(data).to_bytes(8, "big"))
        hasher.update(data)
    return hasher.hexdigest()


def message_id_for(idempotency_keys: Sequence[str]) -> str:
    """The pain.001 ``MsgId`` of a file holding these transfers, in this order (35 chars).

    Derived, never random: a re-send after a crash or a lost reply carries the same MsgId,
    which is what the bank deduplicates on.
    """
    return "WLM" + _digest("msg", idempotency_keys)[:32]


def instruction_id_for(idempotency_key: str) -> str:
    """The ``InstrId`` of one transfer (35 chars), unique per idempotency key: together with
    the EndToEndId it finds a transfer at the bank whatever file carried it."""
    return "WLI" + _digest("instr", (idempotency_key,))[:32]


def _intent_time(moment: datetime) -> datetime:
    # ISODateTime in the file: whole seconds, UTC, so every re-send writes the same text.
    if moment.tzinfo is None:
        raise ValidationError("the intent time must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0)


def _signing_key(config: BankConfig) -> SigningKey:
    key = config.credentials.require("signing_key", config.bank_id)
    if not isinstance(key, SigningKey) or not key.can_sign:
        raise ConfigurationError(
            "credentials['signing_key'] must be a walletlink SigningKey with its private key",
            bank_id=config.bank_id,
        )
    wanted = _KEY_ALGORITHMS.get(key.key_type)
    if wanted is None or (key.alg is not None and key.alg != wanted):
        raise ConfigurationError(
            "H2H uploads are signed with ed25519 or rsa-pss-sha512 keys only",
            bank_id=config.bank_id,
        )
    return key


def _option_text(config: BankConfig, name: str, *, required: bool) -> str | None:
    value = config.option(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 140:
        raise ConfigurationError(
            f"options[{name!r}] must be a name of 1 to 140 characters", bank_id=config.bank_id
        )
    return value


def _debtor_agent(config: BankConfig) -> Bic | None:
    value = config.option("debtor_agent")
    if value is None:
        return None
    try:
        return Bic(str(value))
    except WalletLinkError:
        raise ConfigurationError(
            "options['debtor_agent'] must be a BIC", bank_id=config.bank_id
        ) from None


def _check_batch(requests: Sequence[TransferRequest], transfer_ids: Sequence[str]) -> None:
    if not requests:
        raise ValidationError("a payment file needs at least one transfer")
    if len(requests) != len(transfer_ids):
        raise ValidationError("one transfer id per transfer request")
    # The status report answers per EndToEndId: two alike in one file could not be told apart.
    if len({r.end_to_end_id for r in requests}) != len(requests):
        raise ValidationError("end-to-end ids must be unique within one payment file")
    if len({r.idempotency_key for r in requests}) != len(requests):
        raise ValidationError("idempotency keys must be unique within one payment file")


class Iso20022H2HAdapter(Adapter):
    """pain.001 uploads signed with RFC 9421, pain.002 status reports, camt.053/054 downloads.

    Credentials: ``signing_key`` (a :class:`~walletlink.signing.SigningKey`, ed25519 or RSA;
    the bank holds its public half under the same key id). Options: ``debtor_name``
    (required, the ``Dbtr/Nm`` of every file), ``debtor_agent`` (the debtor bank's BIC) and
    ``initiating_party`` (``InitgPty/Nm``, default the debtor name).
    """

    protocol = "iso20022_h2h"
    capabilities = frozenset(
        {
            Capability.PAYMENTS,
            Capability.BATCH_PAYMENTS,
            Capability.ACCOUNT_INFORMATION,
            Capability.STATEMENTS,
        }
    )

    def __init__(self, config: BankConfig) -> None:
        super().__init__(config)
        key = _signing_key(config)
        self._signer = Rfc9421Signer(
            keys=key,
            components=("@method", "@authority", "@path", "@query"),
            optional_components=("content-type", "content-digest"),
            content_digest=("sha-256",),
        )
        debtor_name = _option_text(config, "debtor_name", required=True)
        assert debtor_name is not None  # required=True never returns None
        self._debtor_name = debtor_name
        self._initiating_party = _option_text(config, "initiating_party", required=False)
        self._debtor_agent = _debtor_agent(config)
        # Opt-in: spell accented Latin in names and remittance in the SEPA set (é → e).
        self._transliterate = config.option("transliterate", False) is True

    request_id_headers = ("Request-Id", "X-Request-ID")

    def signer(self) -> RequestSigner:
        return self._signer

    # -- payments ---------------------------------------------------------------------------

    def validate(self, request: TransferRequest) -> None:
        """The pain.001 of this transfer, built as a dry run: whatever the file builder would
        refuse is refused before the intent is journalled."""
        super().validate(request)
        self.payment_file([request], _DRY_RUN_TIME)

    def validate_batch(self, requests: Sequence[TransferRequest]) -> None:
        """Each transfer, then the whole file as a dry run (end-to-end ids unique in it)."""
        super().validate_batch(requests)
        _check_batch(requests, [r.idempotency_key for r in requests])
        self.payment_file(requests, _DRY_RUN_TIME)

    def payment_file(
        self, requests: Sequence[TransferRequest], created_at: datetime
    ) -> tuple[str, bytes]:
        """The ``(MsgId, pain.001 bytes)`` for these transfers: the same input, the same bytes."""
        moment = _intent_time(created_at)
        message_id = message_id_for([r.idempotency_key for r in requests])
        # InstrId is ours to set (see instruction_id_for); the caller's request is unchanged.
        tagged = [
            attrs.evolve(
                r,
                metadata={**r.metadata, "instruction_id": instruction_id_for(r.idempotency_key)},
            )
            for r in requests
        ]
        document = build_pain001(
            tagged,
            message_id=message_id,
            debtor_name=self._debtor_name,
            created_at=moment,
            execution_date=moment.date(),
            debtor_agent=self._debtor_agent,
            initiating_party=self._initiating_party,
            transliterate=self._transliterate,
        )
        return message_id, document

    def create_transfers(
        self,
        requests: Sequence[TransferRequest],
        transfer_ids: Sequence[str],
        created_at: datetime,
    ) -> Flow[list[Transfer]]:
        _check_batch(requests, transfer_ids)
        message_id, document = self.payment_file(requests, created_at)
        response = yield PreparedRequest(
            method="POST",
            path=FILES_PATH,
            headers={"Content-Type": XML_TYPE, "Accept": XML_TYPE},
            body=document,
            # The bank deduplicates on MsgId: re-sending these exact bytes is safe.
            idempotent=True,
            operation="upload_payment_file",
        )
        file_id = self._file_id(response)
        report = self._report(response)
        if report.original_message_id != message_id:
            raise ProtocolError(
                "the status report answers another file", bank_id=self.config.bank_id
            )
        return [
            self._transfer(report, file_id, request, transfer_id)
            for request, transfer_id in zip(requests, transfer_ids, strict=True)
        ]

    def create_transfer(
        self, request: TransferRequest, transfer_id: str, created_at: datetime | None = None
    ) -> Flow[Transfer]:
        """One transfer as a one-transaction file.

        The client calls :meth:`create_transfers` with the journalled intent time instead;
        called directly without ``created_at``, a re-send is a different file.
        """
        moment = created_at if created_at is not None else datetime.now(UTC)
        transfers = yield from self.create_transfers([request], [transfer_id], moment)
        return transfers[0]

    def get_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer]:
        if ref.bank_transfer_id is None:
            found = yield from self.find_transfer(ref, request)
            if found is None:
                raise BankRejectedError(
                    "the bank holds no payment file with this transfer",
                    code=ReasonCode.ACCOUNT_UNKNOWN,
                    bank_id=self.config.bank_id,
                )
            return found
        report = yield from self._status_report(ref.bank_transfer_id)
        return self._transfer(report, ref.bank_transfer_id, request, ref.transfer_id)

    def find_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer | None]:
        key = ref.idempotency_key or request.idempotency_key
        response = yield PreparedRequest(
            method="GET",
            path=FILES_PATH,
            params=(
                ("end_to_end_id", ref.end_to_end_id or request.end_to_end_id),
                ("instr_id", instruction_id_for(key)),
            ),
            headers={"Accept": "application/json"},
            idempotent=True,
            operation="find_payment_file",
        )
        files = list_of(response.json_object(), "data")
        if len(files) > 1:
            raise ProtocolError(
                "the bank lists several files for one transfer", bank_id=self.config.bank_id
            )
        if not files:
            return None
        file_id = text_field(files[0], "id")
        report = yield from self._status_report(file_id)
        return self._transfer(report, file_id, request, ref.transfer_id)

    def _status_report(self, file_id: str) -> Flow[StatusReport]:
        response = yield PreparedRequest(
            method="GET",
            path=f"{FILES_PATH}/{quote(file_id, safe='')}/status-report",
            headers={"Accept": XML_TYPE},
            idempotent=True,
            operation="status_report",
        )
        return self._report(response)

    def _file_id(self, response: RawResponse) -> str:
        location = response.header("Location") or ""
        prefix = FILES_PATH + "/"
        file_id = location.rsplit(prefix, 1)[-1] if prefix in location else ""
        if not file_id or "/" in file_id:
            raise ProtocolError(
                "the upload reply has no Location of the payment file",
                bank_id=self.config.bank_id,
                http_status=response.status,
            )
        return file_id

    def _report(self, response: RawResponse) -> StatusReport:
        try:
            return parse_pain002(response.body)
        except ProtocolError as exc:
            raise ProtocolError(
                f"unreadable status report: {exc.message}",
                bank_id=self.config.bank_id,
                http_status=response.status,
            ) from None

    def _transfer(
        self, report: StatusReport, file_id: str, request: TransferRequest, transfer_id: str
    ) -> Transfer:
        # InstrId is derived from the idempotency key: a report naming another is about
        # another transfer that happens to share the end-to-end id.
        expected = instruction_id_for(request.idempotency_key)
        for _, tx in report.transactions():
            if tx.original_end_to_end_id != request.end_to_end_id:
                continue
            if tx.original_instruction_id not in (None, expected):
                raise disagreement(
                    "idempotency key (InstrId)", "status report", self.config.bank_id
                )
        # A code nobody mapped is UNKNOWN (looked up again later), never REJECTED.
        status, reason = report.status_of(request.end_to_end_id)
        return Transfer(
            id=transfer_id,
            bank_id=self.config.bank_id,
            bank_transfer_id=file_id,
            end_to_end_id=request.end_to_end_id,
            idempotency_key=request.idempotency_key,
            amount=request.amount,
            status=status,
            reason=reason,
            updated_at=report.created_at,
        )

    # -- account information and statements -------------------------------------------------

    def statement(
        self, account: AccountId, day: date, kind: str = FileFormat.CAMT053.value
    ) -> Flow[bytes]:
        """The raw camt.053 statement of ``account`` for ``day``; ``kind="camt.054"`` for the
        debit/credit notification, ``kind="mt940"`` for the same statement as MT940."""
        if kind not in STATEMENT_KINDS:
            raise ValidationError(f"kind must be one of {', '.join(sorted(STATEMENT_KINDS))}")
        response = yield self._statement_request(account, day, kind, accept=())
        self._check_kind(response, kind)
        return response.body

    def balances(self, account: AccountId) -> Flow[list[Balance]]:
        response = yield PreparedRequest(
            method="GET",
            path=f"{ACCOUNTS_PATH}/{quote(account.value, safe='')}/balances",
            headers={"Accept": XML_TYPE},
            idempotent=True,
            operation="balances",
            sensitive=(account.value,),
        )
        self._check_kind(response, FileFormat.CAMT053.value)
        statements = self._camt(response)
        return [
            attrs.evolve(balance, account=account)
            for statement in statements
            for balance in statement.balances
        ]

    def transactions_page(
        self, account: AccountId, date_from: date, date_to: date, cursor: str | None
    ) -> Flow[Page[Transaction]]:
        """One day's camt.053 per page; the cursor is the next day to fetch."""
        day = date_from if cursor is None else _cursor_day(cursor)
        response = yield self._statement_request(
            account, day, FileFormat.CAMT053.value, accept=(404,)
        )
        following = day + timedelta(days=1)
        next_cursor = following.isoformat() if following <= date_to else None
        if response.status == 404:
            # No statement for that day (not yet produced): an empty page, not an error.
            return Page(items=(), next_cursor=next_cursor)
        self._check_kind(response, FileFormat.CAMT053.value)
        items = tuple(
            attrs.evolve(entry, account=account)
            for statement in self._camt(response)
            for entry in statement.entries
        )
        return Page(items=items, next_cursor=next_cursor)

    def _statement_request(
        self, account: AccountId, day: date, kind: str, *, accept: tuple[int, ...]
    ) -> PreparedRequest:
        return PreparedRequest(
            method="GET",
            path=STATEMENTS_PATH,
            params=(("account", account.value), ("date", day.isoformat()), ("type", kind)),
            headers={"Accept": XML_TYPE},
            idempotent=True,
            operation="statement",
            accept_status=frozenset(accept),
            sensitive=(account.value,),
        )

    def _check_kind(self, response: RawResponse, kind: str) -> None:
        try:
            found = detect_format(response.body).value
        except ProtocolError:
            found = "nothing readable"
        if found != kind:
            raise ProtocolError(
                f"expected a {kind} document, got {found}",
                bank_id=self.config.bank_id,
                http_status=response.status,
            )

    def _camt(self, response: RawResponse) -> list[Statement]:
        try:
            return parse_camt(response.body)
        except ProtocolError as exc:
            raise ProtocolError(
                f"unreadable statement: {exc.message}", bank_id=self.config.bank_id
            ) from None

    # -- errors -----------------------------------------------------------------------------

    def error_for(self, response: RawResponse) -> Exception | None:
        context: dict[str, Any] = {
            "bank_id": self.config.bank_id,
            "http_status": response.status,
            "request_id": response.header("Request-Id"),
        }
        code, message = self._error_detail(response)
        if response.status in (401, 403):
            return AuthenticationError(f"the bank refused the signed request: {message}", **context)
        if response.status == 422 and code == "DUPL":
            return IdempotencyMismatchError(
                "the bank holds a different payment file under this MsgId", **context
            )
        if response.status == 429:
            retry_after = response.header("Retry-After")
            seconds = retry_after_seconds(retry_after)
            return RateLimitedError("the bank is rate limiting", retry_after=seconds, **context)
        if response.status >= 500:
            return BankUnavailableError(f"the bank failed: {message}", **context)
        standard = REASON_CODES.get(code or "", ReasonCode.OTHER)
        return BankRejectedError(message, code=standard.value, raw_code=code, **context)

    def _error_detail(self, response: RawResponse) -> tuple[str | None, str]:
        """The bank's code and message: from a pain.002 rejection, or a JSON error object."""
        fallback = f"HTTP {response.status}"
        if response.body.lstrip().startswith(b"<"):
            try:
                report = parse_pain002(response.body)
            except ProtocolError:
                return None, fallback
            reasons = report.group_reasons or tuple(
                reason for _, tx in report.transactions() for reason in tx.reasons
            )
            if not reasons:
                return None, fallback
            return reasons[0].raw_code, reasons[0].message or fallback
        try:
            body = response.json()
        except ProtocolError:
            return None, fallback  # the status alone still classifies the failure
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return None, fallback
        code = error.get("code")
        return (str(code) if code else None), str(error.get("message") or fallback)


def _cursor_day(cursor: str) -> date:
    try:
        return date.fromisoformat(cursor)
    except ValueError:
        raise ProtocolError("not a statement cursor this adapter issued") from None
