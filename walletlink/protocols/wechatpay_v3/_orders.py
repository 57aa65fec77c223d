"""WeChat Pay v3 orders (pay-in, 下单): Native and JSAPI orders, query, close, pay-sign.

A wallet top-up is money *coming in*: the user pays an order the merchant created. No
merchant money moves when an order is created, queried or closed, so these flows are not
journalled; they are idempotent by ``out_trade_no`` at the platform (the same order again
answers the same ``code_url``/``prepay_id``), which the caller names (its top-up id).
The flows run through :meth:`walletlink.Client.run_flow`, with the client's signing,
retries, reply verification and error mapping; :mod:`.topup` wraps them.

Field names follow the API v3 documents: ``amount.total`` in fen, ``amount.currency``
``"CNY"``, ``payer.openid`` (JSAPI), ``description``, ``notify_url`` and ``time_expire``
in RFC 3339.
"""

from __future__ import annotations

import base64
import enum
import json
import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import attrs
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from walletlink._crosscheck import disagreement
from walletlink.adapters._wire import parse_time, text_field
from walletlink.adapters.base import Flow
from walletlink.errors import ConfigurationError, ProtocolError, ValidationError
from walletlink.http import PreparedRequest
from walletlink.models import TransferStatus
from walletlink.money import Money
from walletlink.protocols.wechatpay_v3._codes import TRADE_STATE_MAP
from walletlink.protocols.wechatpay_v3._wire import CURRENCY, fen, from_fen
from walletlink.signing.params import CHINA_TZ

if TYPE_CHECKING:
    from walletlink.protocols.wechatpay_v3.adapter import WeChatPayV3Adapter

__all__ = [
    "JSAPI_PATH",
    "NATIVE_PATH",
    "OUT_TRADE_NO",
    "JsapiOrder",
    "NativeOrder",
    "Order",
    "OrderRequest",
    "TradeState",
    "close_order",
    "create_order",
    "pay_sign_message",
    "query_order",
]

NATIVE_PATH: Final = "/v3/pay/transactions/native"
JSAPI_PATH: Final = "/v3/pay/transactions/jsapi"
_BY_OUT_TRADE_NO: Final = "/v3/pay/transactions/out-trade-no/"
#: ``out_trade_no``: 6 to 32 of digits, letters, ``_ - | *``.
OUT_TRADE_NO: Final = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")
_DESCRIPTION_MAX: Final = 127
_ATTACH_MAX: Final = 128
_OPENID: Final = re.compile(r"[0-9A-Za-z_\-]{1,128}")
_JSON: Final = {"Accept": "application/json", "Content-Type": "application/json"}
_NONCE_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class TradeState(enum.StrEnum):
    """An order's ``trade_state``, as the platform spells it; UNKNOWN for anything else."""

    SUCCESS = "SUCCESS"
    REFUND = "REFUND"
    NOTPAY = "NOTPAY"
    CLOSED = "CLOSED"
    REVOKED = "REVOKED"
    USERPAYING = "USERPAYING"
    PAYERROR = "PAYERROR"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def of(cls, raw: object) -> TradeState:
        try:
            return cls(str(raw))
        except ValueError:
            return cls.UNKNOWN

    @property
    def status(self) -> TransferStatus:
        """The walletlink status of the incoming money (``_codes.TRADE_STATE_MAP``)."""
        return TRADE_STATE_MAP.get(self.value, TransferStatus.UNKNOWN)

    @property
    def paid(self) -> bool:
        """The user paid: ``SUCCESS``, or ``REFUND`` (paid, then partly or fully refunded)."""
        return self in (TradeState.SUCCESS, TradeState.REFUND)


def _out_trade_no(value: object) -> str:
    if not isinstance(value, str) or not OUT_TRADE_NO.fullmatch(value):
        raise ValidationError("out_trade_no is 6 to 32 of [0-9A-Za-z_-|*]")
    return value


def _cny(value: object) -> Money:
    if not isinstance(value, Money):
        raise ValidationError("an order amount is a Money in CNY")
    fen(value)  # CNY, whole fen, within the platform's range
    return value


def _description(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= _DESCRIPTION_MAX:
        raise ValidationError(f"description is 1 to {_DESCRIPTION_MAX} characters")
    if any(ord(ch) < 32 for ch in value):
        raise ValidationError("description must not hold control characters")
    return value


def _openid(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _OPENID.fullmatch(value):
        raise ValidationError("payer_openid is 1 to 128 of [0-9A-Za-z_-]")
    return value


def _expiry(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationError("time_expire is an aware datetime")
    return value


def _attach(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= _ATTACH_MAX:
        raise ValidationError(f"attach is 1 to {_ATTACH_MAX} characters")
    return value


def _params(value: Mapping[str, str]) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()}  # a private copy: the model is frozen


@attrs.frozen(kw_only=True)
class OrderRequest:
    """An order for the user to pay: a wallet top-up.

    ``out_trade_no`` is the wallet's own id of the top-up (6 to 32 of ``[0-9A-Za-z_-|*]``):
    ordering again under it is safe, the platform answers the same order. ``payer_openid``
    is required for a JSAPI order and ignored by a Native one. ``time_expire`` (aware) is
    sent as RFC 3339 in China time.
    """

    out_trade_no: str = attrs.field(converter=_out_trade_no)
    amount: Money = attrs.field(converter=_cny)
    description: str = attrs.field(converter=_description)
    payer_openid: str | None = attrs.field(default=None, converter=_openid)
    time_expire: datetime | None = attrs.field(default=None, converter=_expiry)
    attach: str | None = attrs.field(default=None, converter=_attach)


@attrs.frozen(kw_only=True)
class NativeOrder:
    """A Native order: show ``code_url`` as a QR code for the user to scan and pay."""

    out_trade_no: str
    code_url: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class JsapiOrder:
    """A JSAPI order: hand ``pay_params`` to ``WeixinJSBridge``/``wx.requestPayment``.

    ``pay_params`` holds ``appId``, ``timeStamp``, ``nonceStr``, ``package``
    (``prepay_id=…``), ``signType`` (``RSA``) and ``paySign``: SHA256withRSA by the merchant
    key over ``appId\\ntimeStamp\\nonceStr\\npackage\\n``, base64.
    """

    out_trade_no: str
    prepay_id: str
    pay_params: Mapping[str, str] = attrs.field(converter=_params, repr=False)


@attrs.frozen(kw_only=True)
class Order:
    """An order as the query API shows it (``GET …/out-trade-no/{out_trade_no}``)."""

    out_trade_no: str
    state: TradeState
    amount: Money
    state_desc: str = ""
    transaction_id: str | None = None
    trade_type: str | None = None
    payer_total: Money | None = None
    payer_openid: str | None = attrs.field(default=None, repr=False)
    success_time: datetime | None = None
    attach: str | None = attrs.field(default=None, repr=False)

    @property
    def status(self) -> TransferStatus:
        return self.state.status

    @property
    def paid(self) -> bool:
        return self.state.paid


def _china_time(moment: datetime) -> str:
    return moment.astimezone(CHINA_TZ).isoformat(timespec="seconds")


def order_body(
    order: OrderRequest, *, appid: str, mchid: str, notify_url: str, jsapi: bool
) -> bytes:
    """The order's JSON body, in the field order of the API documents."""
    body: dict[str, Any] = {
        "appid": appid,
        "mchid": mchid,
        "description": order.description,
        "out_trade_no": order.out_trade_no,
    }
    if order.time_expire is not None:
        body["time_expire"] = _china_time(order.time_expire)
    if order.attach is not None:
        body["attach"] = order.attach
    body["notify_url"] = notify_url
    body["amount"] = {"total": fen(order.amount), "currency": CURRENCY}
    if jsapi:
        if order.payer_openid is None:
            raise ValidationError("a JSAPI order needs payer_openid")
        body["payer"] = {"openid": order.payer_openid}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def pay_sign_message(app_id: str, time_stamp: str, nonce_str: str, package: str) -> bytes:
    """What ``paySign`` signs: four lines, each ending in ``\\n`` (the last one too)."""
    return f"{app_id}\n{time_stamp}\n{nonce_str}\n{package}\n".encode()


def pay_params(
    key: rsa.RSAPrivateKey, *, app_id: str, prepay_id: str, now: datetime, nonce: str | None = None
) -> dict[str, str]:
    """The client-side parameters that open WeChat's pay sheet for ``prepay_id``."""
    stamp = str(int(now.timestamp()))
    nonce = nonce or "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(32))
    package = f"prepay_id={prepay_id}"
    signature = key.sign(
        pay_sign_message(app_id, stamp, nonce, package), padding.PKCS1v15(), hashes.SHA256()
    )
    return {
        "appId": app_id,
        "timeStamp": stamp,
        "nonceStr": nonce,
        "package": package,
        "signType": "RSA",
        "paySign": base64.b64encode(signature).decode(),
    }


def _notify_url(adapter: WeChatPayV3Adapter) -> str:
    url = adapter._settings.notify_url
    if not url:
        raise ConfigurationError(
            "orders need the 'notify_url' option (where the platform reports payments)",
            bank_id=adapter.config.bank_id,
        )
    return str(url)


def create_order(
    adapter: WeChatPayV3Adapter, order: OrderRequest, *, jsapi: bool
) -> Flow[NativeOrder | JsapiOrder]:
    """下单: ``POST /v3/pay/transactions/native`` or ``/jsapi``."""
    settings = adapter._settings
    body = order_body(
        order,
        appid=settings.appid,
        mchid=settings.mchid,
        notify_url=_notify_url(adapter),
        jsapi=jsapi,
    )
    yield from adapter._refresh()
    reply = yield from adapter._write(
        JSAPI_PATH if jsapi else NATIVE_PATH, body, "create_order", write=False
    )
    if not jsapi:
        return NativeOrder(out_trade_no=order.out_trade_no, code_url=text_field(reply, "code_url"))
    prepay_id = text_field(reply, "prepay_id")
    now = adapter.keys.now
    if now is None:  # the signer saw the client's clock for this very request
        raise ProtocolError("no clock seen yet to stamp the pay-sign with")
    return JsapiOrder(
        out_trade_no=order.out_trade_no,
        prepay_id=prepay_id,
        pay_params=pay_params(
            adapter._signer.key, app_id=settings.appid, prepay_id=prepay_id, now=now
        ),
    )


def query_order(
    adapter: WeChatPayV3Adapter, out_trade_no: str, expected: Money | None = None
) -> Flow[Order]:
    """查询订单: ``GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=…``.

    The reply must be about this order of this merchant (and, with ``expected``, for that
    amount), or it is a :class:`ProtocolError`.
    """
    number = _out_trade_no(out_trade_no)
    yield from adapter._refresh()
    response = yield PreparedRequest(
        method="GET",
        path=_BY_OUT_TRADE_NO + number,
        params=(("mchid", adapter._settings.mchid),),
        headers=_JSON,
        operation="query_order",
        accept_status=frozenset({404}),
    )
    if response.status == 404:  # ORDER_NOT_EXIST, verified before it is believed
        raise adapter._refusal(response, *adapter._verified_error(response, write=False))
    node = adapter._verified(response, write=False)
    order = parse_order(node, mchid=adapter._settings.mchid, appid=adapter._settings.appid)
    bank_id = adapter.config.bank_id
    if order.out_trade_no != number:
        raise disagreement("out_trade_no", "order reply", bank_id)
    if expected is not None and order.amount != expected:
        raise disagreement("amount", "order reply", bank_id)
    return order


def close_order(adapter: WeChatPayV3Adapter, out_trade_no: str) -> Flow[None]:
    """关闭订单: ``POST …/out-trade-no/{out_trade_no}/close`` with ``{"mchid"}``; 204."""
    number = _out_trade_no(out_trade_no)
    body = json.dumps({"mchid": adapter._settings.mchid}, separators=(",", ":")).encode()
    yield from adapter._refresh()
    yield from adapter._write(f"{_BY_OUT_TRADE_NO}{number}/close", body, "close_order", write=False)


def parse_order(node: Mapping[str, Any], *, mchid: str, appid: str) -> Order:
    """A transaction object (query reply or decrypted ``TRANSACTION.*`` resource)."""
    if node.get("mchid", mchid) != mchid or node.get("appid", appid) != appid:
        raise ProtocolError("the order belongs to another merchant or app")
    amount = node.get("amount")
    if not isinstance(amount, Mapping):
        raise ProtocolError("the order carries no amount object")
    if amount.get("currency", CURRENCY) != CURRENCY:
        raise ProtocolError(f"the order is not in {CURRENCY}")
    payer = node.get("payer")
    payer_total = amount.get("payer_total")
    return Order(
        out_trade_no=text_field(node, "out_trade_no"),
        state=TradeState.of(node.get("trade_state")),
        state_desc=str(node.get("trade_state_desc") or ""),
        amount=from_fen(amount.get("total"), "amount.total"),
        payer_total=None if payer_total is None else from_fen(payer_total, "amount.payer_total"),
        transaction_id=node.get("transaction_id") or None,
        trade_type=node.get("trade_type") or None,
        payer_openid=(payer.get("openid") or None) if isinstance(payer, Mapping) else None,
        success_time=parse_time(node.get("success_time")),
        attach=node.get("attach") or None,
    )
