"""The server side of ``cn_openapi``: a mock Alipay-style open-platform gateway.

It checks a request the way the gateway does, in the gateway's order, and answers in the
gateway's words: an unknown ``app_id`` gets an unsigned ``error_response`` (the gateway has
no key to sign with for an app it does not know), a missing public parameter ``40001``, a bad
signature ``40002 isv.invalid-signature``, a stale ``timestamp`` ``40002
isv.invalid-timestamp``. Then it decrypts ``biz_content`` when ``encrypt_type=AES``, runs
transfers through an ``out_biz_no`` store per app (same parameters → the original order,
other parameters → refused) and the shell's ledger, and signs every answer with the
gateway's key over the exact text of its ``<method>_response`` node. Status changes become
signed, form-encoded ``alipay.fund.trans.order.changed`` messages.

Signing and verification are :mod:`walletlink.signing.params`, the same code the adapter
uses: replies are :func:`~walletlink.signing.params.sign_sync_response`, messages
:func:`~walletlink.signing.params.sign_notification`.

With ``cert_mode=True`` the app is in public-key certificate mode: the mock issues itself a
root CA, the app's certificate and the gateway's, checks ``app_cert_sn`` and
``alipay_root_cert_sn`` on every call (``40002 isv.invalid-app-cert-sn`` /
``isv.invalid-alipay-root-cert-sn``), and names its signing certificate in each reply's
``alipay_cert_sn``; :meth:`CnOpenApiServer.rotate_gateway_cert` moves it to a new one.
``app_auth_tokens`` are the ISV tokens merchants granted (an unknown one is ``20001
aop.invalid-app-auth-token``); an order is visible only under the token it was made with.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlencode

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from walletlink.accounts import LocalAccount, mask
from walletlink.config import BankConfig
from walletlink.errors import CurrencyMismatchError, WalletLinkError
from walletlink.models import ReasonCode, TransferStatus
from walletlink.money import Money
from walletlink.signing.params import (
    alipay_cert_sn,
    alipay_root_cert_sn,
    china_timestamp,
    decrypt_content,
    parse_china_timestamp,
    sign_content,
    sign_notification,
    sign_sync_response,
    verify_content,
)
from walletlink.testing._http import MockRequest, MockResponse
from walletlink.testing.faults import FaultKind
from walletlink.testing.idempotency import ClaimState, IdempotencyStore, request_fingerprint
from walletlink.testing.ledger import AccountNotFoundError, BankTransferView, TransferInstruction

if TYPE_CHECKING:
    from walletlink.testing.mockbank import MockBank, OutgoingWebhook, ServedBank

__all__ = ["DEFAULT_APP_ID", "CnOpenApiServer", "GatewayFailure", "cn_openapi_config"]

DEFAULT_APP_ID: Final = "2021000000000001"
_MESSAGES: Final[Mapping[str, str]] = {
    "10000": "Success",
    "20000": "Service Currently Unavailable",
    "20001": "Insufficient Token Permissions",
    "40001": "Missing Required Arguments",
    "40002": "Invalid Arguments",
    "40004": "Business Failed",
    "40006": "Insufficient Permissions",
}
# The public parameters and the sub_code the gateway answers when one is missing.
_REQUIRED: Final[Mapping[str, str]] = {
    "charset": "isv.missing-charset",
    "sign_type": "isv.missing-signature-type",
    "sign": "isv.missing-signature",
    "timestamp": "isv.missing-timestamp",
    "version": "isv.missing-version",
}
_GATEWAY_STATUS: Final[Mapping[TransferStatus, str]] = {
    TransferStatus.PENDING: "DEALING",
    TransferStatus.REQUIRES_ACTION: "WAIT_PAY",
    TransferStatus.PROCESSING: "DEALING",
    TransferStatus.SETTLED: "SUCCESS",
    TransferStatus.REJECTED: "FAIL",
    TransferStatus.CANCELLED: "CLOSED",
    TransferStatus.RETURNED: "REFUND",
    TransferStatus.UNKNOWN: "DEALING",
}
_NOTIFIED: Final = frozenset(
    {
        TransferStatus.SETTLED,
        TransferStatus.REJECTED,
        TransferStatus.CANCELLED,
        TransferStatus.RETURNED,
    }
)
_OUT_BIZ_NO: Final = re.compile(r"[0-9A-Za-z_\-]{1,64}")
_YUAN: Final = re.compile(r"(0|[1-9][0-9]{0,9})(\.[0-9]{1,2})?")
_IDENTITY_TYPES: Final = frozenset(
    {"ALIPAY_USER_ID", "ALIPAY_LOGON_ID", "ALIPAY_OPEN_ID", "BANKCARD_ACCOUNT"}
)
_PRODUCTS: Final = frozenset({"TRANS_ACCOUNT_NO_PWD", "TRANS_BANKCARD_NO_PWD", "STD_RED_PACKET"})
_MIN_TRANSFER: Final = Money("0.10", "CNY")  # the gateway's smallest single transfer
_NOTIFY_JSON_SAFE: Final = '{}[]":,'
# The merchant whose app_auth_token the call carried, passed to the methods inside biz (it
# overwrites anything a caller put under the name).
_MERCHANT: Final = "\x00merchant"


class _Fail(Exception):
    """Stop and answer with a gateway error node."""

    def __init__(
        self,
        code: str,
        sub_code: str,
        sub_msg: str,
        *,
        node: str | None = None,
        signed: bool = True,
    ) -> None:
        super().__init__(sub_msg)
        self.code, self.sub_code, self.sub_msg = code, sub_code, sub_msg
        self.node = node  # None: error_response
        self.signed = signed


def _business(sub_code: str, sub_msg: str) -> _Fail:
    return _Fail("40004", sub_code, sub_msg)


def _invalid(name: str, what: str) -> _Fail:
    return _business("INVALID_PARAMETER", f"{name}: {what}")


@functools.cache
def _test_keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """One app key pair and one gateway key pair per process: RSA generation is slow, and
    a mock bank's keys are test keys, never secrets worth isolating per test."""
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


@functools.cache
def _ca_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Mock Open Platform"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Certification Authority"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


_CA_NAME: Final = "Mock Open Platform Root CA R1"
_EPOCH: Final = datetime(2020, 1, 1, tzinfo=UTC)


def _certificate(key: rsa.RSAPublicKey, subject: str, serial: int) -> x509.Certificate:
    """A certificate for ``key`` issued by the mock's root CA (self-signed for the root)."""
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(_CA_NAME))
        .public_key(key)
        .serial_number(serial)
        .not_valid_before(_EPOCH)
        .not_valid_after(_EPOCH + timedelta(days=365 * 30))
        .sign(_ca_key(), hashes.SHA256())
    )


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


class GatewayFailure:
    """A gateway error to answer the next ``times`` authenticated calls with (e.g. 20000)."""

    def __init__(self, code: str, sub_code: str, times: int = 1) -> None:
        self.code, self.sub_code, self.times = code, sub_code, times


class CnOpenApiServer:
    """Answers ``cn_openapi`` gateway calls for one :class:`~walletlink.testing.MockBank`.

    ``app_key`` is the app's key pair: the gateway keeps only its public half (as the
    console does once the developer uploads it); the private half is what
    :meth:`client_config_fields` hands the client. ``gateway_key`` signs replies and messages.
    """

    def __init__(
        self,
        bank: MockBank,
        *,
        app_id: str = DEFAULT_APP_ID,
        app_key: rsa.RSAPrivateKey | None = None,
        gateway_key: rsa.RSAPrivateKey | None = None,
        aes_key: str | None = None,
        timestamp_tolerance: timedelta = timedelta(minutes=30),
        gateway_path: str = "/gateway.do",
        cert_mode: bool = False,
        app_auth_tokens: Mapping[str, str] | None = None,
    ) -> None:
        default_app, default_gateway = _test_keys()
        self.bank = bank
        self.app_id = app_id
        self._app_private = app_key or default_app
        self.app_public_key = self._app_private.public_key()
        self.gateway_key = gateway_key or default_gateway
        self.aes_key = aes_key
        self.tolerance = timestamp_tolerance
        self.path = gateway_path
        #: ISV mode: the app_auth_tokens merchants granted this app, token → merchant.
        self.app_auth_tokens = dict(app_auth_tokens or {})
        self._merchants: dict[str, str | None] = {}  # out_biz_no → the token's merchant
        self.cert_mode = cert_mode
        self.root_cert = _certificate(_ca_key().public_key(), _CA_NAME, 1)
        self.app_cert = _certificate(self.app_public_key, f"app {app_id}", 2)
        #: The gateway certificates in service, by SN; :attr:`gateway_cert` signs.
        self.gateway_cert = _certificate(self.gateway_key.public_key(), "gateway", 3)
        self._gateway_keys = {alipay_cert_sn(self.gateway_cert): self.gateway_key}
        #: Injected gateway errors, consumed one call at a time (see :class:`GatewayFailure`).
        self.failures: list[GatewayFailure] = []
        self._claims: IdempotencyStore[str] = IdempotencyStore(bank.clock.now)
        self._orders: dict[str, str] = {}  # out_biz_no → ledger transfer id
        self._declined: set[str] = set()  # refused at submission: a 40004, not an order
        self._lock = threading.Lock()
        self._methods = {
            "alipay.fund.trans.uni.transfer": self._transfer,
            "alipay.fund.trans.common.query": self._query,
            "alipay.fund.account.query": self._account,
            "alipay.data.bill.accountlog.query": self._account_log,
        }

    # -- what a client of this gateway needs ------------------------------------------------

    def client_config_fields(self, **options: Any) -> dict[str, Any]:
        """``BankConfig`` fields for a client of this app (``options`` add to the defaults);
        :meth:`MockBank.config` merges them in."""
        credentials: dict[str, str] = {"app_private_key": _pem(self._app_private)}
        if self.cert_mode:
            credentials["app_cert"] = _cert_pem(self.app_cert)
            credentials["alipay_root_cert"] = _cert_pem(self.root_cert)
            credentials["gateway_cert"] = _cert_pem(self.gateway_cert)
        else:
            credentials["gateway_public_key"] = _pem(self.gateway_key.public_key())
        if self.aes_key is not None:
            credentials["aes_key"] = self.aes_key
        return {"credentials": credentials, "options": {"app_id": self.app_id, **options}}

    def rotate_gateway_cert(self, key: rsa.RSAPrivateKey) -> x509.Certificate:
        """Sign with a new gateway certificate for ``key`` from now on; returns it."""
        serial = 3 + len(self._gateway_keys)
        self.gateway_key = key
        self.gateway_cert = _certificate(key.public_key(), "gateway", serial)
        self._gateway_keys[alipay_cert_sn(self.gateway_cert)] = key
        return self.gateway_cert

    # -- the ProtocolServer interface -------------------------------------------------------

    def handle(self, request: MockRequest) -> MockResponse:
        if request.path.rstrip("/") != self.path:
            return MockResponse(status=404, headers={"Content-Type": "text/plain"}, body=b"")
        if request.method != "POST":
            return MockResponse(status=405, headers={"Content-Type": "text/plain"}, body=b"")
        method: str | None = None
        encrypt = False
        try:
            params = _params(request)
            method = self._authenticate(params)
            biz, encrypt = self._biz(params)
            self._inject()
            biz = {**biz, _MERCHANT: self._merchant(params, method)}
            node = self._methods[method](biz)
        except _Fail as failure:
            return self._error(failure, method, encrypt)
        return self._render(method, {"code": "10000", "msg": "Success", **node}, encrypt=encrypt)

    def fault_response(self, kind: FaultKind, retry_after: int) -> MockResponse:
        # Injected faults come from the gateway's front end: plain HTTP statuses.
        if kind is FaultKind.RATE_LIMIT:
            return MockResponse(
                status=429, headers={"Retry-After": str(retry_after)}, body=b"Too Many Requests"
            )
        status = 503 if kind is FaultKind.UNAVAILABLE else 500
        return MockResponse(status=status, headers={"Content-Type": "text/plain"}, body=b"error")

    def webhooks_for(self, transfer: BankTransferView) -> list[OutgoingWebhook]:
        from walletlink.testing.mockbank import OutgoingWebhook

        key = transfer.idempotency_key
        if transfer.status not in _NOTIFIED or key is None or self._orders.get(key) != transfer.id:
            return []
        node = self._order(transfer)
        biz = {k: node[k] for k in sorted(node) if k not in ("code", "msg")}
        biz["origin_interface"] = "alipay.fund.trans.uni.transfer"
        # The id is derived from what the message says, so a re-delivery repeats it.
        digest = hashlib.sha256(f"{self.app_id}:{transfer.id}:{biz['status']}".encode())
        params = {
            "notify_id": digest.hexdigest()[:32],
            "utc_timestamp": str(int(transfer.updated_at.timestamp() * 1000)),
            "msg_method": "alipay.fund.trans.order.changed",
            "app_id": self.app_id,
            "version": "1.1",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
        }
        params = sign_notification(params, self.gateway_key)
        # JSON punctuation is left unescaped (valid form encoding, and easy to read in a log).
        body = urlencode(params, safe=_NOTIFY_JSON_SAFE).encode("ascii")
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        return [OutgoingWebhook(id=params["notify_id"], headers=headers, body=body)]

    # -- the gateway's checks -----------------------------------------------------------------

    def _authenticate(self, params: Mapping[str, str]) -> str:
        """The public parameters, the app, the signature and the clock; returns the method."""
        app_id = params.get("app_id")
        if not app_id:
            raise _Fail("40001", "isv.missing-app-id", "app_id is missing", signed=False)
        if app_id != self.app_id:
            raise _Fail("40002", "isv.invalid-app-id", "no such app", signed=False)
        method = params.get("method")
        if not method:
            raise _Fail("40001", "isv.missing-method", "method is missing")
        for name, sub_code in _REQUIRED.items():
            if not params.get(name):
                raise _Fail("40001", sub_code, f"{name} is missing", node=method)
        if params["sign_type"] != "RSA2":
            raise _Fail("40002", "isv.invalid-signature-type", "use RSA2", node=method)
        if params["charset"].lower() != "utf-8":
            raise _Fail("40002", "isv.invalid-charset", "use utf-8", node=method)
        if params.get("format", "JSON").upper() != "JSON":
            raise _Fail("40002", "isv.invalid-format", "use JSON", node=method)
        try:
            verify_content(sign_content(params), params["sign"], self.app_public_key)
        except WalletLinkError:
            raise _Fail(
                "40002", "isv.invalid-signature", "signature check failed", node=method
            ) from None
        self._check_time(params["timestamp"], method)
        self._check_cert_sns(params, method)
        if method not in self._methods:
            raise _Fail("40002", "isv.invalid-method", "no such method", node=method)
        return method

    def _check_cert_sns(self, params: Mapping[str, str], method: str) -> None:
        if not self.cert_mode:
            return
        if params.get("app_cert_sn") != alipay_cert_sn(self.app_cert):
            raise _Fail("40002", "isv.invalid-app-cert-sn", "app_cert_sn mismatch", node=method)
        if params.get("alipay_root_cert_sn") != alipay_root_cert_sn(_cert_pem(self.root_cert)):
            raise _Fail(
                "40002", "isv.invalid-alipay-root-cert-sn", "root cert sn mismatch", node=method
            )

    def _merchant(self, params: Mapping[str, str], method: str) -> str | None:
        token = params.get("app_auth_token")
        if token is None:
            return None
        merchant = self.app_auth_tokens.get(token)
        if merchant is None:
            raise _Fail(
                "20001", "aop.invalid-app-auth-token", "no such app_auth_token", node=method
            )
        return merchant

    def _check_time(self, text: str, method: str) -> None:
        try:
            sent = parse_china_timestamp(text)
        except WalletLinkError:
            raise _Fail("40002", "isv.invalid-timestamp", "bad timestamp", node=method) from None
        if abs(sent - self.bank.clock.now()) > self.tolerance:
            raise _Fail("40002", "isv.invalid-timestamp", "timestamp out of range", node=method)

    def _biz(self, params: Mapping[str, str]) -> tuple[dict[str, Any], bool]:
        method = params["method"]
        content = params.get("biz_content", "")
        encrypt_type = params.get("encrypt_type")
        if encrypt_type is not None:
            if encrypt_type != "AES" or self.aes_key is None:
                raise _Fail("40002", "isv.invalid-encrypt-type", "no AES key", node=method)
            try:
                content = decrypt_content(content, self.aes_key)
            except WalletLinkError:
                raise _Fail(
                    "40002", "isv.decryption-error", "cannot decrypt", node=method
                ) from None
        try:
            biz = json.loads(content) if content else {}
        except ValueError:
            biz = None
        if not isinstance(biz, dict):
            raise _Fail(
                "40002", "isv.invalid-parameter", "biz_content: no JSON object", node=method
            )
        return biz, encrypt_type is not None

    def _inject(self) -> None:
        with self._lock:
            if not self.failures:
                return
            failure = self.failures[0]
            failure.times -= 1
            if failure.times <= 0:
                self.failures.pop(0)
        raise _Fail(failure.code, failure.sub_code, "injected")

    # -- answers --------------------------------------------------------------------------------

    def _render(
        self, method: str | None, node: Mapping[str, Any], *, encrypt: bool, signed: bool = True
    ) -> MockResponse:
        headers = {"Content-Type": "application/json;charset=utf-8"}
        if not signed:  # the gateway has no key for an app it does not know
            name = method.replace(".", "_") + "_response" if method else "error_response"
            text = json.dumps({name: node}, ensure_ascii=False, separators=(",", ":"))
            return MockResponse(status=200, headers=headers, body=text.encode())
        body = sign_sync_response(
            method,
            node,
            self.gateway_key,
            encrypt_key=self.aes_key if encrypt else None,
            cert_sn=alipay_cert_sn(self.gateway_cert) if self.cert_mode else None,
        )
        return MockResponse(status=200, headers=headers, body=body)

    def _error(self, failure: _Fail, method: str | None, encrypt: bool) -> MockResponse:
        node = {
            "code": failure.code,
            "msg": _MESSAGES.get(failure.code, "Error"),
            "sub_code": failure.sub_code,
            "sub_msg": failure.sub_msg,
        }
        # Gateway-level errors name error_response until the method is known to be valid;
        # business failures (40004) travel encrypted like any business answer.
        known = method if method in self._methods else failure.node
        return self._render(
            known, node, encrypt=encrypt and failure.code == "40004", signed=failure.signed
        )

    # -- methods ------------------------------------------------------------------------------

    def _transfer(self, biz: Mapping[str, Any]) -> dict[str, Any]:
        out_biz_no = _string(biz, "out_biz_no", 64)
        if not _OUT_BIZ_NO.fullmatch(out_biz_no):
            raise _invalid("out_biz_no", "only [0-9A-Za-z_-]")
        canonical = json.dumps(biz, sort_keys=True, separators=(",", ":")).encode()
        fingerprint = request_fingerprint("POST", "alipay.fund.trans.uni.transfer", canonical)
        claim = self._claims.begin(self.app_id, out_biz_no, fingerprint)
        if claim.state is ClaimState.MISMATCH:
            self.bank.count("idempotency_mismatches")
            raise _business("ACQ.CONTEXT_INCONSISTENT", "out_biz_no was used with other params")
        if claim.state is ClaimState.IN_FLIGHT:
            raise _Fail("20000", "isp.unknow-error", "the order is being processed")
        if claim.state is ClaimState.REPLAY:
            assert claim.response is not None
            self.bank.count("replays")
            return self._transfer_answer(self.bank.ledger.transfer(claim.response))
        try:
            transfer = self._submit(biz, out_biz_no)
        except BaseException:
            self._claims.release(self.app_id, out_biz_no)  # nothing executed: key is free
            raise
        self._claims.complete(self.app_id, out_biz_no, transfer.id)
        with self._lock:
            self._merchants[out_biz_no] = biz.get(_MERCHANT)
        return self._transfer_answer(transfer)

    def _submit(self, biz: Mapping[str, Any], out_biz_no: str) -> BankTransferView:
        instruction = self._instruction(biz, out_biz_no)
        ledger = self.bank.ledger
        if not ledger.has_account(instruction.debtor_account.value):
            raise _business("PAYER_NOT_EXIST", "no such payer")
        try:
            transfer = ledger.submit(instruction, self.bank.clock.now())
        except (AccountNotFoundError, CurrencyMismatchError):
            raise _business("PAYER_STATUS_ERROR", "the payer cannot pay in CNY") from None
        with self._lock:
            self._orders[out_biz_no] = transfer.id
            if transfer.status is TransferStatus.REJECTED:
                self._declined.add(transfer.id)
        return transfer

    def _transfer_answer(self, transfer: BankTransferView) -> dict[str, Any]:
        if transfer.id in self._declined:
            sub_code = _error_code(transfer, declined=True)
            raise _business(sub_code, transfer.reason_message or sub_code)
        node = self._order(transfer)
        answer = {k: node[k] for k in ("out_biz_no", "order_id", "pay_fund_order_id", "status")}
        if "pay_date" in node:
            answer["trans_date"] = node["pay_date"]
        return answer

    def _instruction(self, biz: Mapping[str, Any], out_biz_no: str) -> TransferInstruction:
        amount = _amount(_string(biz, "trans_amount", 16))
        if _string(biz, "product_code", 64) not in _PRODUCTS:
            raise _invalid("product_code", "not a product this app signed")
        if _string(biz, "biz_scene", 64) != "DIRECT_TRANSFER":
            raise _invalid("biz_scene", "DIRECT_TRANSFER only")
        title = _string(biz, "order_title", 128)
        payee = _party(biz, "payee_info")
        payer = _party(biz, "payer_info")
        if payee[0] == payer[0]:
            raise _business("PAYER_PAYEE_CANNOT_SAME", "payer and payee are the same account")
        self._check_payee(payee)
        remark = biz.get("remark", "")
        if not isinstance(remark, str) or len(remark) > 200:
            raise _invalid("remark", "a string of at most 200 characters")
        return TransferInstruction(
            amount=amount,
            debtor_account=LocalAccount(payer[0]),
            creditor_name=payee[2] or payee[0],
            creditor_account=LocalAccount(payee[0]),
            remittance=remark,
            end_to_end_id=out_biz_no,
            idempotency_key=out_biz_no,
            metadata={"order_title": title},
        )

    def _check_payee(self, payee: tuple[str, str, str]) -> None:
        identity, kind, name = payee
        ledger = self.bank.ledger
        if not ledger.has_account(identity):
            if kind != "BANKCARD_ACCOUNT":  # a card may be at any bank; an Alipay id is here
                raise _business("PAYEE_NOT_EXIST", "no such payee")
            return
        view = ledger.account(identity)
        if view.closed:
            raise _business("PAYEE_ACCOUNT_STATUS_ERROR", "the payee account is closed")
        if name and view.name and name != view.name:
            raise _business("PAYEE_USERINFO_ERROR", "the payee name does not match")

    def _query(self, biz: Mapping[str, Any]) -> dict[str, Any]:
        out_biz_no = biz.get("out_biz_no")
        order_id = biz.get("order_id")
        if not out_biz_no and not order_id:
            raise _invalid("out_biz_no", "out_biz_no or order_id is required")
        if out_biz_no and not (biz.get("product_code") and biz.get("biz_scene")):
            raise _invalid("product_code", "product_code and biz_scene go with out_biz_no")
        with self._lock:
            transfer_id = self._orders.get(str(out_biz_no)) if out_biz_no else None
            by_order = {self._order_id(t): t for t in self._orders.values()}
        if order_id:
            found = by_order.get(str(order_id))
            if found is None or (transfer_id is not None and found != transfer_id):
                raise _business("ORDER_NOT_EXIST", "no such order")
            transfer_id = found
        if transfer_id is None:
            raise _business("ORDER_NOT_EXIST", "no such order")
        key = self.bank.ledger.transfer(transfer_id).idempotency_key or ""
        if self._merchants.get(key) != biz.get(_MERCHANT):  # another merchant's order
            raise _business("ORDER_NOT_EXIST", "no such order")
        node = self._order(self.bank.ledger.transfer(transfer_id))
        return {k: v for k, v in node.items() if k not in ("code", "msg")}

    def _account(self, biz: Mapping[str, Any]) -> dict[str, Any]:
        user_id = _string(biz, "alipay_user_id", 32)
        if biz.get("account_type", "ACCTRANS_ACCOUNT") != "ACCTRANS_ACCOUNT":
            raise _invalid("account_type", "ACCTRANS_ACCOUNT only")
        try:
            view = self.bank.ledger.account(user_id)
        except AccountNotFoundError:
            raise _business("ACCOUNT_NOT_EXIST", "no such account") from None
        return {
            "available_amount": view.available.to_decimal_string(),
            "freeze_amount": view.reserved.to_decimal_string(),
        }

    def _account_log(self, biz: Mapping[str, Any]) -> dict[str, Any]:
        user_id = _string(biz, "bill_user_id", 32)
        start = _time(biz, "start_time")
        end = _time(biz, "end_time")
        page_no, page_size = _positive(biz, "page_no", 10**6), _positive(biz, "page_size", 2000)
        try:
            entries = self.bank.ledger.entries(user_id)
        except AccountNotFoundError:
            raise _business("ACCOUNT_NOT_EXIST", "no such account") from None
        selected = [e for e in entries if start <= e.booked_at <= end]
        page = selected[(page_no - 1) * page_size : page_no * page_size]
        details = [
            {
                "trans_dt": china_timestamp(entry.booked_at),
                "account_log_id": entry.id,
                "alipay_order_no": self._order_id(entry.transfer_id),
                "merchant_order_no": entry.end_to_end_id,
                "trans_amount": entry.amount.to_decimal_string(),
                "direction": "收入" if entry.direction.value == "credit" else "支出",
                "other_account": mask(entry.counterparty_account.value)
                if entry.counterparty_account
                else "",
                "trans_memo": entry.remittance,
                "type": "转账",
            }
            for entry in page
        ]
        return {
            "page_no": str(page_no),
            "page_size": str(page_size),
            "total_size": str(len(selected)),
            "detail_list": details,
        }

    # -- orders ---------------------------------------------------------------------------------

    @staticmethod
    def _order_id(transfer_id: str) -> str:
        return f"0200700115{int(transfer_id.split('_')[1]):016d}"

    def _order(self, transfer: BankTransferView) -> dict[str, Any]:
        """The order as the query API shows it."""
        number = int(transfer.id.split("_")[1])
        node: dict[str, Any] = {
            "order_id": self._order_id(transfer.id),
            "pay_fund_order_id": f"1100700015{number:016d}",
            "out_biz_no": transfer.instruction.idempotency_key,
            "trans_amount": transfer.amount.to_decimal_string(),
            "status": _GATEWAY_STATUS[transfer.status],
            "order_fee": "0.00",
        }
        if transfer.status in (TransferStatus.SETTLED, TransferStatus.RETURNED):
            node["pay_date"] = china_timestamp(transfer.updated_at)
        if transfer.status is TransferStatus.REJECTED:
            node["error_code"] = _error_code(transfer, declined=transfer.id in self._declined)
            node["fail_reason"] = transfer.reason_message or node["error_code"]
        return node


def _error_code(transfer: BankTransferView, *, declined: bool) -> str:
    if transfer.reason is ReasonCode.INSUFFICIENT_FUNDS:
        return "PAYER_BALANCE_NOT_ENOUGH"
    if declined:  # refused at submission: the payer's side
        return "PAYER_STATUS_ERROR"
    return "PAYEE_ACCOUNT_STATUS_ERROR"


# -- request parsing ----------------------------------------------------------------------------


def _params(request: MockRequest) -> dict[str, str]:
    """Query-string and body parameters together (SDKs split them either way)."""
    pairs: list[tuple[str, str]] = [(k, v) for k, vs in request.query.items() for v in vs]
    content_type = request.headers.get("Content-Type", "").lower()
    try:
        text = request.body.decode("utf-8")
        if "json" in content_type:
            loaded = json.loads(text) if text else {}
            if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
                raise ValueError
            pairs.extend(loaded.items())
        elif text:
            pairs.extend(parse_qsl(text, keep_blank_values=True, strict_parsing=True))
    except (UnicodeDecodeError, ValueError):
        raise _Fail("40002", "isv.invalid-parameter", "unreadable body", signed=False) from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise _Fail("40002", "isv.invalid-parameter", f"{name} repeated", signed=False)
        params[name] = value
    return params


def _string(obj: Mapping[str, Any], name: str, most: int) -> str:
    value = obj.get(name)
    if value is None or value == "":
        raise _invalid(name, "is required")
    if not isinstance(value, str) or len(value) > most:
        raise _invalid(name, f"a string of at most {most} characters")
    return value


def _amount(text: str) -> Money:
    if not _YUAN.fullmatch(text):
        raise _invalid("trans_amount", "yuan with at most 2 decimals")
    amount = Money(text, "CNY")
    if amount < _MIN_TRANSFER:
        raise _business("EXCEED_LIMIT_SM_MIN_AMOUNT", "a transfer is at least 0.10 yuan")
    return amount


def _party(biz: Mapping[str, Any], name: str) -> tuple[str, str, str]:
    raw = biz.get(name)
    if not isinstance(raw, dict):
        raise _invalid(name, "an object with identity and identity_type")
    identity = _string(raw, "identity", 100)
    kind = _string(raw, "identity_type", 32)
    if kind not in _IDENTITY_TYPES:
        raise _invalid(f"{name}.identity_type", "not an identity type")
    person = raw.get("name", "")
    if not isinstance(person, str) or len(person) > 128:
        raise _invalid(f"{name}.name", "a string of at most 128 characters")
    if name == "payee_info" and kind in ("ALIPAY_LOGON_ID", "BANKCARD_ACCOUNT") and not person:
        raise _invalid("payee_info.name", f"is required for {kind}")
    return identity, kind, person


def _time(biz: Mapping[str, Any], name: str) -> datetime:
    try:
        return parse_china_timestamp(_string(biz, name, 19))
    except WalletLinkError:
        raise _invalid(name, "yyyy-MM-dd HH:mm:ss") from None


def _positive(biz: Mapping[str, Any], name: str, most: int) -> int:
    text = biz.get(name, "1")
    if not isinstance(text, str) or not text.isdigit() or not 1 <= int(text) <= most:
        raise _invalid(name, f"a number from 1 to {most}")
    return int(text)


def cn_openapi_config(bank: MockBank | ServedBank, **options: Any) -> BankConfig:
    """A client ``BankConfig`` for a ``cn_openapi`` mock bank (or its loopback server)."""
    from walletlink.testing.mockbank import MockBank

    mock = bank if isinstance(bank, MockBank) else bank.bank
    server = mock.server
    if not isinstance(server, CnOpenApiServer):
        raise TypeError(f"{mock!r} does not speak cn_openapi")
    return bank.config(**server.client_config_fields(**options))
