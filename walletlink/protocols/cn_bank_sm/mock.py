"""The server side of ``cn_bank_sm``: a mock SM2/SM4 bank gateway.

It checks a request the way such a gateway does, in this order: a readable envelope, a
known app id, the app's SM2 signature, a timestamp inside the window, a nonce not seen
inside the window; then it decrypts the business content and routes by path. Transfers go
through an ``outBizNo`` store per app (same content → the original order, other content →
``DUPLICATE_OUT_BIZ_NO``) and the shell's ledger. Every answer is an envelope signed with
the bank's SM2 key, business content SM4-encrypted; status changes become signed,
encrypted ``TRANSFER_STATUS`` notifications. The envelope code is
:mod:`walletlink.protocols.cn_bank_sm._wire`, the same code the adapter uses.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from walletlink.accounts import LocalAccount, mask
from walletlink.config import BankConfig
from walletlink.errors import CurrencyMismatchError, WalletLinkError
from walletlink.models import ReasonCode, TransferStatus
from walletlink.money import Money
from walletlink.protocols.cn_bank_sm._wire import (
    PROFILES,
    Profile,
    decrypt_biz,
    encrypt_biz,
    format_time,
    new_nonce,
    open_envelope,
    parse_time,
    seal,
)
from walletlink.signing.params import CHINA_TZ
from walletlink.signing.sm import DEFAULT_USER_ID, Sm2PrivateKey
from walletlink.testing._http import MockRequest, MockResponse
from walletlink.testing.faults import FaultKind
from walletlink.testing.idempotency import ClaimState, IdempotencyStore, request_fingerprint
from walletlink.testing.ledger import AccountNotFoundError, BankTransferView, TransferInstruction

if TYPE_CHECKING:
    from walletlink.testing.mockbank import MockBank, OutgoingWebhook, ServedBank

__all__ = ["DEFAULT_APP_ID", "CnBankSmServer", "GatewayFailure", "cn_bank_sm_config"]

DEFAULT_APP_ID: Final = "WL0000000001"
_STATUS: Final[Mapping[TransferStatus, str]] = {
    TransferStatus.PENDING: "ACCEPTED",
    TransferStatus.REQUIRES_ACTION: "ACCEPTED",
    TransferStatus.PROCESSING: "PROCESSING",
    TransferStatus.SETTLED: "SUCCESS",
    TransferStatus.REJECTED: "FAILED",
    TransferStatus.CANCELLED: "CLOSED",
    TransferStatus.RETURNED: "REFUNDED",
    TransferStatus.UNKNOWN: "PROCESSING",
}
_NOTIFIED: Final = frozenset(
    {
        TransferStatus.SETTLED,
        TransferStatus.REJECTED,
        TransferStatus.CANCELLED,
        TransferStatus.RETURNED,
    }
)
_KEY_CHARS: Final = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-")


class _Fail(Exception):
    """Stop and answer with a result code (the envelope is still signed)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@functools.cache
def _test_keys() -> tuple[Sm2PrivateKey, Sm2PrivateKey]:
    """One app key pair and one bank key pair per process: test keys, never secrets."""
    return Sm2PrivateKey.generate(), Sm2PrivateKey.generate()


class GatewayFailure:
    """A result code to answer the next ``times`` authenticated calls with (``SYSTEM_BUSY``)."""

    def __init__(self, code: str, times: int = 1) -> None:
        self.code, self.times = code, times


class CnBankSmServer:
    """Answers ``cn_bank_sm`` gateway calls for one :class:`~walletlink.testing.MockBank`.

    ``profile`` is ``"cib"`` or ``"cmb"`` (see :data:`._wire.PROFILES`); the gateway keeps
    only the public half of ``app_key``, as the bank's console does once it is uploaded.
    """

    def __init__(
        self,
        bank: MockBank,
        *,
        profile: str = "cib",
        app_id: str = DEFAULT_APP_ID,
        app_key: Sm2PrivateKey | None = None,
        bank_key: Sm2PrivateKey | None = None,
        sm4_key: bytes | None = None,
        timestamp_tolerance: timedelta = timedelta(minutes=5),
    ) -> None:
        default_app, default_bank = _test_keys()
        self.bank = bank
        self.profile: Profile = PROFILES[profile]
        self.app_id = app_id
        self._app_private = app_key or default_app
        self.app_public_key = self._app_private.public_key
        self.bank_key = bank_key or default_bank
        self.sm4_key = sm4_key or secrets.token_bytes(16)
        self.tolerance = timestamp_tolerance
        #: Injected result codes, consumed one call at a time (see :class:`GatewayFailure`).
        self.failures: list[GatewayFailure] = []
        self._claims: IdempotencyStore[str] = IdempotencyStore(bank.clock.now)
        self._orders: dict[str, str] = {}  # outBizNo → ledger transfer id
        self._declined: set[str] = set()  # refused at submission: a code, not an order
        self._nonces: dict[str, datetime] = {}
        self._lock = threading.Lock()
        paths = self.profile.paths
        self._routes: dict[str, Callable[[Mapping[str, Any]], tuple[str, dict[str, Any]]]] = {
            paths["create_transfer"]: self._transfer,
            paths["query_transfer"]: self._query,
            paths["balance"]: self._balance,
            paths["transactions"]: self._transactions,
        }

    def client_config_fields(self, **options: Any) -> dict[str, Any]:
        """``BankConfig`` fields for a client of this app; :meth:`MockBank.config` merges them."""
        return {
            "credentials": {
                "app_private_key": self._app_private.to_pem(),
                "bank_public_key": self.bank_key.public_key.to_pem(),
                "sm4_key": self.sm4_key.hex(),
            },
            "options": {"app_id": self.app_id, "profile": self.profile.name, **options},
        }

    # -- the ProtocolServer interface -------------------------------------------------------

    def handle(self, request: MockRequest) -> MockResponse:
        route = self._routes.get(request.path.rstrip("/"))
        if route is None:
            return MockResponse(status=404, headers={"Content-Type": "text/plain"}, body=b"")
        if request.method != "POST":
            return MockResponse(status=405, headers={"Content-Type": "text/plain"}, body=b"")
        try:
            fields = self._authenticate(request)
            biz = self._biz(fields)
            self._inject()
            code, data = route(biz)
        except _Fail as failure:
            return self._answer(failure.code, failure.message, None)
        return self._answer(code, "success" if code == self.profile.success_code else code, data)

    def fault_response(self, kind: FaultKind, retry_after: int) -> MockResponse:
        # Injected faults come from the front end: plain, unsigned HTTP statuses.
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
        order = self._order(transfer)
        # The id is derived from what the message says, so a re-delivery repeats it.
        digest = hashlib.sha256(f"{self.app_id}:{transfer.id}:{order['status']}".encode())
        biz = {"notifyId": digest.hexdigest()[:32], "notifyType": "TRANSFER_STATUS", **order}
        profile = self.profile
        fields = {
            profile.app_id_field: self.app_id,
            profile.timestamp_field: format_time(profile, transfer.updated_at),
            profile.nonce_field: digest.hexdigest()[32:],
            profile.biz_field: encrypt_biz(profile, self.sm4_key, biz),
        }
        headers, body = seal(profile, fields, self.bank_key, DEFAULT_USER_ID)
        return [OutgoingWebhook(id=biz["notifyId"], headers=headers, body=body)]

    # -- the gateway's checks -----------------------------------------------------------------

    def _authenticate(self, request: MockRequest) -> dict[str, str]:
        profile = self.profile
        try:
            raw = json.loads(request.body)
        except (UnicodeDecodeError, ValueError):
            raise _Fail("PARAM_ERROR", "the body is not JSON") from None
        if not isinstance(raw, dict) or raw.get(profile.app_id_field) != self.app_id:
            raise _Fail("APP_NOT_FOUND", "no such app")
        try:
            fields = open_envelope(
                profile, request.headers, request.body, self.app_public_key, DEFAULT_USER_ID
            )
        except WalletLinkError:
            raise _Fail("SIGN_ERROR", "signature check failed") from None
        try:
            sent = parse_time(profile, fields.get(profile.timestamp_field, ""))
        except WalletLinkError:
            raise _Fail("TIMESTAMP_EXPIRED", "bad timestamp") from None
        now = self.bank.clock.now()
        if abs(now - sent) > self.tolerance:
            raise _Fail("TIMESTAMP_EXPIRED", "timestamp out of range")
        self._use_nonce(fields.get(profile.nonce_field, ""), now)
        return fields

    def _use_nonce(self, nonce: str, now: datetime) -> None:
        if not 16 <= len(nonce) <= 64:
            raise _Fail("PARAM_ERROR", "nonce: 16 to 64 characters")
        with self._lock:
            # Nonces older than the window can go: their timestamps are refused anyway.
            expired = [n for n, seen in self._nonces.items() if now - seen > 2 * self.tolerance]
            for old in expired:
                del self._nonces[old]
            if nonce in self._nonces:
                self.bank.count("replays_refused")
                raise _Fail("NONCE_USED", "nonce already used")
            self._nonces[nonce] = now

    def _biz(self, fields: Mapping[str, str]) -> dict[str, Any]:
        try:
            return decrypt_biz(self.profile, self.sm4_key, fields.get(self.profile.biz_field, ""))
        except WalletLinkError:
            raise _Fail("PARAM_ERROR", "cannot decrypt the business content") from None

    def _inject(self) -> None:
        with self._lock:
            if not self.failures:
                return
            failure = self.failures[0]
            failure.times -= 1
            if failure.times <= 0:
                self.failures.pop(0)
        raise _Fail(failure.code, "injected")

    def _answer(self, code: str, message: str, data: Mapping[str, Any] | None) -> MockResponse:
        profile = self.profile
        fields = {
            profile.app_id_field: self.app_id,
            profile.timestamp_field: format_time(profile, self.bank.clock.now()),
            profile.nonce_field: new_nonce(),
            profile.code_field: code,
            profile.message_field: message,
        }
        if data is not None:
            fields[profile.biz_field] = encrypt_biz(profile, self.sm4_key, data)
        headers, body = seal(profile, fields, self.bank_key, DEFAULT_USER_ID)
        headers["X-Request-ID"] = new_nonce()[:16]
        return MockResponse(status=200, headers=headers, body=body)

    # -- routes -------------------------------------------------------------------------------

    def _transfer(self, biz: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        out_biz_no = _string(biz, "outBizNo", 64)
        if not set(out_biz_no) <= _KEY_CHARS:
            raise _Fail("PARAM_ERROR", "outBizNo: only [0-9A-Za-z_-]")
        canonical = json.dumps(biz, sort_keys=True, separators=(",", ":")).encode()
        fingerprint = request_fingerprint("POST", "transfer", canonical)
        claim = self._claims.begin(self.app_id, out_biz_no, fingerprint)
        if claim.state is ClaimState.MISMATCH:
            self.bank.count("idempotency_mismatches")
            raise _Fail("DUPLICATE_OUT_BIZ_NO", "outBizNo was used with other content")
        if claim.state is ClaimState.IN_FLIGHT:
            raise _Fail("SYSTEM_BUSY", "the order is being processed")
        if claim.state is ClaimState.REPLAY:
            assert claim.response is not None
            self.bank.count("replays")
            return self._transfer_answer(self.bank.ledger.transfer(claim.response))
        try:
            transfer = self._submit(biz, out_biz_no)
        except BaseException:
            self._claims.release(self.app_id, out_biz_no)  # nothing executed: the key is free
            raise
        self._claims.complete(self.app_id, out_biz_no, transfer.id)
        return self._transfer_answer(transfer)

    def _submit(self, biz: Mapping[str, Any], out_biz_no: str) -> BankTransferView:
        if biz.get("currency") != "CNY":
            raise _Fail("PARAM_ERROR", "currency: CNY only")
        amount = _amount(_string(biz, "amount", 16))
        payer, payee = _string(biz, "payerAccount", 32), _string(biz, "payeeAccount", 32)
        ledger = self.bank.ledger
        if not ledger.has_account(payer):
            raise _Fail("PAYER_NOT_FOUND", "no such payer account")
        if not ledger.has_account(payee):
            raise _Fail("PAYEE_NOT_FOUND", "no such payee account")
        name = _string(biz, "payeeName", 128)
        view = ledger.account(payee)
        if view.closed:
            raise _Fail("ACCOUNT_FROZEN", "the payee account is closed")
        if view.name and name != view.name:
            raise _Fail("PAYEE_NAME_MISMATCH", "the payee name does not match")
        remark = biz.get("remark", "")
        if not isinstance(remark, str) or len(remark) > 140:
            raise _Fail("PARAM_ERROR", "remark: at most 140 characters")
        instruction = TransferInstruction(
            amount=amount,
            debtor_account=LocalAccount(payer),
            creditor_name=name,
            creditor_account=LocalAccount(payee),
            remittance=remark,
            end_to_end_id=out_biz_no,
            idempotency_key=out_biz_no,
        )
        try:
            transfer = ledger.submit(instruction, self.bank.clock.now())
        except (AccountNotFoundError, CurrencyMismatchError):
            raise _Fail("PAYER_NOT_FOUND", "the payer cannot pay in CNY") from None
        with self._lock:
            self._orders[out_biz_no] = transfer.id
            if transfer.status is TransferStatus.REJECTED:
                self._declined.add(transfer.id)
        return transfer

    def _transfer_answer(self, transfer: BankTransferView) -> tuple[str, dict[str, Any]]:
        if transfer.id in self._declined:
            raise _Fail(_fail_code(transfer), transfer.reason_message or "declined")
        return self.profile.success_code, self._order(transfer)

    def _query(self, biz: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        out_biz_no = _string(biz, "outBizNo", 64)
        with self._lock:
            transfer_id = self._orders.get(out_biz_no)
        if transfer_id is None:
            raise _Fail("ORDER_NOT_FOUND", "no such order")
        transfer = self.bank.ledger.transfer(transfer_id)
        order_no = biz.get("orderNo")
        if order_no is not None and order_no != _order_no(transfer.id):
            raise _Fail("ORDER_NOT_FOUND", "no such order")
        return self.profile.success_code, self._order(transfer)

    def _balance(self, biz: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        number = _string(biz, "accountNo", 32)
        try:
            view = self.bank.ledger.account(number)
        except AccountNotFoundError:
            raise _Fail("PARAM_ERROR", "no such account") from None
        return self.profile.success_code, {
            "accountNo": number,
            "currency": view.currency,
            "availableBalance": view.available.to_decimal_string(),
            "ledgerBalance": view.booked.to_decimal_string(),
        }

    def _transactions(self, biz: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        number = _string(biz, "accountNo", 32)
        start, end = _day(biz, "startDate"), _day(biz, "endDate")
        page_no, size = _positive(biz, "pageNo", 10**6), _positive(biz, "pageSize", 500)
        try:
            entries = self.bank.ledger.entries(number)
        except AccountNotFoundError:
            raise _Fail("PARAM_ERROR", "no such account") from None
        selected = [e for e in entries if start <= _china_day(e.booked_at) <= end]
        page = selected[(page_no - 1) * size : page_no * size]
        records = [
            {
                "serialNo": entry.id,
                "direction": "C" if entry.direction.value == "credit" else "D",
                "amount": entry.amount.to_decimal_string(),
                "currency": entry.amount.currency,
                "bookingDate": _china_day(entry.booked_at),
                "outBizNo": entry.end_to_end_id,
                "orderNo": _order_no(entry.transfer_id),
                "counterpartyAccount": mask(entry.counterparty_account.value)
                if entry.counterparty_account
                else "",
                "counterpartyName": entry.counterparty_name or "",
                "remark": entry.remittance,
            }
            for entry in page
        ]
        return self.profile.success_code, {"total": str(len(selected)), "records": records}

    def _order(self, transfer: BankTransferView) -> dict[str, Any]:
        order: dict[str, Any] = {
            "outBizNo": transfer.instruction.idempotency_key,
            "orderNo": _order_no(transfer.id),
            "amount": transfer.amount.to_decimal_string(),
            "currency": transfer.amount.currency,
            "status": _STATUS[transfer.status],
        }
        if transfer.status in _NOTIFIED:
            order["finishTime"] = transfer.updated_at.astimezone(CHINA_TZ).isoformat()
        if transfer.status is TransferStatus.REJECTED:
            order["failCode"] = _fail_code(transfer)
            order["failReason"] = transfer.reason_message or order["failCode"]
        return order


def _order_no(transfer_id: str) -> str:
    return f"SM{int(transfer_id.split('_')[1]):018d}"


def _fail_code(transfer: BankTransferView) -> str:
    if transfer.reason is ReasonCode.INSUFFICIENT_FUNDS:
        return "INSUFFICIENT_BALANCE"
    return "ACCOUNT_FROZEN"


def _string(biz: Mapping[str, Any], name: str, most: int) -> str:
    value = biz.get(name)
    if not isinstance(value, str) or not value or len(value) > most:
        raise _Fail("PARAM_ERROR", f"{name}: a string of 1 to {most} characters")
    return value


def _amount(text: str) -> Money:
    whole, _, cents = text.partition(".")
    if not (whole.isdigit() and len(cents) == 2 and cents.isdigit()):
        raise _Fail("PARAM_ERROR", "amount: yuan with two decimals")
    amount = Money(text, "CNY")
    if amount <= Money("0.00", "CNY"):
        raise _Fail("PARAM_ERROR", "amount: more than zero")
    return amount


def _day(biz: Mapping[str, Any], name: str) -> str:
    value = _string(biz, name, 8)
    if len(value) != 8 or not value.isdigit():
        raise _Fail("PARAM_ERROR", f"{name}: yyyyMMdd")
    return value


def _china_day(moment: datetime) -> str:
    return moment.astimezone(CHINA_TZ).strftime("%Y%m%d")


def _positive(biz: Mapping[str, Any], name: str, most: int) -> int:
    text = biz.get(name, "1")
    if not isinstance(text, str) or not text.isdigit() or not 1 <= int(text) <= most:
        raise _Fail("PARAM_ERROR", f"{name}: a number from 1 to {most}")
    return int(text)


def cn_bank_sm_config(bank: MockBank | ServedBank, **options: Any) -> BankConfig:
    """A client ``BankConfig`` for a ``cn_bank_sm`` mock bank (or its loopback server)."""
    from walletlink.testing.mockbank import MockBank

    mock = bank if isinstance(bank, MockBank) else bank.bank
    server = mock.server
    if not isinstance(server, CnBankSmServer):
        raise TypeError(f"{mock!r} does not speak cn_bank_sm")
    return bank.config(**server.client_config_fields(**options))
