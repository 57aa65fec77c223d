"""The ``cn_openapi`` adapter: the Alipay open-platform gateway and the Chinese bank open
platforms built in its image.

Every call is one ``POST`` to a single gateway URL carrying the public parameters
(``app_id``, ``method``, ``format``, ``charset``, ``sign_type``, ``timestamp``, ``version``,
``notify_url``) and the business parameters as JSON in ``biz_content``, optionally
AES-encrypted. The reply is ``{"<method>_response": {...}, "sign": "..."}`` with HTTP 200
whatever happened: the gateway's ``code``/``sub_code`` inside the node say whether it worked.
The wire format and the mapping tables are in ``docs/cn_openapi.md``; the signing rules are
:mod:`walletlink.signing.params`, used as they are.

This module only translates. The client sends, retries and journals.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

import attrs

from walletlink._crosscheck import check_echo
from walletlink.accounts import AccountId, LocalAccount
from walletlink.adapters._wire import declined, mapped_status, retry_after_seconds, text_field
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
from walletlink.protocols.cn_openapi._keys import gateway_keys
from walletlink.signing.params import (
    CHINA_TZ,
    china_timestamp,
    decrypt_content,
    encrypt_content,
    parse_china_timestamp,
    sign_params,
    verify_notification_form,
    verify_sync_response,
)

__all__ = [
    "CURRENCY",
    "GATEWAY_ERRORS",
    "METHODS",
    "REASON_MAP",
    "STATUS_MAP",
    "CnOpenApiAdapter",
    "identity_type",
    "map_reason",
    "map_status",
    "out_biz_no",
]

#: The gateway moves yuan only.
CURRENCY: Final = "CNY"

#: The gateway methods this adapter calls, by operation.
METHODS: Final[Mapping[str, str]] = {
    "create_transfer": "alipay.fund.trans.uni.transfer",
    "query_transfer": "alipay.fund.trans.common.query",
    "balances": "alipay.fund.account.query",
    "transactions": "alipay.data.bill.accountlog.query",
}
NOTIFY_METHOD: Final = "alipay.fund.trans.order.changed"

#: Transfer ``status`` (uni.transfer, common.query, order.changed) → walletlink status.
#: Anything else is UNKNOWN: looked up again later, never written off.
STATUS_MAP: Final[Mapping[str, TransferStatus]] = {
    "SUCCESS": TransferStatus.SETTLED,
    "DEALING": TransferStatus.PROCESSING,
    "WAIT_PAY": TransferStatus.PROCESSING,
    "FAIL": TransferStatus.REJECTED,
    "REFUND": TransferStatus.RETURNED,
    "CLOSED": TransferStatus.CANCELLED,
}

#: Business ``sub_code`` / ``error_code`` → standard reason; ``Reason.raw_code`` keeps it.
REASON_MAP: Final[Mapping[str, ReasonCode]] = {
    "PAYER_BALANCE_NOT_ENOUGH": ReasonCode.INSUFFICIENT_FUNDS,
    "BALANCE_IS_NOT_ENOUGH": ReasonCode.INSUFFICIENT_FUNDS,
    "PAYEE_NOT_EXIST": ReasonCode.ACCOUNT_UNKNOWN,
    "PAYEE_USERINFO_ERROR": ReasonCode.INVALID_CREDITOR,
    "PAYEE_ACCOUNT_STATUS_ERROR": ReasonCode.ACCOUNT_BLOCKED,
    "PAYEE_CARD_INFO_ERROR": ReasonCode.INVALID_ACCOUNT,
    "PAYER_STATUS_ERROR": ReasonCode.ACCOUNT_BLOCKED,
    "PAYER_NOT_EXIST": ReasonCode.ACCOUNT_UNKNOWN,
    "EXCEED_LIMIT_SM_MIN_AMOUNT": ReasonCode.INVALID_AMOUNT,
    "PERMIT_CHECK_PERM_LIMITED": ReasonCode.REGULATORY,
    "PERMIT_CHECK_PERM_IDENTITY_THEFT": ReasonCode.REGULATORY,
}
# Every other EXCEED_LIMIT_* (per-transfer, daily, monthly, unverified-payee limits).
_LIMIT_PREFIX: Final = "EXCEED_LIMIT_"

#: Gateway ``code`` → what it means for us (business failures, 40004, depend on the call).
GATEWAY_ERRORS: Final[Mapping[str, str]] = {
    "10000": "success",
    "20000": "BankUnavailableError (a transfer's outcome is then unknown: resolved by query)",
    "20001": "AuthenticationError",
    "40001": "BankRejectedError (missing parameter)",
    "40002": "BankRejectedError; AuthenticationError for a bad signature or app_id",
    "40004": "business failure: a REJECTED transfer, or the call's own meaning",
    "40006": "BankRejectedError (the app lacks the permission)",
}
_AUTH_SUB_CODES: Final = frozenset(
    {"isv.invalid-signature", "isv.invalid-app-id", "isv.missing-signature"}
)
# 40004 sub_codes that say "the outcome is not known yet": query, never resend anew.
_UNKNOWN_SUB_CODES: Final = frozenset({"SYSTEM_ERROR", "ACQ.SYSTEM_ERROR", "isp.unknow-error"})
# The same out_biz_no was used with other parameters (the acquiring API's name for it).
_MISMATCH_SUB_CODES: Final = frozenset({"ACQ.CONTEXT_INCONSISTENT"})
_ORDER_NOT_FOUND: Final = frozenset({"ORDER_NOT_EXIST", "ACQ.TRADE_NOT_EXIST"})

_OUT_BIZ_NO: Final = re.compile(r"[0-9A-Za-z_\-]{1,64}")
_YUAN: Final = re.compile(r"(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?")
_USER_ID: Final = re.compile(r"2088[0-9]{12}")
_IDENTITY_TYPES: Final[Mapping[str, str]] = {
    "alipay_user_id": "ALIPAY_USER_ID",
    "alipay_logon_id": "ALIPAY_LOGON_ID",
    "alipay_open_id": "ALIPAY_OPEN_ID",
    "bank_card": "BANKCARD_ACCOUNT",
}
_PAGE_SIZE: Final = 100
# The account log writes the direction in Chinese: income and expense.
_DIRECTIONS: Final[Mapping[str, Direction]] = {"收入": Direction.CREDIT, "支出": Direction.DEBIT}
_FORM: Final = "application/x-www-form-urlencoded;charset=utf-8"


def map_status(raw: object) -> TransferStatus:
    """A gateway transfer status nobody mapped is UNKNOWN, never REJECTED."""
    return mapped_status(STATUS_MAP, raw)


def map_reason(code: str | None, message: str = "") -> Reason:
    """A business failure code as a :class:`Reason` that keeps the raw code."""
    raw = code or ""
    standard = REASON_MAP.get(raw)
    if standard is None:
        standard = ReasonCode.LIMIT_EXCEEDED if raw.startswith(_LIMIT_PREFIX) else ReasonCode.OTHER
    return Reason(code=standard, raw_code=code or None, message=message)


# -- configuration ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _Settings:
    """What the adapter reads from the BankConfig once, at construction."""

    app_id: str
    path: str
    json_body: bool
    notify_url: str | None
    product_code: str
    biz_scene: str
    order_title: str
    aes_key: str | None
    encrypt: bool
    allow_legacy_rsa: bool
    # ISV mode: the merchant's token for every call, and per-merchant tokens by name.
    app_auth_token: str | None = attrs.field(repr=False)
    app_auth_tokens: Mapping[str, str] = attrs.field(repr=False)


def _tokens(config: BankConfig) -> tuple[str | None, dict[str, str]]:
    bank_id = config.bank_id
    token = config.credentials.get("app_auth_token")
    tokens = config.credentials.get("app_auth_tokens", {})
    if token is not None and (not isinstance(token, str) or not 0 < len(token) <= 128):
        raise ConfigurationError("app_auth_token is the 1-128 character token", bank_id=bank_id)
    if not isinstance(tokens, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and 0 < len(v) <= 128 for k, v in tokens.items()
    ):
        raise ConfigurationError(
            "app_auth_tokens maps a merchant name to its 1-128 character token", bank_id=bank_id
        )
    return token, dict(tokens)


def _settings(config: BankConfig) -> _Settings:
    bank_id = config.bank_id
    app_id = config.option("app_id") or config.credentials.get("app_id")
    if not isinstance(app_id, str) or not 0 < len(app_id) <= 32:
        raise ConfigurationError("options need 'app_id' (1 to 32 characters)", bank_id=bank_id)
    body_format = config.option("format", "form")
    if body_format not in ("form", "json"):
        raise ConfigurationError("option 'format' is 'form' or 'json'", bank_id=bank_id)
    aes_key = config.credentials.get("aes_key")
    if aes_key is not None:
        if not isinstance(aes_key, str):
            raise ConfigurationError("aes_key is the base64 text from the console", bank_id=bank_id)
        encrypt_content("probe", aes_key)  # a bad key fails now, not on the first payment
    encrypt = bool(config.option("encrypt", aes_key is not None))
    if encrypt and aes_key is None:
        raise ConfigurationError("option 'encrypt' needs credentials 'aes_key'", bank_id=bank_id)
    token, tokens = _tokens(config)
    return _Settings(
        app_auth_token=token,
        app_auth_tokens=tokens,
        app_id=app_id,
        path=str(config.option("gateway_path", "/gateway.do")),
        json_body=body_format == "json",
        notify_url=config.option("notify_url"),
        product_code=str(config.option("product_code", "TRANS_ACCOUNT_NO_PWD")),
        biz_scene=str(config.option("biz_scene", "DIRECT_TRANSFER")),
        order_title=str(config.option("order_title", "walletlink transfer")),
        aes_key=aes_key,
        encrypt=encrypt,
        allow_legacy_rsa=bool(config.option("allow_legacy_rsa", False)),
    )


# -- parsing helpers ----------------------------------------------------------------------------


def _yuan(value: object, what: str) -> Money:
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
    if text is None or not _YUAN.fullmatch(text):
        raise ProtocolError(f"{what} is not a yuan amount")
    return Money(text, CURRENCY)


def _china_time(value: object) -> datetime | None:
    if not value:
        return None
    try:
        moment = parse_china_timestamp(str(value))
        # 0001-01-01 00:00:00 in China time is before datetime.min in UTC: refuse it here,
        # not with an OverflowError when the journal stores it.
        moment.astimezone(UTC)
    except (WalletLinkError, OverflowError):
        raise ProtocolError("malformed yyyy-MM-dd HH:mm:ss time in the reply") from None
    return moment


def identity_type(account: AccountId) -> str:
    """The gateway ``identity_type`` of an account (``LocalAccount.scheme`` says which)."""
    if isinstance(account, LocalAccount) and account.scheme in _IDENTITY_TYPES:
        return _IDENTITY_TYPES[account.scheme]
    if isinstance(account, LocalAccount) and account.scheme == "local":
        return "ALIPAY_USER_ID" if _USER_ID.fullmatch(account.value) else "ALIPAY_LOGON_ID"
    raise ValidationError("the gateway pays Alipay user ids, logon ids and bank cards only")


def out_biz_no(request: TransferRequest) -> str:
    """The gateway's idempotency key: our idempotency key, checked against its rules."""
    key = request.idempotency_key
    if not _OUT_BIZ_NO.fullmatch(key):
        raise ValidationError("the idempotency key must be 1-64 of [0-9A-Za-z_-] for out_biz_no")
    return key


@attrs.frozen(kw_only=True)
class _Reply:
    """A verified, decrypted response node and its gateway code."""

    code: str
    sub_code: str | None
    message: str
    node: Mapping[str, Any]

    @property
    def ok(self) -> bool:
        return self.code == "10000"


class CnOpenApiAdapter(Adapter):
    """Alipay-style gateway: RSA2 sorted-parameter signing, optional AES, signed replies."""

    protocol = "cn_openapi"
    capabilities = frozenset(
        {Capability.PAYMENTS, Capability.ACCOUNT_INFORMATION, Capability.NOTIFICATIONS}
    )

    def __init__(self, config: BankConfig) -> None:
        super().__init__(config)
        self._settings = _settings(config)
        self._keys = gateway_keys(config)
        self._app_key = self._keys.app_key

    def validate(self, request: TransferRequest) -> None:
        """Yuan only; payer and payee as Alipay ids, logon ids or bank cards; the key as an
        ``out_biz_no`` (1-64 of ``[0-9A-Za-z_-]``): the transfer body, built as a dry run."""
        super().validate(request)
        self._transfer_biz(request)
        self._token(request)

    def _token(self, request: TransferRequest | None) -> str | None:
        """The ``app_auth_token`` to send (ISV mode).

        The request's merchant (``metadata["app_auth_merchant"]``, a name in
        ``credentials["app_auth_tokens"]``: the token itself never enters the journal), else
        the bank's ``app_auth_token``, else none (the app acts for itself)."""
        merchant = request.metadata.get("app_auth_merchant") if request is not None else None
        if merchant is None:
            return self._settings.app_auth_token
        token = self._settings.app_auth_tokens.get(merchant)
        if token is None:
            raise ValidationError(
                "metadata 'app_auth_merchant' names no merchant in credentials 'app_auth_tokens'"
            )
        return token

    # -- requests ---------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        biz: Mapping[str, Any],
        operation: str,
        *,
        token: str | None = None,
        idempotent: bool = True,
    ) -> PreparedRequest:
        """The call with every parameter but ``timestamp``, ``sign_type`` and ``sign``.

        Those are added by :meth:`signer` for each attempt: the gateway refuses a timestamp
        outside its window, so a retry a minute later must carry a fresh one, and the
        signature covers it. Retrying is still safe for a transfer because the gateway
        deduplicates on ``out_biz_no`` inside ``biz_content``, not on the bytes.
        """
        settings = self._settings
        content = json.dumps(biz, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        params: dict[str, str] = {
            "app_id": settings.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "version": "1.0",
        }
        if settings.notify_url and operation == "create_transfer":
            params["notify_url"] = settings.notify_url
        if self._keys.app_cert_sn is not None and self._keys.root_cert_sn is not None:
            params["app_cert_sn"] = self._keys.app_cert_sn
            params["alipay_root_cert_sn"] = self._keys.root_cert_sn
        if token is not None:
            params["app_auth_token"] = token
        if settings.encrypt and settings.aes_key is not None:
            params["encrypt_type"] = "AES"
            content = encrypt_content(content, settings.aes_key)
        params["biz_content"] = content
        return PreparedRequest(
            method="POST",
            path=settings.path,
            headers={"Content-Type": self._content_type, "Accept": "application/json"},
            body=self._encode(params),
            idempotent=idempotent,
            operation=operation,
        )

    @property
    def _content_type(self) -> str:
        return "application/json;charset=utf-8" if self._settings.json_body else _FORM

    def _encode(self, params: Mapping[str, str]) -> bytes:
        if self._settings.json_body:
            return json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode()
        return urlencode(params).encode("ascii")

    def _decode(self, body: bytes) -> dict[str, str]:
        # Only ever our own bytes from _request, so a failure here is a bug, not input.
        if self._settings.json_body:
            decoded: dict[str, str] = json.loads(body)
            return decoded
        return dict(parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True))

    def signer(self) -> _GatewaySigner:
        return _GatewaySigner(self)

    def _sign(self, request: PreparedRequest, now: datetime) -> PreparedRequest:
        params: dict[str, object] = dict(self._decode(request.body or b""))
        params["timestamp"] = china_timestamp(now)
        signed = sign_params(params, self._app_key)
        return attrs.evolve(request, body=self._encode(signed))

    def _call(
        self,
        method: str,
        biz: Mapping[str, Any],
        operation: str,
        request: TransferRequest | None = None,
    ) -> Flow[_Reply]:
        response = yield self._request(method, biz, operation, token=self._token(request))
        return self._reply(response, method)

    # -- replies ------------------------------------------------------------------------------

    def _reply(self, response: RawResponse, method: str) -> _Reply:
        """Verify over the raw node text, decrypt, and raise for gateway-level failures.

        Verification happens here rather than in ``response_verifier``: it yields the very
        node it verified, so nothing parsed from an unverified copy can be used.
        """
        # Certificate mode: the reply's alipay_cert_sn picks the gateway certificate.
        verified = verify_sync_response(response.body, method, self._keys.gateway)
        node = verified.content
        if isinstance(node, str):
            node = self._decrypt(node)
        if not isinstance(node, dict):
            raise ProtocolError(f"the {verified.node} is not a JSON object")
        code = str(node.get("code", ""))
        reply = _Reply(
            code=code,
            sub_code=str(node["sub_code"]) if node.get("sub_code") else None,
            message=str(node.get("sub_msg") or node.get("msg") or ""),
            node=node,
        )
        if not verified.signed:
            # The gateway cannot sign for an app it does not know. An unsigned reply may say
            # why a call failed, but never decides the fate of money: a write stays unknown.
            if code == "20001" or reply.sub_code in _AUTH_SUB_CODES:
                raise AuthenticationError(f"the gateway refused the app: {reply.sub_code}")
            raise ProtocolError(f"unsigned gateway error {code} {reply.sub_code or ''}".strip())
        if reply.ok or code == "40004":
            return reply
        raise self._gateway_error(reply)

    def _decrypt(self, text: str) -> Any:
        if self._settings.aes_key is None:
            raise ProtocolError("the reply is encrypted but no aes_key is configured")
        try:
            return json.loads(decrypt_content(text, self._settings.aes_key))
        except ValueError:
            raise ProtocolError("the decrypted reply is not JSON") from None

    def _gateway_error(self, reply: _Reply) -> WalletLinkError:
        """A non-business gateway code as an exception of the error tree."""
        context: dict[str, Any] = {"bank_id": self.config.bank_id}
        detail = f"gateway {reply.code} {reply.sub_code or ''}: {reply.message}".strip()
        code, sub = reply.code, reply.sub_code or ""
        if code == "20000" or sub in _UNKNOWN_SUB_CODES:
            # HTTP 200, so the client's retry policy never sees it. The flow raises instead:
            # a read fails with BankUnavailableError, and for a transfer the client journals
            # it UNKNOWN and resolve_unknown() asks again by the same out_biz_no, which is
            # safe because the gateway deduplicates on it.
            return BankUnavailableError(detail, **context)
        if code == "20001" or sub in _AUTH_SUB_CODES:
            return AuthenticationError(detail, **context)
        if sub in _MISMATCH_SUB_CODES:
            return IdempotencyMismatchError(
                "the gateway holds another transfer under this out_biz_no", **context
            )
        if code in ("40001", "40002", "40004", "40006"):
            reason = ReasonCode.AUTHORISATION_FAILED if code == "40006" else ReasonCode.OTHER
            return BankRejectedError(detail, code=reason, raw_code=sub or code, **context)
        return ProtocolError(f"unknown gateway code {code!r}", **context)

    def error_for(self, response: RawResponse) -> Exception | None:
        """Non-2xx replies come from the gateway's front end, not the gateway itself."""
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
        creditor = request.creditor
        kind = identity_type(creditor.account)
        settings = self._settings
        biz: dict[str, Any] = {
            "out_biz_no": out_biz_no(request),
            "trans_amount": request.amount.to_decimal_string(),
            "product_code": "TRANS_BANKCARD_NO_PWD"
            if kind == "BANKCARD_ACCOUNT"
            else settings.product_code,
            "biz_scene": settings.biz_scene,
            "order_title": request.metadata.get("order_title", settings.order_title),
            "payee_info": {
                "identity": creditor.account.value,
                "identity_type": kind,
                "name": creditor.name,
            },
            "payer_info": {
                "identity": request.debtor_account.value,
                "identity_type": identity_type(request.debtor_account),
            },
        }
        if request.remittance:
            biz["remark"] = request.remittance
        return biz

    def create_transfer(self, request: TransferRequest, transfer_id: str) -> Flow[Transfer]:
        method = METHODS["create_transfer"]
        biz = self._transfer_biz(request)
        reply = yield from self._call(method, biz, "create_transfer", request)
        if reply.ok:
            return self._transfer(reply.node, request, transfer_id, amount=request.amount)
        if reply.sub_code in _UNKNOWN_SUB_CODES or reply.sub_code in _MISMATCH_SUB_CODES:
            raise self._gateway_error(reply)
        # A business failure: the gateway refused this transfer. A value, not an exception.
        return declined(
            request,
            transfer_id=transfer_id,
            bank_id=self.config.bank_id,
            reason=map_reason(reply.sub_code, reply.message),
        )

    def get_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer]:
        found = yield from self._query(ref, request)
        if found is None:
            raise BankRejectedError(
                "the gateway has no transfer under this out_biz_no",
                code=ReasonCode.ACCOUNT_UNKNOWN,
                raw_code="ORDER_NOT_EXIST",
                bank_id=self.config.bank_id,
            )
        return found

    def find_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer | None]:
        """After an unknown outcome: ask by the same ``out_biz_no``, never a new one."""
        return (yield from self._query(ref, request))

    def _query(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer | None]:
        biz: dict[str, Any] = {
            "out_biz_no": ref.idempotency_key or out_biz_no(request),
            "product_code": self._settings.product_code,
            "biz_scene": self._settings.biz_scene,
        }
        if ref.bank_transfer_id:
            biz["order_id"] = ref.bank_transfer_id
        reply = yield from self._call(METHODS["query_transfer"], biz, "get_transfer", request)
        if reply.ok:
            return self._transfer(reply.node, request, ref.transfer_id)
        if reply.sub_code in _ORDER_NOT_FOUND:
            return None
        raise self._gateway_error(reply)

    def _transfer(
        self,
        node: Mapping[str, Any],
        request: TransferRequest,
        transfer_id: str,
        *,
        amount: Money | None = None,
    ) -> Transfer:
        # out_biz_no is our idempotency key: a reply naming another is about another order.
        check_echo(
            request,
            bank_id=self.config.bank_id,
            idempotency_key=text_field(node, "out_biz_no"),
            amount=_yuan(node["trans_amount"], "trans_amount") if "trans_amount" in node else None,
        )
        if amount is None:
            amount = _yuan(node.get("trans_amount"), "trans_amount")
        status = map_status(node.get("status"))
        reason = None
        if status is TransferStatus.REJECTED:
            code = node.get("error_code") or node.get("sub_code")
            reason = map_reason(str(code) if code else None, str(node.get("fail_reason", "")))
        return Transfer(
            id=transfer_id,
            bank_id=self.config.bank_id,
            bank_transfer_id=text_field(node, "order_id"),
            end_to_end_id=request.end_to_end_id,
            idempotency_key=request.idempotency_key,
            amount=amount,
            status=status,
            reason=reason,
            updated_at=_china_time(node.get("pay_date") or node.get("trans_date")),
        )

    # -- account information ------------------------------------------------------------------

    def balances(self, account: AccountId) -> Flow[list[Balance]]:
        biz = {"alipay_user_id": account.value, "account_type": "ACCTRANS_ACCOUNT"}
        reply = yield from self._call(METHODS["balances"], biz, "balances")
        if not reply.ok:
            raise self._gateway_error(reply)
        available = _yuan(reply.node.get("available_amount"), "available_amount")
        frozen = _yuan(reply.node.get("freeze_amount", "0.00"), "freeze_amount")
        return [
            Balance(account=account, amount=available, type=BalanceType.INTERIM_AVAILABLE),
            Balance(account=account, amount=available + frozen, type=BalanceType.INTERIM_BOOKED),
        ]

    def transactions_page(
        self, account: AccountId, date_from: date, date_to: date, cursor: str | None
    ) -> Flow[Page[Transaction]]:
        page_no = int(cursor) if cursor and cursor.isdigit() else 1
        start = datetime.combine(date_from, time(0, 0, 0), CHINA_TZ)
        end = datetime.combine(date_to, time(23, 59, 59), CHINA_TZ)
        biz = {
            "bill_user_id": account.value,
            "start_time": china_timestamp(start),
            "end_time": china_timestamp(end),
            "page_no": str(page_no),
            "page_size": str(_PAGE_SIZE),
        }
        reply = yield from self._call(METHODS["transactions"], biz, "transactions")
        if not reply.ok:
            raise self._gateway_error(reply)
        details = reply.node.get("detail_list") or []
        if not isinstance(details, list):
            raise ProtocolError("'detail_list' must be a list")
        items = tuple(self._transaction(item, account) for item in details)
        total = reply.node.get("total_size", "0")
        if not str(total).isdigit():
            raise ProtocolError("'total_size' must be a number")
        more = page_no * _PAGE_SIZE < int(str(total)) and bool(items)
        return Page(items=items, next_cursor=str(page_no + 1) if more else None)

    def _transaction(self, item: object, account: AccountId) -> Transaction:
        if not isinstance(item, dict):
            raise ProtocolError("an account-log entry must be an object")
        direction = _DIRECTIONS.get(str(item.get("direction")))
        if direction is None:
            raise ProtocolError("an account-log entry has no known direction")
        booked = _china_time(item.get("trans_dt"))
        return Transaction(
            transaction_id=text_field(item, "account_log_id"),
            account=account,
            amount=abs(_yuan(str(item.get("trans_amount", "")).lstrip("-+"), "trans_amount")),
            direction=direction,
            booking_date=booked.date() if booked else None,
            value_date=booked.date() if booked else None,
            end_to_end_id=item.get("merchant_order_no") or None,
            bank_reference=item.get("alipay_order_no") or None,
            counterparty_account=item.get("other_account") or None,
            remittance=item.get("trans_memo") or None,
        )

    # -- notifications ------------------------------------------------------------------------

    def parse_notification(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Event:
        # Verify the raw form first (rsaCheckV1: without sign and sign_type); nothing is
        # read from a notification whose signature has not been checked.
        params = self._verified_form(body)
        if params.get("app_id") != self._settings.app_id:
            raise ProtocolError("the notification is for another app_id")
        notify_id = params.get("notify_id")
        if not notify_id:
            raise ProtocolError("the notification has no notify_id")
        kind = params.get("msg_method") or params.get("notify_type") or "unknown"
        data = {k: v for k, v in params.items() if k != "sign"}
        event = Event(
            id=notify_id,
            bank_id=self.config.bank_id,
            type=kind,
            occurred_at=_notify_time(params),
            data=data,
        )
        if kind != NOTIFY_METHOD:
            return event
        biz = self._notify_biz(params.get("biz_content", ""))
        status = map_status(biz.get("status"))
        reason = None
        if status is TransferStatus.REJECTED:
            reason = map_reason(biz.get("error_code"), str(biz.get("fail_reason", "")))
        amount = biz.get("trans_amount")
        return attrs.evolve(
            event,
            bank_transfer_id=text_field(biz, "order_id"),
            idempotency_key=text_field(biz, "out_biz_no"),
            status=status,
            reason=reason,
            # The client checks it against the journalled intent before applying the event.
            amount=None if amount is None else _yuan(amount, "trans_amount"),
        )

    def _verified_form(self, body: bytes) -> dict[str, str]:
        """The form, verified with a trusted gateway key: a notification names no certificate,
        so while the gateway rotates either installed certificate may have signed it."""
        failure: WalletLinkError | None = None
        for key in self._keys.verifiers():
            try:
                return verify_notification_form(
                    body, key, allow_legacy_rsa=self._settings.allow_legacy_rsa
                )
            except SignatureMismatchError as error:
                failure = error
        assert failure is not None  # there is always at least one gateway key
        raise failure

    def _notify_biz(self, content: str) -> dict[str, Any]:
        try:
            biz = json.loads(content)
        except ValueError:
            biz = self._decrypt(content) if self._settings.aes_key else None
        if not isinstance(biz, dict):
            raise ProtocolError("the notification's biz_content is not a JSON object")
        return biz

    def notification_ack(self, event: Event) -> tuple[int, Mapping[str, str], bytes]:
        # Anything but exactly "success" makes the gateway deliver the message again.
        return 200, {"Content-Type": "text/plain"}, b"success"


def _notify_time(params: Mapping[str, str]) -> datetime | None:
    millis = params.get("utc_timestamp")
    if millis and millis.isdigit():
        try:
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(millis))
        except OverflowError:
            raise ProtocolError("the notification's utc_timestamp is out of range") from None
    return _china_time(params.get("notify_time"))


@attrs.frozen
class _GatewaySigner:
    """The client's per-attempt hook: fresh ``timestamp``, then the RSA2 ``sign``."""

    adapter: CnOpenApiAdapter

    def __call__(self, request: PreparedRequest, url: str, now: datetime) -> PreparedRequest:
        return self.adapter._sign(request, now)
