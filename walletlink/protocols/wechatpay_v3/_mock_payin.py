"""The mock platform's pay-in desk: Native/JSAPI orders, query, close, refunds, notifications.

:class:`~walletlink.protocols.wechatpay_v3.mock.WeChatPayV3Server` authenticates every
request (signature, serial, mchid, timestamp, nonce) before it hands one here, and signs
whatever this desk answers. The desk keeps the platform's rules:

* an order is keyed by ``out_trade_no``: the same order again answers the same
  ``code_url``/``prepay_id``; other parameters are ``400 INVALID_REQUEST``; a paid order
  is ``400 ORDERPAID``, a closed one ``400 ORDER_CLOSED``;
* a user pays through the test hook :meth:`PayInDesk.pay` (the payer's balance moves to the
  merchant on the shell's ledger), which sends the signed, encrypted ``TRANSACTION.SUCCESS``;
* a refund is keyed by ``out_refund_no`` *for ever* ("同一退款单号多次请求只退一笔"): the
  same refund again is the original, other parameters ``400 INVALID_REQUEST``; it must fit
  what is left of the order's total, the merchant's available balance (else ``403
  NOT_ENOUGH``, nothing created) and a payer whose account is open (else ``403
  USER_ACCOUNT_ABNORMAL``). It runs on the ledger, merchant → payer, and notifies
  ``REFUND.SUCCESS``, ``REFUND.CLOSED`` or ``REFUND.ABNORMAL`` (the payer's account was
  closed while it ran) when it ends.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

import attrs

from walletlink.accounts import LocalAccount
from walletlink.adapters._wire import parse_time
from walletlink.errors import WalletLinkError
from walletlink.models import ReasonCode, TransferStatus
from walletlink.money import Money
from walletlink.protocols.wechatpay_v3.mock import (
    _china_time,
    _Fail,
    _object,
    _text,
    _uuid_of,
)
from walletlink.signing.webhooks import encrypt_wechatpay_resource
from walletlink.testing._http import MockRequest
from walletlink.testing.idempotency import request_fingerprint
from walletlink.testing.ledger import BankTransferView, TransferInstruction

if TYPE_CHECKING:
    from walletlink.protocols.wechatpay_v3.mock import WeChatPayV3Server
    from walletlink.testing.mockbank import OutgoingWebhook

__all__ = ["PayInDesk"]

_NATIVE: Final = "/v3/pay/transactions/native"
_JSAPI: Final = "/v3/pay/transactions/jsapi"
_ORDER_PATH: Final = re.compile(r"/v3/pay/transactions/out-trade-no/([^/]+)(/close)?")
_REFUNDS: Final = "/v3/refund/domestic/refunds"
_REFUND_PATH: Final = re.compile(r"/v3/refund/domestic/refunds/([^/]+)")
_OUT_TRADE_NO: Final = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")
_OUT_REFUND_NO: Final = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")
_PAID: Final = frozenset({"SUCCESS", "REFUND"})
_DESCRIPTIONS: Final = {
    "NOTPAY": "订单未支付",
    "SUCCESS": "支付成功",
    "REFUND": "订单发生过退款",
    "CLOSED": "订单已关闭",
    "PAYERROR": "支付失败，请重新下单支付",
}
_NOTIFIED_AMOUNTS: Final = ("total", "refund", "payer_total", "payer_refund")
_REFUND_EVENTS: Final = {
    "SUCCESS": ("REFUND.SUCCESS", "退款成功"),
    "CLOSED": ("REFUND.CLOSED", "退款关闭"),
    "ABNORMAL": ("REFUND.ABNORMAL", "退款异常"),
}


@attrs.define
class _Order:
    number: str
    trade_type: str
    fingerprint: str
    total: int
    description: str
    attach: str | None
    openid: str | None
    expire_at: datetime | None
    reply: dict[str, str]
    state: str = "NOTPAY"
    transaction_id: str | None = None
    success_time: datetime | None = None


@attrs.define
class _Refund:
    fingerprint: str
    transfer_id: str  # the ledger transfer, merchant → payer
    order: str
    refund_id: str


class PayInDesk:
    """Orders and refunds of the mock merchant; thread-safe (one re-entrant lock)."""

    def __init__(self, server: WeChatPayV3Server) -> None:
        self.server = server
        self.bank = server.bank
        self._orders: dict[str, _Order] = {}
        self._refunds: dict[str, _Refund] = {}
        self._announce: set[str] = set()  # pay-ins whose TRANSACTION.SUCCESS is due
        self._lock = threading.RLock()
        self._seq = itertools.count(1)

    # -- routing ----------------------------------------------------------------------------

    def route(self, request: MockRequest) -> tuple[int, Any] | None:
        """The answer to a pay-in or refund call, or ``None`` for a path not served here."""
        path, method = request.path.rstrip("/"), request.method
        if method == "POST" and path in (_NATIVE, _JSAPI):
            return 200, self._create(request.body, jsapi=path == _JSAPI)
        found = _ORDER_PATH.fullmatch(path)
        if found and found.group(2) and method == "POST":
            self._close(unquote(found.group(1)), request.body)
            return 204, None
        if found and not found.group(2) and method == "GET":
            if request.param("mchid") != self.server.mchid:
                raise _Fail(400, "PARAM_ERROR", "mchid is required and must be this merchant")
            return 200, self.transaction(self._order(unquote(found.group(1))))
        if path == _REFUNDS and method == "POST":
            return 200, self._refund(request.body)
        found = _REFUND_PATH.fullmatch(path)
        if found and method == "GET":
            return 200, self._refund_view(self._refund_of(unquote(found.group(1))))
        return None

    # -- orders -------------------------------------------------------------------------------

    def _create(self, body: bytes, *, jsapi: bool) -> dict[str, str]:
        order = _object(body)
        if order.get("appid") != self.server.appid or order.get("mchid") != self.server.mchid:
            raise _Fail(400, "PARAM_ERROR", "appid和mch_id不匹配")
        number = _text(order, "out_trade_no", 32)
        if not _OUT_TRADE_NO.fullmatch(number):
            raise _Fail(400, "PARAM_ERROR", "out_trade_no: 6-32 of [0-9A-Za-z_-|*]")
        description = _text(order, "description", 127)
        notify_url = _text(order, "notify_url", 256)
        if not notify_url.startswith("https://"):
            raise _Fail(400, "PARAM_ERROR", "notify_url must be an https URL")
        total = _fen(order.get("amount"), "total")
        expire_at = None
        if "time_expire" in order:
            try:
                expire_at = parse_time(order["time_expire"])
            except WalletLinkError:
                expire_at = None
            if expire_at is None or expire_at.tzinfo is None:
                raise _Fail(400, "PARAM_ERROR", "time_expire: RFC 3339 with its offset")
        openid = None
        if jsapi:
            payer = order.get("payer")
            if not isinstance(payer, Mapping):
                raise _Fail(400, "PARAM_ERROR", "payer.openid is required for JSAPI")
            openid = _text(payer, "openid", 128)
            if not self.bank.ledger.has_account(openid):
                raise _Fail(400, "PARAM_ERROR", "openid is not a user of this appid")
        fingerprint = request_fingerprint("POST", _JSAPI if jsapi else _NATIVE, body)
        with self._lock:
            known = self._orders.get(number)
            if known is not None:
                return self._again(known, fingerprint)
            seq = next(self._seq)
            if jsapi:
                stamp = self.bank.clock.now().strftime("%Y%m%d%H%M%S")
                reply = {"prepay_id": f"wx{stamp}{seq:022d}"}
            else:
                token = hashlib.sha256(f"{self.server.mchid}:{number}".encode()).hexdigest()
                reply = {"code_url": f"weixin://wxpay/bizpayurl?pr={token[:7]}"}
            self._orders[number] = _Order(
                number=number,
                trade_type="JSAPI" if jsapi else "NATIVE",
                fingerprint=fingerprint,
                total=total,
                description=description,
                attach=order.get("attach"),
                openid=openid,
                expire_at=expire_at,
                reply=reply,
            )
            return dict(reply)

    def _again(self, order: _Order, fingerprint: str) -> dict[str, str]:
        """The same ``out_trade_no`` once more: the original order, or why not."""
        if order.state in _PAID:
            raise _Fail(400, "ORDERPAID", "该订单已支付")
        if order.state == "CLOSED":
            raise _Fail(400, "ORDER_CLOSED", "订单已关闭")
        if order.fingerprint != fingerprint:
            self.bank.count("idempotency_mismatches")
            raise _Fail(400, "INVALID_REQUEST", "201 商户订单号重复")
        self.bank.count("replays")
        return dict(order.reply)

    def _order(self, number: str) -> _Order:
        with self._lock:
            order = self._orders.get(number)
        if order is None:
            raise _Fail(404, "ORDER_NOT_EXIST", "订单不存在")
        return order

    def _close(self, number: str, body: bytes) -> None:
        if _object(body).get("mchid") != self.server.mchid:
            raise _Fail(400, "PARAM_ERROR", "mchid is required and must be this merchant")
        with self._lock:
            order = self._order(number)
            if order.state in _PAID:
                raise _Fail(400, "ORDERPAID", "订单已支付")
            order.state = "CLOSED"  # closing a closed order again is fine

    def transaction(self, order: _Order) -> dict[str, Any]:
        """The order as the query API (and the payment notification) shows it."""
        node: dict[str, Any] = {
            "appid": self.server.appid,
            "mchid": self.server.mchid,
            "out_trade_no": order.number,
        }
        paid = order.transaction_id is not None
        if paid:
            node["transaction_id"] = order.transaction_id
            node["trade_type"] = order.trade_type
        node["trade_state"] = order.state
        node["trade_state_desc"] = _DESCRIPTIONS.get(order.state, order.state)
        if paid:
            node["bank_type"] = "OTHERS"
        if order.attach is not None:
            node["attach"] = order.attach
        if order.success_time is not None:
            node["success_time"] = _china_time(order.success_time)
        if order.openid is not None and paid:
            node["payer"] = {"openid": order.openid}
        amount: dict[str, Any] = {"total": order.total, "currency": "CNY"}
        if paid:
            amount["payer_total"] = order.total
        amount["payer_currency"] = "CNY"
        node["amount"] = amount
        return node

    def pay(self, out_trade_no: str, openid: str | None = None) -> dict[str, Any]:
        """Test hook: the user pays the order (a JSAPI order's payer, or ``openid``).

        The payer's account at the mock pays the merchant on the ledger; the order becomes
        ``SUCCESS`` (or ``PAYERROR`` when the balance is short) and a ``TRANSACTION.SUCCESS``
        notification is queued. Returns the order as the query API shows it.
        """
        now = self.bank.clock.now()
        with self._lock:
            order = self._orders.get(out_trade_no)
            if order is None or order.state != "NOTPAY":
                raise ValueError(f"order {out_trade_no!r} is not waiting for payment")
            if order.expire_at is not None and now > order.expire_at:
                raise ValueError(f"order {out_trade_no!r} expired at {order.expire_at}")
            payer = order.openid or openid
            if payer is None or not self.bank.ledger.has_account(payer):
                raise ValueError("the payer must hold an account at this mock platform")
            order.openid = payer
            view = self.bank.ledger.submit(
                TransferInstruction(
                    amount=Money.from_minor(order.total, "CNY"),
                    debtor_account=LocalAccount(payer),
                    creditor_name=self.server.mchid,
                    creditor_account=LocalAccount(self.server.mchid),
                    remittance=order.description,
                    end_to_end_id=out_trade_no,
                    metadata={"out_trade_no": out_trade_no},
                ),
                now,
            )
            if view.status is TransferStatus.REJECTED:
                order.state = "PAYERROR"
                return self.transaction(order)
            order.state = "SUCCESS"
            order.transaction_id = f"4200000{next(self._seq):021d}"
            order.success_time = now
            self._announce.add(view.id)
        self.bank.notify(view)
        return self.transaction(order)

    # -- refunds ------------------------------------------------------------------------------

    def _refund(self, body: bytes) -> dict[str, Any]:
        refund = _object(body)
        number = _text(refund, "out_refund_no", 64)
        if not _OUT_REFUND_NO.fullmatch(number):
            raise _Fail(400, "PARAM_ERROR", "out_refund_no: 1-64 of [0-9A-Za-z_-|*@]")
        fingerprint = request_fingerprint("POST", _REFUNDS, body)
        with self._lock:
            known = self._refunds.get(number)
            if known is not None:
                if known.fingerprint != fingerprint:
                    self.bank.count("idempotency_mismatches")
                    raise _Fail(
                        400, "INVALID_REQUEST", "out_refund_no was used with other parameters"
                    )
                self.bank.count("replays")
                return self._refund_view(known)
            return self._refund_view(self._submit_refund(refund, number, fingerprint))

    def _order_for_refund(self, refund: Mapping[str, Any]) -> _Order:
        number, transaction = refund.get("out_trade_no"), refund.get("transaction_id")
        if number is None and transaction is None:
            raise _Fail(400, "PARAM_ERROR", "out_trade_no or transaction_id is required")
        order = self._orders.get(str(number)) if number is not None else None
        if number is None:
            order = next(
                (o for o in self._orders.values() if o.transaction_id == transaction), None
            )
        if order is None or (transaction is not None and order.transaction_id != transaction):
            raise _Fail(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        return order

    def _submit_refund(self, refund: Mapping[str, Any], number: str, fingerprint: str) -> _Refund:
        order = self._order_for_refund(refund)
        if order.state not in _PAID:
            raise _Fail(400, "INVALID_REQUEST", "订单未支付，不能退款")
        amount = refund.get("amount")
        wanted = _fen(amount, "refund")
        if _fen(amount, "total") != order.total:
            raise _Fail(400, "PARAM_ERROR", "amount.total 与原订单金额不一致")
        if "reason" in refund:
            _text(refund, "reason", 80)
        if self._refunded(order.number) + wanted > order.total:
            raise _Fail(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
        ledger = self.bank.ledger
        assert order.openid is not None  # a paid order has its payer
        if ledger.account(order.openid).closed:
            raise _Fail(403, "USER_ACCOUNT_ABNORMAL", "退款请求失败，用户帐号注销")
        money = Money.from_minor(wanted, "CNY")
        if ledger.account(self.server.mchid).available < money:
            # Refused at the door: no refund, and the number stays free for a retry.
            raise _Fail(403, "NOT_ENOUGH", "基本账户余额不足，请充值后重新发起")
        view = ledger.submit(
            TransferInstruction(
                amount=money,
                debtor_account=LocalAccount(self.server.mchid),
                creditor_name=order.openid,
                creditor_account=LocalAccount(order.openid),
                remittance=str(refund.get("reason") or ""),
                end_to_end_id=number,
                idempotency_key=number,
                metadata={"out_refund_no": number, "out_trade_no": order.number},
            ),
            self.bank.clock.now(),
        )
        order.state = "REFUND"
        made = _Refund(
            fingerprint=fingerprint,
            transfer_id=view.id,
            order=order.number,
            refund_id=f"50300{next(self._seq):024d}",
        )
        self._refunds[number] = made
        return made

    def _refunded(self, order: str) -> int:
        """Fen of the order's refunds still standing (not closed)."""
        total = 0
        for refund in self._refunds.values():
            view = self.bank.ledger.transfer(refund.transfer_id)
            if refund.order == order and _refund_status(view) != "CLOSED":
                total += view.amount.minor_units
        return total

    def _refund_of(self, number: str) -> _Refund:
        with self._lock:
            refund = self._refunds.get(number)
        if refund is None:
            raise _Fail(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return refund

    def _refund_view(self, refund: _Refund, view: BankTransferView | None = None) -> dict[str, Any]:
        """The refund as the API shows it, now or (``view``) at one change of its life."""
        view = view or self.bank.ledger.transfer(refund.transfer_id)
        order = self._orders[refund.order]
        status = _refund_status(view)
        node: dict[str, Any] = {
            "refund_id": refund.refund_id,
            "out_refund_no": view.instruction.metadata["out_refund_no"],
            "transaction_id": order.transaction_id,
            "out_trade_no": order.number,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
        }
        if status == "SUCCESS":
            node["success_time"] = _china_time(view.updated_at)
        node["create_time"] = _china_time(view.created_at)
        node["status"] = status
        node["funds_account"] = "AVAILABLE"
        refunded = view.amount.minor_units
        node["amount"] = {
            "total": order.total,
            "refund": refunded,
            "payer_total": order.total,
            "payer_refund": refunded,
            "settlement_refund": refunded,
            "settlement_total": order.total,
            "discount_refund": 0,
            "currency": "CNY",
            "refund_fee": 0,
        }
        node["promotion_detail"] = []
        return node

    # -- notifications ------------------------------------------------------------------------

    def webhooks_for(self, transfer: BankTransferView) -> list[OutgoingWebhook] | None:
        """The notifications for a pay-in or refund that changed; ``None`` if not ours."""
        metadata = transfer.instruction.metadata
        if "out_refund_no" in metadata:
            with self._lock:
                refund = self._refunds.get(metadata["out_refund_no"])
            if refund is None or refund.transfer_id != transfer.id:
                return []
            node = self._refund_view(refund, transfer)  # this change, not the latest
            if node["status"] not in _REFUND_EVENTS:
                return []
            event_type, summary = _REFUND_EVENTS[node["status"]]
            resource = {
                "mchid": self.server.mchid,
                "transaction_id": node["transaction_id"],
                "out_trade_no": node["out_trade_no"],
                "refund_id": node["refund_id"],
                "out_refund_no": node["out_refund_no"],
                "refund_status": node["status"],
                **({"success_time": node["success_time"]} if "success_time" in node else {}),
                "user_received_account": node["user_received_account"],
                "amount": {
                    k: node["amount"][k] for k in ("total", "refund", "payer_total", "payer_refund")
                },
            }
            return [self._notification(event_type, summary, "refund", resource, transfer)]
        if "out_trade_no" in metadata:
            with self._lock:
                if transfer.id not in self._announce:
                    return []  # the pay-in settling later on the ledger: nothing to say
                self._announce.discard(transfer.id)
                order = self._orders[metadata["out_trade_no"]]
            resource = self.transaction(order)
            return [
                self._notification(
                    "TRANSACTION.SUCCESS", "支付成功", "transaction", resource, transfer
                )
            ]
        return None

    def _notification(
        self,
        event_type: str,
        summary: str,
        original_type: str,
        resource: Mapping[str, Any],
        transfer: BankTransferView,
    ) -> OutgoingWebhook:
        from walletlink.testing.mockbank import OutgoingWebhook

        # The id is derived from what the message says, so a re-delivery repeats it.
        seed = f"{self.server.mchid}:{transfer.id}:{event_type}".encode()
        event_id = hashlib.sha256(seed)
        sealed = encrypt_wechatpay_resource(
            json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode(),
            self.server.api_v3_key,
            nonce=event_id.hexdigest()[:12],
            associated_data=original_type,
        )
        envelope: dict[str, Any] = {
            "id": _uuid_of(event_id.digest()),
            "create_time": _china_time(transfer.updated_at),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {"original_type": original_type, **sealed},
        }
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        headers = self.server._signed_headers(body, nonce=event_id.hexdigest()[12:44].upper())
        headers["Content-Type"] = "application/json"
        return OutgoingWebhook(id=envelope["id"], headers=headers, body=body)


def _refund_status(view: BankTransferView) -> str:
    if view.status is TransferStatus.SETTLED:
        return "SUCCESS"
    if view.status is TransferStatus.REJECTED and view.reason is ReasonCode.ACCOUNT_CLOSED:
        return "ABNORMAL"  # the payer's account went away while the refund ran
    if view.status in (TransferStatus.REJECTED, TransferStatus.CANCELLED):
        return "CLOSED"
    return "PROCESSING"


def _fen(amount: object, name: str) -> int:
    if not isinstance(amount, Mapping):
        raise _Fail(400, "PARAM_ERROR", "amount is required")
    if amount.get("currency", "CNY") != "CNY":
        raise _Fail(400, "PARAM_ERROR", "amount.currency: CNY only")
    value = amount.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _Fail(400, "PARAM_ERROR", f"amount.{name}: a positive integer of fen")
    return value
