"""The server side of ``wechatpay_v3``: a mock WeChat Pay platform for transfer bills.

It checks a request the way the platform does: the ``Authorization`` header
(``WECHATPAY2-SHA256-RSA2048`` over the method, the URL as received, the timestamp, the
nonce and the exact body) with the merchant key its ``serial_no`` names, the ``mchid`` it
claims, the timestamp window and the nonce (a nonce seen inside the window is a replay).
A failed check is ``401 SIGN_ERROR``. Then it runs transfer bills through an
``out_bill_no`` store (same bill → the original; other parameters → ``400
INVALID_REQUEST``) and the shell's ledger, and signs every reply and notification.

Platform key modes (``mode=``):

* ``"certificate"``: replies are signed with a platform certificate, listed (encrypted
  with the API v3 key) by ``GET /v3/certificates``. With ``rotate_after=`` seconds a second
  certificate is listed from two days before that moment, replies switch to it then, and
  the first expires a day later: a client that never refreshes stops trusting replies.
* ``"public_key"``: replies are signed with the WeChat Pay public key ``PUB_KEY_ID_…``;
  ``/v3/certificates`` answers 403.
* ``"migrating"``: both; replies alternate between the two serials, so a client must
  route by ``Wechatpay-Serial``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from walletlink.accounts import LocalAccount
from walletlink.config import BankConfig
from walletlink.errors import WalletLinkError
from walletlink.models import ReasonCode, TransferStatus
from walletlink.money import Money
from walletlink.protocols.wechatpay_v3._mock_keys import certificate, pem, role_key, serial_of
from walletlink.protocols.wechatpay_v3._sensitive import OAEP_SHA1
from walletlink.protocols.wechatpay_v3._wire import decode_out_bill_no
from walletlink.signing.webhooks import (
    encrypt_wechatpay_resource,
    verify_wechatpay_authorization,
    wechatpay_response_headers,
)
from walletlink.testing._http import MockRequest, MockResponse
from walletlink.testing.faults import FaultKind
from walletlink.testing.idempotency import ClaimState, IdempotencyStore, request_fingerprint
from walletlink.testing.ledger import BankTransferView, TransferInstruction

if TYPE_CHECKING:
    from walletlink.testing.mockbank import MockBank, OutgoingWebhook, ServedBank

__all__ = ["DEFAULT_MCHID", "MODES", "WeChatPayV3Server", "wechatpay_v3_config"]

DEFAULT_MCHID: Final = "1900009191"
DEFAULT_APPID: Final = "wxd678efh567hg6787"
MODES: Final = frozenset({"certificate", "public_key", "migrating"})
MERCHANT_SERIAL: Final = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
PUBLIC_KEY_ID: Final = "PUB_KEY_ID_0114236852025011500000000042"
_BILLS: Final = "/v3/fund-app/mch-transfer/transfer-bills"
_BILL_PATH: Final = re.compile(
    r"/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/([^/]+)(/cancel)?"
)
_OUT_BILL_NO: Final = re.compile(r"[0-9A-Za-z]{5,32}")
_STATES: Final[Mapping[TransferStatus, str]] = {
    TransferStatus.PENDING: "ACCEPTED",
    TransferStatus.REQUIRES_ACTION: "WAIT_USER_CONFIRM",
    TransferStatus.PROCESSING: "TRANSFERING",
    TransferStatus.SETTLED: "SUCCESS",
    TransferStatus.REJECTED: "FAIL",
    TransferStatus.CANCELLED: "CANCELLED",
    TransferStatus.RETURNED: "FAIL",
    TransferStatus.UNKNOWN: "PROCESSING",
}
_FINAL: Final = frozenset({"SUCCESS", "FAIL", "CANCELLED"})
#: What the reply to 发起转账 carries of the bill (fail_reason and package_info when set).
_ANSWER_FIELDS: Final = (
    "out_bill_no",
    "transfer_bill_no",
    "create_time",
    "state",
    "fail_reason",
    "package_info",
)
#: The ledger's reason for a bill whose user_name is not the user's real name.
_NAME_MISMATCH: Final = ReasonCode.INVALID_CREDITOR


class _Fail(Exception):
    """Stop and answer with ``{"code", "message"}`` at ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _Platform:
    """The platform's signing keys by serial, which one signs now, and the certificate list."""

    def __init__(self, mode: str, start: datetime, rotate_after: float | None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode is one of {sorted(MODES)}")
        self.mode = mode
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.certificates: list[tuple[datetime, x509.Certificate]] = []  # (listed from, cert)
        self.switch_at: datetime | None = None
        self._turn = itertools.count()
        if mode != "public_key":
            old_end = start + timedelta(days=365 * 5)
            if rotate_after is not None:
                self.switch_at = start + timedelta(seconds=rotate_after)
                old_end = self.switch_at + timedelta(days=1)
            old = certificate(
                role_key("platform-old"),
                0x3775B6A45ACD588826D15E583A95F5DD2F0A4CBB,
                start - timedelta(days=30),
                old_end,
            )
            self.certificates.append((start - timedelta(days=30), old))
            self.keys[serial_of(old)] = role_key("platform-old")
            if self.switch_at is not None:
                new = certificate(
                    role_key("platform-new"),
                    0x5ED7B6A45ACD588826D15E583A95F5DD2F0A4CCC,
                    self.switch_at - timedelta(days=3),
                    self.switch_at + timedelta(days=365 * 5),
                )
                self.certificates.append((self.switch_at - timedelta(days=2), new))
                self.keys[serial_of(new)] = role_key("platform-new")
        if mode != "certificate":
            self.keys[PUBLIC_KEY_ID] = role_key("public-key")

    def listed(self, now: datetime) -> list[x509.Certificate]:
        return [
            cert for since, cert in self.certificates if since <= now <= cert.not_valid_after_utc
        ]

    def signing_serial(self, now: datetime) -> str:
        if self.mode == "public_key":
            return PUBLIC_KEY_ID
        listed = self.listed(now)
        cert = listed[-1] if self.switch_at is not None and now >= self.switch_at else listed[0]
        if self.mode == "migrating" and next(self._turn) % 2:
            return PUBLIC_KEY_ID
        return serial_of(cert)


class WeChatPayV3Server:
    """Answers ``wechatpay_v3`` calls for one :class:`~walletlink.testing.MockBank`.

    ``api_v3_key`` encrypts notifications and the certificate list. ``tolerance`` is the
    platform's window for request timestamps (five minutes, as the SDKs assume).

    ``user_confirm=True`` runs bills the way the platform runs them for merchants whose
    scene needs the user's confirmation (用户确认收款): a new bill is ``WAIT_USER_CONFIRM``
    and its reply carries a ``package_info`` for the app's confirm page. The user confirming
    there is :meth:`confirm_receipt`; the bill then moves on and ends ``SUCCESS``. A bill not
    confirmed within ``confirm_within`` (24 hours) is cancelled by the platform: its money
    goes back to the merchant and it ends ``CANCELLED``, with a notification either way.
    """

    def __init__(
        self,
        bank: MockBank,
        *,
        mode: str = "certificate",
        rotate_after: float | None = None,
        mchid: str = DEFAULT_MCHID,
        appid: str = DEFAULT_APPID,
        api_v3_key: str = "walletlinkMockApiV3Key0123456789",
        tolerance: timedelta = timedelta(minutes=5),
        user_confirm: bool = False,
        confirm_within: timedelta = timedelta(hours=24),
    ) -> None:
        self.bank = bank
        self.user_confirm, self.confirm_within = user_confirm, confirm_within
        # out_bill_no → (package_info, when the platform gives up waiting) while unconfirmed
        self._waiting: dict[str, tuple[str, datetime]] = {}
        self.mchid, self.appid = mchid, appid
        self.api_v3_key = api_v3_key
        self.tolerance = tolerance
        self.merchant_key = role_key("merchant")
        self.platform = _Platform(mode, bank.clock.now(), rotate_after)
        self._claims: IdempotencyStore[str] = IdempotencyStore(bank.clock.now)
        self._bills: dict[str, str] = {}  # out_bill_no → ledger transfer id
        self._nonces: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        from walletlink.protocols.wechatpay_v3._mock_payin import PayInDesk

        #: Orders (pay-in) and refunds: see :mod:`._mock_payin`.
        self.payin = PayInDesk(self)

    def pay_order(self, out_trade_no: str, openid: str | None = None) -> dict[str, Any]:
        """Test hook: the user pays an order (see :meth:`._mock_payin.PayInDesk.pay`)."""
        return self.payin.pay(out_trade_no, openid)

    # -- what a client of this platform needs -------------------------------------------------

    def client_config_fields(self, **options: Any) -> dict[str, Any]:
        """``BankConfig`` fields for this merchant; the pinned key follows the mode."""
        now = self.bank.clock.now()
        credentials: dict[str, str] = {
            "merchant_private_key": pem(self.merchant_key),
            "api_v3_key": self.api_v3_key,
        }
        settings: dict[str, Any] = {
            "mchid": self.mchid,
            "appid": self.appid,
            "merchant_serial_no": MERCHANT_SERIAL,
            "notify_url": "https://wallet.example/wechatpay/notify",
        }
        if self.platform.mode != "public_key":
            pinned = self.platform.listed(now)[0]
            settings["platform_serial"] = serial_of(pinned)
            credentials["platform_certificate"] = pem(pinned)
        if self.platform.mode != "certificate":
            settings["wechatpay_public_key_id"] = PUBLIC_KEY_ID
            credentials["wechatpay_public_key"] = pem(role_key("public-key").public_key())
        return {"credentials": credentials, "options": {**settings, **options}}

    # -- the ProtocolServer interface -------------------------------------------------------

    def handle(self, request: MockRequest) -> MockResponse:
        try:
            self._authenticate(request)
            status, payload = self._route(request)
        except _Fail as failure:
            status, payload = failure.status, {"code": failure.code, "message": failure.message}
        return self._reply(status, payload)

    def fault_response(self, kind: FaultKind, retry_after: int) -> MockResponse:
        if kind is FaultKind.RATE_LIMIT:
            reply = self._reply(429, {"code": "FREQUENCY_LIMITED", "message": "频率超限"})
            return MockResponse(
                status=429,
                headers={**reply.headers, "Retry-After": str(retry_after)},
                body=reply.body,
            )
        status = 503 if kind is FaultKind.UNAVAILABLE else 500
        return self._reply(status, {"code": "SYSTEM_ERROR", "message": "系统错误"})

    def webhooks_for(self, transfer: BankTransferView) -> list[OutgoingWebhook]:
        from walletlink.testing.mockbank import OutgoingWebhook

        payin = self.payin.webhooks_for(transfer)
        if payin is not None:
            return payin
        number = transfer.instruction.metadata.get("out_bill_no")
        if number is None or self._bills.get(number) != transfer.id:
            return []
        bill = self._bill(transfer)
        if bill["state"] not in _FINAL:
            return []
        # The id is derived from what the message says, so a re-delivery repeats it.
        event_id = hashlib.sha256(f"{self.mchid}:{transfer.id}:{bill['state']}".encode())
        nonce = event_id.hexdigest()[:12]
        resource = encrypt_wechatpay_resource(
            json.dumps(bill, ensure_ascii=False, separators=(",", ":")).encode(),
            self.api_v3_key,
            nonce=nonce,
            associated_data="mch_payment",
        )
        envelope: dict[str, Any] = {
            "id": str(_uuid_of(event_id.digest())),
            "create_time": _china_time(transfer.updated_at),
            "resource_type": "encrypt-resource",
            "event_type": "MCHTRANSFER.BILL.FINISHED",
            "summary": "商家转账单据终态通知",
            "resource": {"original_type": "mch_payment", **resource},
        }
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        headers = self._signed_headers(body, nonce=event_id.hexdigest()[12:44].upper())
        headers["Content-Type"] = "application/json"
        return [OutgoingWebhook(id=envelope["id"], headers=headers, body=body)]

    def run_due(self, now: datetime) -> list[BankTransferView]:
        """The platform's own timer (:meth:`MockBank.settle` calls it): bills left
        unconfirmed past ``confirm_within`` are cancelled, their money released."""
        with self._lock:
            expired = [number for number, (_, until) in self._waiting.items() if until <= now]
            for number in expired:
                del self._waiting[number]
        changed = []
        for number in expired:
            transfer = self.bank.ledger.transfer(self._bills[number])
            if transfer.status is TransferStatus.PENDING:
                changed.append(self.bank.ledger.cancel(transfer.id, now))
        return changed

    def confirm_receipt(self, package_info: str) -> BankTransferView:
        """The user confirmed the receipt on the page ``package_info`` opened: the bill
        leaves ``WAIT_USER_CONFIRM`` and runs to ``SUCCESS`` on the ledger's clock."""
        with self._lock:
            found = [n for n, (p, _) in self._waiting.items() if p == package_info]
            if not found:
                raise LookupError("no bill waits for the user under this package_info")
            del self._waiting[found[0]]
        return self.bank.ledger.release_hold(self._bills[found[0]], self.bank.clock.now())

    # -- the platform's checks ----------------------------------------------------------------

    def _authenticate(self, request: MockRequest) -> None:
        now = self.bank.clock.now()
        try:
            mchid = verify_wechatpay_authorization(
                request.headers.get("Authorization"),
                method=request.method,
                url=request.url,
                body=request.body,
                merchant_keys={MERCHANT_SERIAL: self.merchant_key.public_key()},
                now=now,
                tolerance=self.tolerance,
            )
        except WalletLinkError as exc:
            self.bank.count("signature_failures")
            raise _Fail(401, "SIGN_ERROR", f"签名错误: {exc.message}") from None
        if mchid != self.mchid:
            raise _Fail(401, "SIGN_ERROR", "mchid does not match the certificate")
        nonce = _nonce(request.headers.get("Authorization") or "")
        with self._lock:
            self._nonces = {n: t for n, t in self._nonces.items() if now - t <= self.tolerance}
            if nonce in self._nonces:
                self.bank.count("replayed_nonces")
                raise _Fail(401, "SIGN_ERROR", "nonce_str was used already")
            self._nonces[nonce] = now

    def _route(self, request: MockRequest) -> tuple[int, Any]:
        path = request.path.rstrip("/")
        if path == "/v3/certificates" and request.method == "GET":
            return self._certificates()
        answer = self.payin.route(request)
        if answer is not None:
            return answer
        if path == _BILLS and request.method == "POST":
            return 200, self._create(request.body, request.headers.get("Wechatpay-Serial"))
        found = _BILL_PATH.fullmatch(path)
        if found and found.group(2) and request.method == "POST":
            return 200, self._cancel(found.group(1))
        if found and not found.group(2) and request.method == "GET":
            return 200, self._bill(self._transfer_of(found.group(1)))
        raise _Fail(404, "NOT_FOUND", "no such API")

    # -- answers ------------------------------------------------------------------------------

    def _signed_headers(self, body: bytes, *, nonce: str | None = None) -> dict[str, str]:
        now = self.bank.clock.now()
        serial = self.platform.signing_serial(now)
        return wechatpay_response_headers(
            body, key=self.platform.keys[serial], serial=serial, now=now, nonce=nonce
        )

    def _reply(self, status: int, payload: Any) -> MockResponse:
        body = (
            b""
            if payload is None
            else json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        )
        headers = {"Request-ID": f"08{next(self._ids):030d}"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        # The platform cannot vouch for a merchant whose own signature it refused.
        if status != 401:
            headers.update(self._signed_headers(body))
        return MockResponse(status=status, headers=headers, body=body)

    def _certificates(self) -> tuple[int, Any]:
        if self.platform.mode == "public_key":
            raise _Fail(403, "NO_AUTH", "the merchant uses the WeChat Pay public key")
        now = self.bank.clock.now()
        data = []
        for cert in self.platform.listed(now):
            serial = serial_of(cert)
            sealed = encrypt_wechatpay_resource(
                pem(cert).encode(),
                self.api_v3_key,
                nonce=hashlib.sha256(serial.encode()).hexdigest()[:12],
                associated_data="certificate",
            )
            data.append(
                {
                    "serial_no": serial,
                    "effective_time": _china_time(cert.not_valid_before_utc),
                    "expire_time": _china_time(cert.not_valid_after_utc),
                    "encrypt_certificate": sealed,
                }
            )
        return 200, {"data": data}

    # -- transfer bills -------------------------------------------------------------------------

    def _create(self, body: bytes, serial: str | None) -> dict[str, Any]:
        bill = _object(body)
        number = _text(bill, "out_bill_no", 32)
        if not _OUT_BILL_NO.fullmatch(number):
            raise _Fail(400, "PARAM_ERROR", "out_bill_no: 5-32 of [0-9A-Za-z]")
        if "user_name" in bill:
            # Compared in plaintext: OAEP ciphertexts of one name differ between SDK calls.
            bill = {**bill, "user_name": self._decrypt(bill["user_name"], serial)}
        canonical = json.dumps(bill, sort_keys=True, separators=(",", ":")).encode()
        claim = self._claims.begin(
            self.mchid, number, request_fingerprint("POST", _BILLS, canonical)
        )
        if claim.state is ClaimState.MISMATCH:
            self.bank.count("idempotency_mismatches")
            raise _Fail(400, "INVALID_REQUEST", "out_bill_no was used with other parameters")
        if claim.state is ClaimState.IN_FLIGHT:
            raise _Fail(500, "SYSTEM_ERROR", "the bill is being processed")
        if claim.state is ClaimState.REPLAY:
            assert claim.response is not None
            self.bank.count("replays")
            return self._answer(self.bank.ledger.transfer(claim.response))
        try:
            transfer = self._submit(bill, number)
        except BaseException:
            self._claims.release(self.mchid, number)  # nothing executed: the number is free
            raise
        self._claims.complete(self.mchid, number, transfer.id)
        return self._answer(transfer)

    def _decrypt(self, sealed: object, serial: str | None) -> str:
        """A sensitive field, opened with the platform private key ``Wechatpay-Serial``
        names (RSAES-OAEP, SHA-1, MGF1-SHA-1), as the platform does."""
        now = self.bank.clock.now()
        usable = {PUBLIC_KEY_ID} if self.platform.mode != "certificate" else set()
        usable.update(serial_of(cert) for cert in self.platform.listed(now))
        if not serial or serial.upper() not in usable:
            raise _Fail(400, "PARAM_ERROR", "平台证书序列号Wechatpay-Serial错误")
        try:
            if not isinstance(sealed, str):
                raise ValueError
            plaintext = self.platform.keys[serial.upper()].decrypt(
                base64.b64decode(sealed, validate=True),
                OAEP_SHA1,
            )
            name = plaintext.decode()
        except ValueError:  # also binascii.Error and UnicodeDecodeError
            raise _Fail(400, "PARAM_ERROR", "请确认待处理的消息是否为加密后的密文") from None
        if not name:
            raise _Fail(400, "PARAM_ERROR", "user_name is empty")
        return name

    def _submit(self, bill: Mapping[str, Any], number: str) -> BankTransferView:
        if bill.get("appid") != self.appid:
            raise _Fail(400, "PARAM_ERROR", "appid does not belong to this merchant")
        _text(bill, "transfer_scene_id", 36)
        remark = _text(bill, "transfer_remark", 32)
        openid = _text(bill, "openid", 128)
        amount = bill.get("transfer_amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
            raise _Fail(400, "PARAM_ERROR", "transfer_amount: a positive integer of fen")
        if amount >= 200_000 and "user_name" not in bill:
            raise _Fail(400, "PARAM_ERROR", "user_name is required from 2000 yuan")
        reports = bill.get("transfer_scene_report_infos")
        if not isinstance(reports, list) or not reports:
            raise _Fail(400, "PARAM_ERROR", "transfer_scene_report_infos is required")
        ledger = self.bank.ledger
        if not ledger.has_account(openid) or ledger.account(openid).closed:
            raise _Fail(400, "PARAM_ERROR", "openid is not a user of this appid")
        money = Money.from_minor(amount, "CNY")
        with self._lock:
            if ledger.account(self.mchid).available < money:
                # Refused at the door: no bill, and the number stays free for a retry.
                raise _Fail(403, "NOT_ENOUGH", "商户运营账户资金不足")
            transfer = ledger.submit(
                TransferInstruction(
                    amount=money,
                    debtor_account=LocalAccount(self.mchid),
                    # The decrypted real name where the merchant sent one.
                    creditor_name=str(bill.get("user_name") or openid),
                    creditor_account=LocalAccount(openid),
                    remittance=remark,
                    end_to_end_id=number,
                    # The key the number carries, so the ledger lines up with a journal.
                    idempotency_key=_carried_key(number),
                    metadata={"out_bill_no": number},
                ),
                self.bank.clock.now(),
                on_hold=self.user_confirm,
            )
            self._bills[number] = transfer.id
            real_name = ledger.account(openid).name
            misnamed = "user_name" in bill and bool(real_name) and bill["user_name"] != real_name
            if misnamed and transfer.status is TransferStatus.PENDING:
                # 实名校验: the bill exists, and fails on the user's real name.
                transfer = ledger.reject(transfer.id, self.bank.clock.now(), _NAME_MISMATCH)
            elif self.user_confirm and transfer.status is TransferStatus.PENDING:
                # What the app hands to wx.requestMerchantTransfer; opaque to the merchant.
                package = base64.b64encode(
                    hashlib.sha256(f"package:{self.mchid}:{number}".encode()).digest()
                ).decode()
                self._waiting[number] = (package, self.bank.clock.now() + self.confirm_within)
        if transfer.status is TransferStatus.REJECTED:
            self.bank.notify(transfer)  # outside the lock: the notification reads the bill
        return transfer

    def _answer(self, transfer: BankTransferView) -> dict[str, Any]:
        """The reply to 发起转账: the query's bill cut down, with the ``package_info`` for
        the confirm page while the user has to confirm."""
        bill = self._bill(transfer)
        return {k: bill[k] for k in _ANSWER_FIELDS if k in bill}

    def _transfer_of(self, number: str) -> BankTransferView:
        with self._lock:
            transfer_id = self._bills.get(number)
        if transfer_id is None:
            raise _Fail(404, "NOT_FOUND", "记录不存在")
        return self.bank.ledger.transfer(transfer_id)

    def _cancel(self, number: str) -> dict[str, Any]:
        transfer = self._transfer_of(number)
        if transfer.status is not TransferStatus.PENDING:
            raise _Fail(
                400, "INVALID_REQUEST", f"a {_STATES[transfer.status]} bill cannot be cancelled"
            )
        with self._lock:
            self._waiting.pop(number, None)
        cancelled = self.bank.ledger.cancel(transfer.id, self.bank.clock.now())
        self.bank.notify(cancelled)
        bill = self._bill(cancelled)
        return {k: bill[k] for k in ("out_bill_no", "transfer_bill_no", "state", "update_time")}

    def _bill(self, transfer: BankTransferView) -> dict[str, Any]:
        """The bill as the query API shows it."""
        number = int(transfer.id.split("_")[1])
        out_bill_no = transfer.instruction.metadata["out_bill_no"]
        state = _STATES[transfer.status]
        with self._lock:
            waiting = self._waiting.get(out_bill_no)
        if waiting is not None and transfer.status is TransferStatus.PENDING:
            state = "WAIT_USER_CONFIRM"
        bill: dict[str, Any] = {
            "mch_id": self.mchid,
            "out_bill_no": out_bill_no,
            "transfer_bill_no": f"1330000071100999991182020050700019{number:06d}",
            "appid": self.appid,
            "state": state,
            "transfer_amount": transfer.amount.minor_units,
            "transfer_remark": transfer.instruction.remittance,
            "openid": transfer.instruction.creditor_account.value,
            "create_time": _china_time(transfer.created_at),
            "update_time": _china_time(transfer.updated_at),
        }
        if bill["state"] == "FAIL":
            bill["fail_reason"] = (
                "NAME_NOT_CORRECT"
                if transfer.reason is _NAME_MISMATCH
                else "NOT_ENOUGH"
                if transfer.reason
                else "OTHER_FAIL_REASON_TYPE"
            )
        if state == "WAIT_USER_CONFIRM" and waiting is not None:
            bill["package_info"] = waiting[0]  # the query carries it too
        return bill


# -- helpers ------------------------------------------------------------------------------------


def _china_time(moment: datetime) -> str:
    """RFC 3339 in China time, as the platform writes it (``2025-01-01T10:00:00+08:00``)."""
    from walletlink.signing.params import CHINA_TZ

    return moment.astimezone(CHINA_TZ).isoformat(timespec="seconds")


def _uuid_of(digest: bytes) -> str:
    import uuid

    return str(uuid.UUID(bytes=digest[:16]))


def _carried_key(number: str) -> str:
    try:
        return decode_out_bill_no(number)
    except WalletLinkError:
        return number


def _nonce(header: str) -> str:
    found = re.search(r'nonce_str="([^"]*)"', header)
    return found.group(1) if found else ""


def _object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise _Fail(400, "PARAM_ERROR", "the body is not a JSON object")
    return value


def _text(obj: Mapping[str, Any], name: str, most: int) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= most:
        raise _Fail(400, "PARAM_ERROR", f"{name}: a string of 1 to {most} characters")
    return value


def wechatpay_v3_config(bank: MockBank | ServedBank, **options: Any) -> BankConfig:
    """A client ``BankConfig`` for a ``wechatpay_v3`` mock bank (or its loopback server)."""
    from walletlink.testing.mockbank import MockBank

    mock = bank if isinstance(bank, MockBank) else bank.bank
    server = mock.server
    if not isinstance(server, WeChatPayV3Server):
        raise TypeError(f"{mock!r} does not speak wechatpay_v3")
    return bank.config(**server.client_config_fields(**options))
