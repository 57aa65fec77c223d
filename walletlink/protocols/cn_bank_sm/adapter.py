"""The ``cn_bank_sm`` adapter: Chinese bank open platforms that sign with SM2 and encrypt with SM4.

Every call is one ``POST`` of a JSON envelope (app id, timestamp, nonce, SM4-encrypted
business content) signed with ``SM3withSM2``; every reply is an envelope signed by the
bank, verified before anything in it is read. Field names, the signature's place and form,
the cipher and the timestamp style differ between banks: :mod:`._wire` names them in a
profile, and the ``cib`` and ``cmb`` presets are documented in ``docs/cn_bank_sm.md``.

This module only translates. The client sends, retries and journals.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any, Final

import attrs

from walletlink._crosscheck import check_echo
from walletlink.accounts import AccountId, LocalAccount
from walletlink.adapters._wire import (
    declined,
    mapped_status,
    parse_time,
    retry_after_seconds,
    text_field,
)
from walletlink.adapters.base import Adapter, Flow, Page, TransferRef
from walletlink.config import BankConfig
from walletlink.errors import (
    AuthenticationError,
    BankRejectedError,
    BankUnavailableError,
    ConfigurationError,
    IdempotencyMismatchError,
    ProtocolError,
    RateLimitedError,
    SignatureExpiredError,
    SignatureMismatchError,
    ValidationError,
    WalletLinkError,
)
from walletlink.http import PreparedRequest, RawResponse
from walletlink.models import (
    Balance,
    BalanceType,
    Capability,
    Direction,
    Event,
    Reason,
    ReasonCode,
    Transaction,
    Transfer,
    TransferRequest,
    TransferStatus,
)
from walletlink.money import Money
from walletlink.protocols.cn_bank_sm._wire import (
    Profile,
    decrypt_biz,
    encrypt_biz,
    format_time,
    new_nonce,
    open_envelope,
    profile_from,
    seal,
)
from walletlink.protocols.cn_bank_sm._wire import (
    parse_time as parse_envelope_time,
)
from walletlink.signing.sm import DEFAULT_USER_ID, Sm2PrivateKey, Sm2PublicKey

__all__ = [
    "CURRENCY",
    "REASON_MAP",
    "STATUS_MAP",
    "CnBankSmAdapter",
    "load_private_key",
    "load_public_key",
]

CURRENCY: Final = "CNY"

#: The gateway's transfer ``status`` → walletlink status; anything else is UNKNOWN.
STATUS_MAP: Final[Mapping[str, TransferStatus]] = {
    "ACCEPTED": TransferStatus.PENDING,
    "PROCESSING": TransferStatus.PROCESSING,
    "SUCCESS": TransferStatus.SETTLED,
    "FAILED": TransferStatus.REJECTED,
    "REFUNDED": TransferStatus.RETURNED,
    "CLOSED": TransferStatus.CANCELLED,
}

#: Business result codes that refuse one transfer (a REJECTED value, not an exception).
REASON_MAP: Final[Mapping[str, ReasonCode]] = {
    "INSUFFICIENT_BALANCE": ReasonCode.INSUFFICIENT_FUNDS,
    "PAYEE_NOT_FOUND": ReasonCode.ACCOUNT_UNKNOWN,
    "PAYEE_NAME_MISMATCH": ReasonCode.INVALID_CREDITOR,
    "ACCOUNT_FROZEN": ReasonCode.ACCOUNT_BLOCKED,
    "PAYER_NOT_FOUND": ReasonCode.INVALID_ACCOUNT,
    "LIMIT_EXCEEDED": ReasonCode.LIMIT_EXCEEDED,
}
# The gateway refused the caller itself: nothing was executed.
_AUTH_CODES: Final = frozenset({"SIGN_ERROR", "APP_NOT_FOUND", "TIMESTAMP_EXPIRED", "NONCE_USED"})
_BUSY: Final = "SYSTEM_BUSY"  # outcome unknown: look up by outBizNo, never resend anew
_MISMATCH: Final = "DUPLICATE_OUT_BIZ_NO"  # the key was used with other parameters
_NOT_FOUND: Final = "ORDER_NOT_FOUND"
_KEY: Final = re.compile(r"[0-9A-Za-z_-]{1,64}")
_CN_ACCOUNT: Final = re.compile(r"[0-9]{8,32}")
_YUAN: Final = re.compile(r"(0|[1-9][0-9]{0,12})\.[0-9]{2}")


def load_private_key(value: object, bank_id: str) -> Sm2PrivateKey:
    """An SM2 private key from a key object, PEM (PKCS#8 or SEC1) or 64 hex digits."""
    try:
        if isinstance(value, Sm2PrivateKey):
            return value
        if isinstance(value, bytes):
            value = value.decode("ascii")
        if isinstance(value, str):
            if "-----BEGIN" in value:
                return Sm2PrivateKey.from_pem(value)
            return Sm2PrivateKey.from_hex(value)
    except (ValidationError, UnicodeDecodeError):
        raise ConfigurationError("app_private_key is not an SM2 key", bank_id=bank_id) from None
    raise ConfigurationError("app_private_key must be PEM or hex text", bank_id=bank_id)


def load_public_key(value: object, bank_id: str) -> Sm2PublicKey:
    """An SM2 public key from a key object, PEM (SubjectPublicKeyInfo) or hex ``04‖x‖y``."""
    try:
        if isinstance(value, Sm2PublicKey):
            return value
        if isinstance(value, bytes):
            value = value.decode("ascii")
        if isinstance(value, str):
            if "-----BEGIN" in value:
                return Sm2PublicKey.from_pem(value)
            return Sm2PublicKey.from_hex(value)
    except (ValidationError, UnicodeDecodeError):
        raise ConfigurationError("bank_public_key is not an SM2 key", bank_id=bank_id) from None
    raise ConfigurationError("bank_public_key must be PEM or hex text", bank_id=bank_id)


@attrs.frozen(kw_only=True, repr=False)
class _Settings:
    app_id: str
    profile: Profile
    app_key: Sm2PrivateKey
    bank_key: Sm2PublicKey
    sm4_key: bytes
    user_id: bytes
    bank_user_id: bytes
    tolerance: timedelta
    page_size: int


def _settings(config: BankConfig) -> _Settings:
    bank_id = config.bank_id
    app_id = config.option("app_id")
    if not isinstance(app_id, str) or not 0 < len(app_id) <= 64:
        raise ConfigurationError("options need 'app_id' (1 to 64 characters)", bank_id=bank_id)
    credentials = config.credentials
    sm4_hex = credentials.require("sm4_key", bank_id)
    try:
        sm4_key = bytes.fromhex(str(sm4_hex))
    except ValueError:
        sm4_key = b""
    if len(sm4_key) != 16:
        raise ConfigurationError("sm4_key is 32 hex digits (16 bytes)", bank_id=bank_id)
    page_size = config.option("page_size", 50)
    if not isinstance(page_size, int) or not 1 <= page_size <= 500:
        raise ConfigurationError("option 'page_size' is 1 to 500", bank_id=bank_id)
    return _Settings(
        app_id=app_id,
        profile=profile_from(config.option("profile", "cib"), config.option("profile_overrides")),
        app_key=load_private_key(credentials.require("app_private_key", bank_id), bank_id),
        bank_key=load_public_key(credentials.require("bank_public_key", bank_id), bank_id),
        sm4_key=sm4_key,
        user_id=str(config.option("user_id", DEFAULT_USER_ID.decode())).encode(),
        bank_user_id=str(config.option("bank_user_id", DEFAULT_USER_ID.decode())).encode(),
        tolerance=timedelta(seconds=float(config.option("timestamp_tolerance", 300))),
        page_size=page_size,
    )


@attrs.frozen(kw_only=True)
class _Reply:
    code: str
    message: str
    biz: Mapping[str, Any]


def _yuan(value: object, what: str) -> Money:
    if not isinstance(value, str) or not _YUAN.fullmatch(value):
        raise ProtocolError(f"{what} is not a yuan amount with two decimals")
    return Money(value, CURRENCY)


def _account(account: AccountId, what: str) -> str:
    if not isinstance(account, LocalAccount) or not _CN_ACCOUNT.fullmatch(account.value):
        raise ValidationError(f"the {what} must be a Chinese bank account number (8-32 digits)")
    return account.value


def map_reason(code: str | None, message: str = "") -> Reason:
    standard = REASON_MAP.get(code or "", ReasonCode.OTHER)
    return Reason(code=standard, raw_code=code or None, message=message)


class CnBankSmAdapter(Adapter):
    """SM2-signed, SM4-encrypted JSON bank gateway (CIB-style and CMB-style presets)."""

    protocol = "cn_bank_sm"
    capabilities = frozenset(
        {Capability.PAYMENTS, Capability.ACCOUNT_INFORMATION, Capability.NOTIFICATIONS}
    )

    def __init__(self, config: BankConfig) -> None:
        super().__init__(config)
        self._settings = _settings(config)

    def validate(self, request: TransferRequest) -> None:
        """Yuan only, Chinese account numbers on both sides, the idempotency key as an
        ``outBizNo`` (1-64 of ``[0-9A-Za-z_-]``): the transfer content, built as a dry run."""
        super().validate(request)
        self._transfer_biz(request)

    # -- envelopes ----------------------------------------------------------------------------

    def _request(self, operation: str, biz: Mapping[str, Any], path_key: str) -> PreparedRequest:
        """The envelope without timestamp, nonce and signature: :meth:`signer` adds them on
        every attempt (the gateway refuses a stale timestamp and a reused nonce). A retry is
        still safe for a transfer: the gateway deduplicates on ``outBizNo``, and the
        encrypted content is the same bytes every time."""
        settings, profile = self._settings, self._settings.profile
        fields = {
            profile.app_id_field: settings.app_id,
            profile.biz_field: encrypt_biz(profile, settings.sm4_key, biz),
        }
        return PreparedRequest(
            method="POST",
            path=profile.paths[path_key],
            headers={"Accept": "application/json"},
            body=json.dumps(fields, separators=(",", ":")).encode(),
            idempotent=True,
            operation=operation,
        )

    def signer(self) -> _EnvelopeSigner:
        return _EnvelopeSigner(self)

    def _sign(self, request: PreparedRequest, now: datetime) -> PreparedRequest:
        settings, profile = self._settings, self._settings.profile
        fields: dict[str, str] = json.loads(request.body or b"{}")
        fields[profile.timestamp_field] = format_time(profile, now)
        fields[profile.nonce_field] = new_nonce()
        headers, body = seal(profile, fields, settings.app_key, settings.user_id)
        return attrs.evolve(request, headers={**request.headers, **headers}, body=body)

    def response_verifier(self) -> _ReplyVerifier:
        return _ReplyVerifier(self)

    def _verify(self, response: RawResponse, now: datetime) -> None:
        """Every 2xx reply, before the flow reads it: the bank's signature, our app id, and a
        timestamp inside the window (a reply recorded earlier cannot be played back)."""
        fields = self._open(response.headers, response.body)
        profile = self._settings.profile
        sent = parse_envelope_time(profile, fields.get(profile.timestamp_field, ""))
        if abs(now - sent) > self._settings.tolerance:
            raise SignatureExpiredError("the reply's timestamp is outside the window")

    def _open(self, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        settings = self._settings
        fields = open_envelope(
            settings.profile, headers, body, settings.bank_key, settings.bank_user_id
        )
        if fields.get(settings.profile.app_id_field) != settings.app_id:
            raise SignatureMismatchError("the message is signed for another app id")
        return fields

    def _call(self, operation: str, biz: Mapping[str, Any], path_key: str) -> Flow[_Reply]:
        response = yield self._request(operation, biz, path_key)
        # The client ran response_verifier on these exact bytes; the fields are re-read, not
        # re-verified, from the same body.
        fields: dict[str, str] = json.loads(response.body)
        profile = self._settings.profile
        content = fields.get(profile.biz_field)
        reply = _Reply(
            code=fields.get(profile.code_field, ""),
            message=fields.get(profile.message_field, ""),
            biz=decrypt_biz(profile, self._settings.sm4_key, content) if content else {},
        )
        if reply.code == profile.success_code or reply.code in REASON_MAP:
            return reply
        if reply.code == _NOT_FOUND and operation == "get_transfer":
            return reply
        raise self._gateway_error(reply)

    def _gateway_error(self, reply: _Reply) -> WalletLinkError:
        context: dict[str, Any] = {"bank_id": self.config.bank_id}
        detail = f"gateway {reply.code}: {reply.message}"[:200]
        if reply.code == _BUSY:
            # HTTP 200 hides it from the retry policy: a read fails, and a transfer is
            # journalled UNKNOWN and looked up again under the same outBizNo.
            return BankUnavailableError(detail, **context)
        if reply.code in _AUTH_CODES:
            return AuthenticationError(detail, **context)
        if reply.code == _MISMATCH:
            return IdempotencyMismatchError(
                "the gateway holds another transfer under this outBizNo", **context
            )
        if reply.code == "PARAM_ERROR" or reply.code in REASON_MAP:
            # A refusal code outside a transfer (a frozen account's balance, say) refuses
            # the call itself.
            code = REASON_MAP.get(reply.code, ReasonCode.OTHER)
            return BankRejectedError(detail, code=code, raw_code=reply.code, **context)
        return ProtocolError(f"unknown gateway code {reply.code[:40]!r}", **context)

    def error_for(self, response: RawResponse) -> Exception | None:
        """Non-2xx replies come from the gateway's front end, unsigned."""
        context: dict[str, Any] = {"bank_id": self.config.bank_id, "http_status": response.status}
        if response.status == 429:
            retry_after = response.header("Retry-After")
            seconds = retry_after_seconds(retry_after)
            return RateLimitedError("the gateway is rate limiting", retry_after=seconds, **context)
        if response.status >= 500:
            return BankUnavailableError(f"the gateway answered HTTP {response.status}", **context)
        if response.status in (401, 403):
            return AuthenticationError(f"the gateway answered HTTP {response.status}", **context)
        return BankRejectedError(f"the gateway answered HTTP {response.status}", **context)

    # -- payments -----------------------------------------------------------------------------

    def _transfer_biz(self, request: TransferRequest) -> dict[str, Any]:
        if request.amount.currency != CURRENCY:
            raise ValidationError(f"the gateway moves {CURRENCY} only")
        if not _KEY.fullmatch(request.idempotency_key):
            raise ValidationError("the idempotency key must be 1-64 of [0-9A-Za-z_-] (outBizNo)")
        biz: dict[str, Any] = {
            "outBizNo": request.idempotency_key,
            "amount": request.amount.to_decimal_string(),
            "currency": CURRENCY,
            "payerAccount": _account(request.debtor_account, "debtor account"),
            "payeeAccount": _account(request.creditor.account, "creditor account"),
            "payeeName": request.creditor.name,
        }
        if request.remittance:
            biz["remark"] = request.remittance
        return biz

    def create_transfer(self, request: TransferRequest, transfer_id: str) -> Flow[Transfer]:
        reply = yield from self._call(
            "create_transfer", self._transfer_biz(request), "create_transfer"
        )
        if reply.code in REASON_MAP:
            # The gateway refused this transfer: a value, not an exception.
            return declined(
                request,
                transfer_id=transfer_id,
                bank_id=self.config.bank_id,
                reason=map_reason(reply.code, reply.message),
            )
        return self._transfer(reply.biz, request, transfer_id)

    def get_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer]:
        found = yield from self._query(ref, request)
        if found is None:
            raise BankRejectedError(
                "the gateway has no transfer under this outBizNo",
                code=ReasonCode.ACCOUNT_UNKNOWN,
                raw_code=_NOT_FOUND,
                bank_id=self.config.bank_id,
            )
        return found

    def find_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer | None]:
        """After an unknown outcome: ask by the same ``outBizNo``, never a new one."""
        return (yield from self._query(ref, request))

    def _query(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer | None]:
        biz: dict[str, Any] = {"outBizNo": ref.idempotency_key or request.idempotency_key}
        if ref.bank_transfer_id:
            biz["orderNo"] = ref.bank_transfer_id
        reply = yield from self._call("get_transfer", biz, "query_transfer")
        if reply.code == _NOT_FOUND:
            return None
        if reply.code in REASON_MAP:
            raise self._gateway_error(reply)
        return self._transfer(reply.biz, request, ref.transfer_id)

    def _transfer(
        self, biz: Mapping[str, Any], request: TransferRequest, transfer_id: str
    ) -> Transfer:
        amount = _yuan(biz.get("amount"), "amount")
        # outBizNo is our idempotency key: a reply naming another is about another order.
        check_echo(
            request,
            bank_id=self.config.bank_id,
            idempotency_key=text_field(biz, "outBizNo"),
            amount=amount,
        )
        status = mapped_status(STATUS_MAP, biz.get("status"))
        reason = None
        if status is TransferStatus.REJECTED:
            reason = map_reason(biz.get("failCode"), str(biz.get("failReason", "")))
        return Transfer(
            id=transfer_id,
            bank_id=self.config.bank_id,
            bank_transfer_id=text_field(biz, "orderNo"),
            end_to_end_id=request.end_to_end_id,
            idempotency_key=request.idempotency_key,
            amount=amount,
            status=status,
            reason=reason,
            updated_at=parse_time(biz.get("finishTime")),
        )

    # -- account information ------------------------------------------------------------------

    def balances(self, account: AccountId) -> Flow[list[Balance]]:
        number = _account(account, "account")
        reply = yield from self._call("balances", {"accountNo": number}, "balance")
        if reply.code != self._settings.profile.success_code:
            raise self._gateway_error(reply)
        biz = reply.biz
        return [
            Balance(
                account=account,
                amount=_yuan(biz.get("availableBalance"), "availableBalance"),
                type=BalanceType.INTERIM_AVAILABLE,
            ),
            Balance(
                account=account,
                amount=_yuan(biz.get("ledgerBalance"), "ledgerBalance"),
                type=BalanceType.INTERIM_BOOKED,
            ),
        ]

    def transactions_page(
        self, account: AccountId, date_from: date, date_to: date, cursor: str | None
    ) -> Flow[Page[Transaction]]:
        page_no = int(cursor) if cursor and cursor.isdigit() else 1
        size = self._settings.page_size
        biz = {
            "accountNo": _account(account, "account"),
            "startDate": date_from.strftime("%Y%m%d"),
            "endDate": date_to.strftime("%Y%m%d"),
            "pageNo": str(page_no),
            "pageSize": str(size),
        }
        reply = yield from self._call("transactions", biz, "transactions")
        if reply.code != self._settings.profile.success_code:
            raise self._gateway_error(reply)
        records = reply.biz.get("records") or []
        total = reply.biz.get("total", "0")
        if not isinstance(records, list) or not isinstance(total, str) or not total.isdigit():
            raise ProtocolError("a transactions page needs 'records' and a numeric 'total'")
        items = tuple(self._transaction(item, account) for item in records)
        more = page_no * size < int(total) and bool(items)
        return Page(items=items, next_cursor=str(page_no + 1) if more else None)

    def _transaction(self, item: object, account: AccountId) -> Transaction:
        if not isinstance(item, dict):
            raise ProtocolError("a transaction record must be an object")
        direction = {"D": Direction.DEBIT, "C": Direction.CREDIT}.get(str(item.get("direction")))
        if direction is None:
            raise ProtocolError("a transaction record has no known direction")
        booked = _date(item.get("bookingDate"))
        return Transaction(
            transaction_id=text_field(item, "serialNo"),
            account=account,
            amount=_yuan(item.get("amount"), "amount"),
            direction=direction,
            booking_date=booked,
            value_date=_date(item.get("valueDate")) or booked,
            end_to_end_id=item.get("outBizNo") or None,
            bank_reference=item.get("orderNo") or None,
            counterparty_account=item.get("counterpartyAccount") or None,
            counterparty_name=item.get("counterpartyName") or None,
            remittance=item.get("remark") or None,
        )

    # -- notifications ------------------------------------------------------------------------

    def parse_notification(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Event:
        """Verify the bank's signature and our app id over the raw bytes, then decrypt.

        The timestamp is not held to the reply window: the gateway re-delivers a message
        with its original bytes, and the client drops duplicates by ``notifyId``."""
        fields = self._open(headers, body)
        profile = self._settings.profile
        biz = decrypt_biz(profile, self._settings.sm4_key, fields.get(profile.biz_field, ""))
        notify_id = biz.get("notifyId")
        if not isinstance(notify_id, str) or not notify_id:
            raise ProtocolError("the notification has no notifyId")
        kind = str(biz.get("notifyType") or "unknown")
        event = Event(
            id=notify_id,
            bank_id=self.config.bank_id,
            type=kind,
            occurred_at=parse_time(biz.get("finishTime")),
            data={k: v for k, v in biz.items() if isinstance(v, str)},
        )
        if kind != "TRANSFER_STATUS":
            return event
        status = mapped_status(STATUS_MAP, biz.get("status"))
        reason = None
        if status is TransferStatus.REJECTED:
            reason = map_reason(biz.get("failCode"), str(biz.get("failReason", "")))
        return attrs.evolve(
            event,
            bank_transfer_id=text_field(biz, "orderNo"),
            idempotency_key=text_field(biz, "outBizNo"),
            status=status,
            reason=reason,
            amount=_yuan(biz.get("amount"), "amount"),
        )

    def notification_ack(self, event: Event) -> tuple[int, Mapping[str, str], bytes]:
        profile = self._settings.profile
        return 200, {"Content-Type": profile.ack_content_type}, profile.ack_body


def _date(value: object) -> date | None:
    if not value:
        return None
    if not isinstance(value, str) or len(value) != 8 or not value.isdigit():
        raise ProtocolError("a date must be yyyyMMdd")
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise ProtocolError("a date must be yyyyMMdd") from None


@attrs.frozen
class _EnvelopeSigner:
    """The client's per-attempt hook: fresh timestamp and nonce, then the SM2 signature."""

    adapter: CnBankSmAdapter

    def __call__(self, request: PreparedRequest, url: str, now: datetime) -> PreparedRequest:
        return self.adapter._sign(request, now)


@attrs.frozen
class _ReplyVerifier:
    adapter: CnBankSmAdapter

    def __call__(self, response: RawResponse, now: datetime) -> None:
        self.adapter._verify(response, now)
