"""The ``wechatpay_v3`` adapter: merchant transfers to a user's WeChat balance (商家转账).

A wallet operator pays its users out of the merchant's operating balance with the
transfer-bill API (``/v3/fund-app/mch-transfer/transfer-bills``): one bill per payout, keyed
by ``out_bill_no``, which is exactly walletlink's one-key-per-transfer model. The older
batch API (``/v3/transfer/batches``) is closed to merchants who did not use it before
2025-01-15, and a batch would tie many payouts to one key. The wire format, the mapping
tables and the key modes are in ``docs/wechatpay_v3.md``.

Every request is signed ``WECHATPAY2-SHA256-RSA2048`` over the exact bytes and URL sent
(:class:`~walletlink.signing.webhooks.WeChatPaySigner`); every reply, 2xx or not, and every
notification is verified with the platform key its ``Wechatpay-Serial`` names
(:mod:`._keys`). This module only translates; the client sends, retries and journals.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from walletlink._crosscheck import check_echo
from walletlink.accounts import LocalAccount
from walletlink.adapters._wire import declined, parse_time, text_field
from walletlink.adapters.base import Adapter, Flow, TransferRef
from walletlink.config import BankConfig
from walletlink.errors import (
    AuthenticationError,
    BankRejectedError,
    BankUnavailableError,
    ConfigurationError,
    ProtocolError,
    RateLimitedError,
    SignatureError,
    UnsupportedOperationError,
    ValidationError,
    WalletLinkError,
)
from walletlink.http import PreparedRequest, RawResponse
from walletlink.models import (
    Capability,
    Event,
    NextAction,
    Reason,
    ReasonCode,
    Transfer,
    TransferRequest,
    TransferStatus,
)
from walletlink.money import Money
from walletlink.protocols.wechatpay_v3 import _orders, _refunds
from walletlink.protocols.wechatpay_v3._codes import (
    UNKNOWN_OUTCOME_CODES,
    map_reason,
    map_refund_status,
    map_state,
    refusal_reason,
)
from walletlink.protocols.wechatpay_v3._keys import PUBLIC_KEY_PREFIX, PlatformKeys
from walletlink.protocols.wechatpay_v3._sensitive import seal_field, seed_secret
from walletlink.protocols.wechatpay_v3._wire import decode_out_bill_no, fen, from_fen, out_bill_no
from walletlink.signing.webhooks import WeChatPaySigner, decrypt_wechatpay_resource

__all__ = [
    "BILLS_PATH",
    "CERTIFICATES_PATH",
    "NAME_REQUIRED_FEN",
    "NOTIFY_EVENT",
    "WeChatPayV3Adapter",
]

BILLS_PATH: Final = "/v3/fund-app/mch-transfer/transfer-bills"
CERTIFICATES_PATH: Final = "/v3/certificates"
#: The notification a transfer bill sends when it reaches a final state.
NOTIFY_EVENT: Final = "MCHTRANSFER.BILL.FINISHED"
#: Bills of 2,000 yuan and more must name the user (``user_name``), RSA-OAEP encrypted
#: with the platform key that ``Wechatpay-Serial`` names. Below that the name is optional,
#: and it is not sent: a real name travels only where the platform requires it.
NAME_REQUIRED_FEN: Final = 200_000
_OPENID: Final = re.compile(r"[0-9A-Za-z_\-]{1,128}")
_MCHID: Final = re.compile(r"[0-9]{8,12}")
_REMARK_MAX: Final = 32
_JSON: Final = {"Accept": "application/json", "Content-Type": "application/json"}
_USER_AGENT: Final = "walletlink-wechatpay-v3"
#: The 4xx replies to a write that the flow reads itself, so that it can verify them before
#: they decide anything: journalled REJECTED on a forged 4xx would invite a second payout.
#: 401 (the platform refused our signature: it cannot sign for us) and 429 (retried) stay
#: with the client.
_DECIDING: Final = frozenset(range(400, 500)) - {401, 429}
#: The callback answer WeChat Pay wants, and the one that makes it deliver again.
ACK: Final = (200, {"Content-Type": "application/json"}, b'{"code":"SUCCESS","message":"OK"}')


def _pem(value: object) -> bytes | None:
    if isinstance(value, str):
        return value.encode()
    return value if isinstance(value, bytes) else None


def _private_key(value: object, bank_id: str) -> rsa.RSAPrivateKey:
    data = _pem(value)
    try:
        loaded = serialization.load_pem_private_key(data, None) if data is not None else value
    except (ValueError, TypeError):
        raise ConfigurationError("merchant_private_key is not a PEM key", bank_id=bank_id) from None
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ConfigurationError("merchant_private_key must be an RSA key", bank_id=bank_id)
    return loaded


def _platform_key(value: object, name: str, bank_id: str) -> rsa.RSAPublicKey | x509.Certificate:
    data = _pem(value)
    try:
        if data is not None and b"BEGIN CERTIFICATE" in data:
            loaded: object = x509.load_pem_x509_certificate(data)
        elif data is not None:
            loaded = serialization.load_pem_public_key(data)
        else:
            loaded = value
    except ValueError:
        message = f"{name} is not a PEM key or certificate"
        raise ConfigurationError(message, bank_id=bank_id) from None
    public = loaded.public_key() if isinstance(loaded, x509.Certificate) else loaded
    if not isinstance(public, rsa.RSAPublicKey):
        raise ConfigurationError(f"{name} must hold an RSA public key", bank_id=bank_id)
    return loaded if isinstance(loaded, x509.Certificate) else public


@attrs.frozen(kw_only=True)
class _Settings:
    mchid: str
    appid: str
    serial_no: str
    notify_url: str | None
    scene_id: str
    scene_reports: tuple[tuple[str, str], ...]
    remark: str
    perception: str | None


def _settings(config: BankConfig) -> _Settings:
    bank_id = config.bank_id
    mchid = config.option("mchid")
    if not isinstance(mchid, str) or not _MCHID.fullmatch(mchid):
        raise ConfigurationError("options need 'mchid' (8 to 12 digits)", bank_id=bank_id)
    appid = config.option("appid")
    if not isinstance(appid, str) or not 0 < len(appid) <= 32:
        raise ConfigurationError("options need 'appid' (1 to 32 characters)", bank_id=bank_id)
    serial_no = config.option("merchant_serial_no")
    if not isinstance(serial_no, str) or not re.fullmatch(r"[0-9A-Fa-f]{1,40}", serial_no):
        raise ConfigurationError("options need 'merchant_serial_no' (hex)", bank_id=bank_id)
    reports = config.option(
        "scene_report_infos", {"活动名称": "walletlink payout", "奖励说明": "wallet withdrawal"}
    )
    if not isinstance(reports, Mapping):
        raise ConfigurationError("'scene_report_infos' maps info_type to text", bank_id=bank_id)
    return _Settings(
        mchid=mchid,
        appid=appid,
        serial_no=serial_no.upper(),
        notify_url=config.option("notify_url"),
        scene_id=str(config.option("transfer_scene_id", "1000")),
        scene_reports=tuple((str(k), str(v)) for k, v in reports.items()),
        remark=str(config.option("transfer_remark", "wallet payout")),
        perception=config.option("user_recv_perception"),
    )


def _keys(config: BankConfig) -> PlatformKeys:
    """The trust anchors: a pinned platform certificate, a WeChat Pay public key, or both."""
    bank_id, credentials = config.bank_id, config.credentials
    api_v3_key = credentials.require("api_v3_key", bank_id)
    if isinstance(api_v3_key, str):
        api_v3_key = api_v3_key.encode()
    if not isinstance(api_v3_key, bytes) or len(api_v3_key) != 32:
        raise ConfigurationError("api_v3_key must be the 32-character API v3 key", bank_id=bank_id)
    pinned: dict[str, rsa.RSAPublicKey | x509.Certificate] = {}
    key_id = config.option("wechatpay_public_key_id")
    if key_id is not None:
        if not isinstance(key_id, str) or not key_id.startswith(PUBLIC_KEY_PREFIX):
            raise ConfigurationError(
                f"wechatpay_public_key_id starts with {PUBLIC_KEY_PREFIX}", bank_id=bank_id
            )
        key = credentials.require("wechatpay_public_key", bank_id)
        pinned[key_id] = _platform_key(key, "wechatpay_public_key", bank_id)
    serial = config.option("platform_serial")
    if serial is not None:
        certificate = credentials.require("platform_certificate", bank_id)
        pinned[str(serial)] = _platform_key(certificate, "platform_certificate", bank_id)
    if not pinned:
        raise ConfigurationError(
            "configure a WeChat Pay public key (wechatpay_public_key_id) or pin a platform "
            "certificate (platform_serial) to trust the first reply",
            bank_id=bank_id,
        )
    download = bool(config.option("download_certificates", serial is not None))
    return PlatformKeys(pinned=pinned, api_v3_key=api_v3_key, download=download)


def _json(response: RawResponse, what: str) -> dict[str, Any]:
    try:
        value = json.loads(response.body) if response.body else {}
    except ValueError:
        raise ProtocolError(f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"the {what} is not a JSON object")
    return value


class WeChatPayV3Adapter(Adapter):
    """WeChat Pay API v3 transfer bills, with both platform-key modes."""

    protocol = "wechatpay_v3"
    capabilities = frozenset({Capability.PAYMENTS, Capability.CANCEL, Capability.NOTIFICATIONS})
    request_id_headers = ("Request-ID",)

    def __init__(self, config: BankConfig) -> None:
        super().__init__(config)
        bank_id = config.bank_id
        self._settings = _settings(config)
        self.keys = _keys(config)
        self._api_v3_key = config.credentials.require("api_v3_key", bank_id)
        merchant_key = _private_key(
            config.credentials.require("merchant_private_key", bank_id), bank_id
        )
        self._signer = WeChatPaySigner(
            mchid=self._settings.mchid, serial_no=self._settings.serial_no, key=merchant_key
        )
        self._seed_secret = seed_secret(merchant_key)

    # -- hooks ------------------------------------------------------------------------------

    def signer(self) -> _Signer:
        return _Signer(self._signer, self.keys)

    # No ``response_verifier``: every reply is verified inside its flow instead (see
    # :meth:`_verified`), 2xx or not, so that a reply to a payment that fails verification
    # leaves the payment UNKNOWN (a ProtocolError) rather than escaping the journal's
    # bookkeeping as a bare SignatureError.

    def error_for(self, response: RawResponse) -> Exception | None:
        """A non-2xx reply the flow did not take itself. Unverified: it only ever says that
        something failed, never that money did not move (a write then stays unknown)."""
        try:
            code = str(_json(response, "error reply").get("code") or "")
        except ProtocolError:
            code = ""
        context: dict[str, Any] = {"bank_id": self.config.bank_id, "http_status": response.status}
        detail = f"WeChat Pay answered HTTP {response.status} {code}".strip()
        if response.status == 429 or code == "FREQUENCY_LIMITED":
            return RateLimitedError(detail, **context)
        if response.status >= 500 or code == "SYSTEM_ERROR":
            return BankUnavailableError(detail, **context)
        if response.status == 401 or code in ("SIGN_ERROR", "NO_AUTH"):
            return AuthenticationError(detail, **context)
        return BankRejectedError(detail, raw_code=code or None, **context)

    def validate(self, request: TransferRequest) -> None:
        """Yuan in whole fen, from this merchant to an openid, keyed by an
        ``out_bill_no``-able key, from 2,000 CNY a creditor name that fits the platform
        key: the bill, built (and its name encrypted) as a dry run. A refund (its creditor
        names an order, see :mod:`._refunds`): CNY, positive, at most the order's total."""
        super().validate(request)
        if _refunds.is_refund(request):
            self._refund_body(request)
            return
        self._bill(request)

    # -- requests -----------------------------------------------------------------------------

    def _bill(self, request: TransferRequest) -> tuple[bytes, dict[str, str]]:
        """The bill's bytes and the headers they need (``Wechatpay-Serial`` with a name).

        Built the same way every time from the same request and keys, name included (see
        :mod:`._sensitive`): a resend of a journalled transfer carries identical bytes.
        """
        amount = fen(request.amount)
        debtor = request.debtor_account
        if not isinstance(debtor, LocalAccount) or debtor.value != self._settings.mchid:
            raise ValidationError("WeChat Pay pays from the merchant's balance: debtor = mchid")
        openid = request.creditor.account
        if not isinstance(openid, LocalAccount) or not _OPENID.fullmatch(openid.value):
            raise ValidationError("the creditor must be a WeChat openid (LocalAccount)")
        remark = request.remittance or self._settings.remark
        if len(remark) > _REMARK_MAX:
            raise ValidationError(f"transfer_remark is at most {_REMARK_MAX} characters")
        settings = self._settings
        bill: dict[str, Any] = {
            "appid": settings.appid,
            "out_bill_no": out_bill_no(request.idempotency_key),
            "transfer_scene_id": settings.scene_id,
            "openid": openid.value,
            "transfer_amount": amount,
            "transfer_remark": remark,
            "transfer_scene_report_infos": [
                {"info_type": kind, "info_content": text} for kind, text in settings.scene_reports
            ],
        }
        if settings.notify_url:
            bill["notify_url"] = settings.notify_url
        if settings.perception:
            bill["user_recv_perception"] = settings.perception
        headers = dict(_JSON)
        if amount >= NAME_REQUIRED_FEN:
            # The creditor's real name; it exists only as ciphertext from here on.
            serial, key = self.keys.encryption_key(self.keys.now)
            try:
                bill["user_name"] = seal_field(
                    key,
                    serial=serial,
                    out_bill_no=bill["out_bill_no"],
                    text=request.creditor.name,
                    secret=self._seed_secret,
                )
            except ValidationError as exc:  # its length only: the name stays out of messages
                raise ValidationError(
                    f"the creditor name is too long for WeChat Pay's encrypted user_name "
                    f"({exc.message})"
                ) from None
            headers["Wechatpay-Serial"] = serial
        body = json.dumps(bill, ensure_ascii=False, separators=(",", ":")).encode()
        return body, headers

    def _refund_body(self, request: TransferRequest) -> bytes:
        settings = self._settings
        return _refunds.refund_body(request, mchid=settings.mchid, notify_url=settings.notify_url)

    def _write(
        self, path: str, body: bytes, operation: str, *, write: bool
    ) -> Flow[dict[str, Any]]:
        """POST ``body``; the verified reply, or the refusal it verifiably is.

        ``write`` as in :meth:`_verified`. Orders pass ``False``: they are not journalled, so
        an unverifiable reply stays the SignatureError it is instead of an unknown outcome.
        """
        response = yield PreparedRequest(
            method="POST",
            path=path,
            headers=_JSON,
            body=body,
            # Keyed by out_trade_no / out_refund_no at the platform: a resend is the same call.
            idempotent=True,
            operation=operation,
            accept_status=_DECIDING,
        )
        if not 200 <= response.status < 300:
            raise self._refusal(response, *self._verified_error(response, write=write))
        return self._verified(response, write=write)

    def _refresh(self) -> Flow[None]:
        """Download the platform certificates first when they are due (see :mod:`._keys`)."""
        if not self.keys.due():
            return
        try:
            response = yield PreparedRequest(
                method="GET",
                path=CERTIFICATES_PATH,
                headers=_JSON,
                operation="certificates",
                accept_status=frozenset({403, 404}),
                # Flows that start together share one download (the list is the same).
                shared="certificates",
            )
            if response.status == 200:
                # Verified with a key trusted before this download: pinned, or listed earlier.
                self._verified(response, write=False)
                self.keys.accept(response.body)
        finally:
            self.keys.settled()

    def _verified(self, response: RawResponse, *, write: bool) -> dict[str, Any]:
        """The reply's JSON once its signature verified with a trusted platform key.

        Judged on the client's clock as the signer saw it for this attempt. A reply to a
        write that does not verify says nothing about the money: a ProtocolError, which the
        client journals UNKNOWN and resolves by query. For a read the SignatureError stands.
        """
        now = self.keys.now
        if now is None:
            raise ProtocolError("no clock seen yet to verify the reply with")
        try:
            self.keys.verify(response, now)
        except SignatureError as exc:
            if not write:
                raise
            raise ProtocolError(f"an unverifiable reply ({exc.message})") from None
        return _json(response, "reply")

    def _verified_error(self, response: RawResponse, *, write: bool) -> tuple[str, str]:
        """``(code, message)`` of a non-2xx reply the flow decides on: verified first."""
        body = self._verified(response, write=write)
        return str(body.get("code") or ""), str(body.get("message") or "")

    def _refusal(self, response: RawResponse, code: str, message: str) -> WalletLinkError:
        context: dict[str, Any] = {"bank_id": self.config.bank_id, "http_status": response.status}
        if code in UNKNOWN_OUTCOME_CODES:
            return BankUnavailableError(f"WeChat Pay: {code}", **context)
        reason = refusal_reason(code)
        return BankRejectedError(
            f"WeChat Pay refused the call: {code} {message}".strip(),
            code=reason,
            raw_code=code or None,
            **context,
        )

    # -- payments -----------------------------------------------------------------------------

    def create_transfer(self, request: TransferRequest, transfer_id: str) -> Flow[Transfer]:
        if _refunds.is_refund(request):
            return (yield from self._create_refund(request, transfer_id))
        yield from self._refresh()
        # Built once per flow; the client's retries send this very request again.
        body, headers = self._bill(request)
        response = yield PreparedRequest(
            method="POST",
            path=BILLS_PATH,
            headers=headers,
            body=body,
            # The platform deduplicates on out_bill_no: re-sending the same bill is safe.
            idempotent=True,
            operation="create_transfer",
            accept_status=_DECIDING,
        )
        if response.status != 200:
            code, message = self._verified_error(response, write=True)
            if code != "NOT_ENOUGH":
                raise self._refusal(response, code, message)
            # The merchant's balance is short: a declined transfer, a value.
            return declined(
                request,
                transfer_id=transfer_id,
                bank_id=self.config.bank_id,
                reason=map_reason(code, message),
            )
        return self._transfer(self._verified(response, write=True), request, transfer_id)

    def _bill_path(self, ref: TransferRef, request: TransferRequest) -> str:
        number = out_bill_no(ref.idempotency_key or request.idempotency_key)
        return f"{BILLS_PATH}/out-bill-no/{number}"

    def get_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer]:
        found = yield from self.find_transfer(ref, request)
        if found is None:
            raise BankRejectedError(
                "WeChat Pay has no bill under this out_bill_no",
                code=ReasonCode.ACCOUNT_UNKNOWN,
                raw_code="ORDER_NOT_EXIST",
                bank_id=self.config.bank_id,
            )
        return found

    def find_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer | None]:
        """After an unknown outcome: ask by the same ``out_bill_no``, never a new one."""
        if _refunds.is_refund(request):
            return (yield from self._find_refund(ref, request))
        yield from self._refresh()
        response = yield PreparedRequest(
            method="GET",
            path=self._bill_path(ref, request),
            headers=_JSON,
            operation="get_transfer",
            accept_status=frozenset({404}),
        )
        if response.status == 404:
            code, message = self._verified_error(response, write=False)
            if code in ("ORDER_NOT_EXIST", "NOT_FOUND"):
                return None
            raise self._refusal(response, code, message)
        return self._transfer(self._verified(response, write=False), request, ref.transfer_id)

    def cancel_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer]:
        """撤销转账: only before the bill is final; the reply says CANCELING or CANCELLED."""
        if _refunds.is_refund(request):
            raise UnsupportedOperationError(
                "a WeChat Pay refund cannot be cancelled", bank_id=self.config.bank_id
            )
        yield from self._refresh()
        response = yield PreparedRequest(
            method="POST",
            path=self._bill_path(ref, request) + "/cancel",
            headers=_JSON,
            body=b"",
            idempotent=True,
            operation="cancel_transfer",
            accept_status=_DECIDING,
        )
        if response.status != 200:
            raise self._refusal(response, *self._verified_error(response, write=True))
        return self._transfer(self._verified(response, write=True), request, ref.transfer_id)

    def _transfer(
        self, node: Mapping[str, Any], request: TransferRequest, transfer_id: str
    ) -> Transfer:
        number = text_field(node, "out_bill_no")
        check_echo(
            request,
            bank_id=self.config.bank_id,
            idempotency_key=decode_out_bill_no(number),
            amount=from_fen(node["transfer_amount"], "transfer_amount")
            if "transfer_amount" in node
            else None,
        )
        status = map_state(node.get("state"))
        reason = None
        if status is TransferStatus.REJECTED:
            reason = map_reason(str(node.get("fail_reason") or "") or None)
        action = None
        if status is TransferStatus.REQUIRES_ACTION and node.get("package_info"):
            # What the wallet's app hands to WeChat's confirm page (wx.requestMerchantTransfer).
            action = NextAction(kind="wechat_confirm", data={"package_info": node["package_info"]})
        return Transfer(
            id=transfer_id,
            bank_id=self.config.bank_id,
            bank_transfer_id=node.get("transfer_bill_no") or None,
            end_to_end_id=request.end_to_end_id,
            idempotency_key=request.idempotency_key,
            amount=request.amount,
            status=status,
            reason=reason,
            next_action=action,
            created_at=parse_time(node.get("create_time")),
            updated_at=parse_time(node.get("update_time")),
        )

    # -- refunds (see ._refunds) ----------------------------------------------------------------

    def _create_refund(self, request: TransferRequest, transfer_id: str) -> Flow[Transfer]:
        """申请退款: ``POST /v3/refund/domestic/refunds``, the journalled intent's bytes."""
        body = self._refund_body(request)
        yield from self._refresh()
        response = yield PreparedRequest(
            method="POST",
            path=_refunds.REFUNDS_PATH,
            headers=_JSON,
            body=body,
            idempotent=True,  # out_refund_no: "同一退款单号多次请求只退一笔"
            operation="create_refund",
            accept_status=_DECIDING,
        )
        if response.status == 200:
            node = self._verified(response, write=True)
            return _refunds.refund_transfer(
                node, request, transfer_id=transfer_id, bank_id=self.config.bank_id
            )
        code, message = self._verified_error(response, write=True)
        if code not in ("NOT_ENOUGH", "USER_ACCOUNT_ABNORMAL"):
            raise self._refusal(response, code, message)
        # Nothing was refunded, for a reason of the merchant's or payer's account: a value.
        return declined(
            request,
            transfer_id=transfer_id,
            bank_id=self.config.bank_id,
            reason=Reason(code=refusal_reason(code), raw_code=code, message=message),
        )

    def _find_refund(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer | None]:
        """查询单笔退款 by the same ``out_refund_no``; 404 RESOURCE_NOT_EXISTS is absent."""
        yield from self._refresh()
        response = yield PreparedRequest(
            method="GET",
            path=_refunds.refund_path(ref.idempotency_key or request.idempotency_key),
            headers=_JSON,
            operation="get_refund",
            accept_status=frozenset({404}),
        )
        if response.status == 404:
            code, message = self._verified_error(response, write=False)
            if code in ("RESOURCE_NOT_EXISTS", "ORDER_NOT_EXIST", "NOT_FOUND"):
                return None
            raise self._refusal(response, code, message)
        node = self._verified(response, write=False)
        return _refunds.refund_transfer(
            node, request, transfer_id=ref.transfer_id, bank_id=self.config.bank_id
        )

    # -- orders (pay-in, see ._orders; run with Client.run_flow or .topup.WeChatPayTopUps) ----

    def create_native_order(self, order: _orders.OrderRequest) -> Flow[_orders.NativeOrder]:
        """Native 下单: the reply's ``code_url`` is shown as a QR code."""
        created = yield from _orders.create_order(self, order, jsapi=False)
        assert isinstance(created, _orders.NativeOrder)
        return created

    def create_jsapi_order(self, order: _orders.OrderRequest) -> Flow[_orders.JsapiOrder]:
        """JSAPI 下单: ``prepay_id`` and the signed parameters for the pay sheet."""
        created = yield from _orders.create_order(self, order, jsapi=True)
        assert isinstance(created, _orders.JsapiOrder)
        return created

    def query_order(self, out_trade_no: str, expected: Money | None = None) -> Flow[_orders.Order]:
        return (yield from _orders.query_order(self, out_trade_no, expected))

    def close_order(self, out_trade_no: str) -> Flow[None]:
        yield from _orders.close_order(self, out_trade_no)

    # -- notifications ----------------------------------------------------------------------

    def parse_notification(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Event:
        # The raw bytes first: nothing is read from a callback whose signature failed.
        self.keys.observe(now)
        self.keys.verify_message(headers, body, now)
        try:
            envelope = json.loads(body)
        except ValueError:
            raise ProtocolError("the notification is not JSON") from None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("resource"), dict):
            raise ProtocolError("the notification carries no resource object")
        event = Event(
            id=text_field(envelope, "id", "notification"),
            bank_id=self.config.bank_id,
            type=str(envelope.get("event_type") or "unknown"),
            occurred_at=parse_time(envelope.get("create_time")),
            data={k: v for k, v in envelope.items() if k != "resource"},
        )
        plaintext = decrypt_wechatpay_resource(envelope["resource"], self._api_v3_key)
        try:
            bill = json.loads(plaintext)
        except ValueError:
            raise ProtocolError("the decrypted resource is not JSON") from None
        if isinstance(bill, dict) and event.type.startswith(("REFUND.", "TRANSACTION.")):
            return _notified(event, bill, self._settings)
        if event.type != NOTIFY_EVENT or not isinstance(bill, dict):
            return attrs.evolve(event, data={**event.data, "resource": bill})
        if bill.get("mch_id", self._settings.mchid) != self._settings.mchid:
            raise ProtocolError("the notification is for another merchant")
        status = map_state(bill.get("state"))
        reason = None
        if status is TransferStatus.REJECTED:
            reason = map_reason(str(bill.get("fail_reason") or "") or None)
        amount = bill.get("transfer_amount")
        return attrs.evolve(
            event,
            bank_transfer_id=bill.get("transfer_bill_no") or None,
            idempotency_key=decode_out_bill_no(text_field(bill, "out_bill_no", "notification")),
            status=status,
            reason=reason,
            amount=None if amount is None else from_fen(amount, "transfer_amount"),
            occurred_at=parse_time(bill.get("update_time")) or event.occurred_at,
        )

    def notification_ack(self, event: Event) -> tuple[int, Mapping[str, str], bytes]:
        """200 with ``{"code":"SUCCESS"}``: anything else makes WeChat Pay deliver again."""
        return ACK

    def notification_nack(self, error: Exception) -> tuple[int, Mapping[str, str], bytes]:
        """The answer to a callback that failed: a 4xx/5xx with ``{"code":"FAIL"}``, so the
        platform delivers it again. 401 for a signature that did not verify, else 500."""
        status = 401 if isinstance(error, SignatureError) else 500
        message = "signature check failed" if status == 401 else "not processed"
        body = json.dumps({"code": "FAIL", "message": message}).encode()
        return status, {"Content-Type": "application/json"}, body


def _notified(event: Event, resource: dict[str, Any], settings: _Settings) -> Event:
    """A payment (``TRANSACTION.*``) or refund (``REFUND.*``) notification's event.

    A refund event names its journalled refund by ``out_refund_no`` (the key itself) and
    states the refund amount; the client cross-checks both against the journal before it
    applies the status. A payment event touches no journal (no merchant money moved): the
    wallet reads ``event.data["order"]`` and credits its user.
    """
    if resource.get("mchid", settings.mchid) != settings.mchid:
        raise ProtocolError("the notification is for another merchant")
    if event.type.startswith("TRANSACTION."):
        order = _orders.parse_order(resource, mchid=settings.mchid, appid=settings.appid)
        return attrs.evolve(
            event,
            bank_transfer_id=order.transaction_id,
            occurred_at=order.success_time or event.occurred_at,
            data={**event.data, "order": order},
        )
    amount = resource.get("amount")
    if not isinstance(amount, Mapping):
        raise ProtocolError("the refund notification carries no amount object")
    status = map_refund_status(resource.get("refund_status"))
    raw = str(resource.get("refund_status") or "")
    reason = None
    if raw in ("CLOSED", "ABNORMAL"):
        code = ReasonCode.OTHER if raw == "CLOSED" else ReasonCode.ACCOUNT_BLOCKED
        reason = Reason(code=code, raw_code=raw, message=f"refund {raw.lower()}")
    return attrs.evolve(
        event,
        bank_transfer_id=resource.get("refund_id") or None,
        idempotency_key=text_field(resource, "out_refund_no", "notification"),
        status=status,
        reason=reason,
        amount=from_fen(amount.get("refund"), "amount.refund"),
        occurred_at=parse_time(resource.get("success_time")) or event.occurred_at,
        data={**event.data, "out_trade_no": resource.get("out_trade_no")},
    )


@attrs.frozen
class _Signer:
    """Signs each attempt (fresh nonce and timestamp) and shows the store the client's clock."""

    signer: WeChatPaySigner
    keys: PlatformKeys

    def __call__(self, request: PreparedRequest, url: str, now: datetime) -> PreparedRequest:
        if request.path == CERTIFICATES_PATH:
            self.keys.attempted(now)  # before sending: a failing download is not a loop
        else:
            self.keys.observe(now)
        request = request.with_headers({"User-Agent": _USER_AGENT})
        return self.signer(request, url, now)
