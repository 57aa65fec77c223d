"""WeChat Pay v3 refunds (退款) as walletlink transfers: journalled, sent once, resolved by query.

A refund is money leaving the merchant, so it travels the client's journalled transfer path
unchanged: it is a :class:`~walletlink.TransferRequest` whose creditor names the original
order, ``LocalAccount(out_trade_no, scheme="wechatpay_out_trade_no")`` (or a
``transaction_id`` under ``"wechatpay_transaction_id"``), from the merchant
(``LocalAccount(mchid)``), with the order's total in ``metadata["wechatpay_order_total"]``
(the refund body must state it). ``client.transfer()`` journals the intent before the first
byte; the adapter sends it to ``POST /v3/refund/domestic/refunds`` and looks it up with
``GET /v3/refund/domestic/refunds/{out_refund_no}``, so ``resolve_unknown()`` settles an
unknown outcome by the same ``out_refund_no``, never a new one.

``out_refund_no`` is the idempotency key itself: it allows 1 to 64 of
``[0-9A-Za-z_-|*@]``, which walletlink's derived keys (``wlk-`` + 32 hex digits) and UUIDs
fit as they are, so no re-encoding is needed and a notification's ``out_refund_no`` *is*
the journal key. :func:`walletlink.protocols.wechatpay_v3.topup.refund_request` builds one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from walletlink._crosscheck import check_echo, disagreement
from walletlink.accounts import LocalAccount
from walletlink.adapters._wire import parse_time, text_field
from walletlink.errors import ProtocolError, ValidationError
from walletlink.models import NextAction, Reason, ReasonCode, Transfer, TransferRequest
from walletlink.money import Money
from walletlink.protocols.wechatpay_v3._codes import map_refund_status
from walletlink.protocols.wechatpay_v3._orders import OUT_TRADE_NO
from walletlink.protocols.wechatpay_v3._wire import CURRENCY, fen, from_fen

__all__ = [
    "BY_OUT_TRADE_NO",
    "BY_TRANSACTION_ID",
    "ORDER_TOTAL",
    "REFUNDS_PATH",
    "is_refund",
    "out_refund_no",
    "refund_body",
    "refund_path",
    "refund_transfer",
]

REFUNDS_PATH: Final = "/v3/refund/domestic/refunds"
#: The creditor schemes that make a transfer a refund of that order.
BY_OUT_TRADE_NO: Final = "wechatpay_out_trade_no"
BY_TRANSACTION_ID: Final = "wechatpay_transaction_id"
#: The metadata entry holding the original order's total (yuan, e.g. ``"12.30"``).
ORDER_TOTAL: Final = "wechatpay_order_total"
_OUT_REFUND_NO: Final = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")
_TRANSACTION_ID: Final = re.compile(r"[0-9]{1,32}")
_REASON_MAX: Final = 80
_FIELD: Final = {BY_OUT_TRADE_NO: "out_trade_no", BY_TRANSACTION_ID: "transaction_id"}


def is_refund(request: TransferRequest) -> bool:
    """Whether ``request`` is a refund (its creditor names an order), not a transfer bill."""
    account = request.creditor.account
    return isinstance(account, LocalAccount) and account.scheme in _FIELD


def out_refund_no(idempotency_key: str) -> str:
    if not _OUT_REFUND_NO.fullmatch(idempotency_key):
        raise ValidationError(
            "a refund's idempotency key travels as out_refund_no: 1 to 64 of [0-9A-Za-z_-|*@]"
        )
    return idempotency_key


def order_total(request: TransferRequest) -> Money:
    raw = request.metadata.get(ORDER_TOTAL)
    if raw is None:
        raise ValidationError(f"a refund states the order's total in metadata[{ORDER_TOTAL!r}]")
    try:
        return Money(raw, request.amount.currency)
    except (ValueError, ArithmeticError):  # InvalidAmountError is a ValueError too
        raise ValidationError(f"metadata[{ORDER_TOTAL!r}] is not an amount") from None


def refund_body(request: TransferRequest, *, mchid: str, notify_url: str | None) -> bytes:
    """The refund's JSON body; raises :class:`ValidationError` for what cannot travel.

    Built from the (journalled) request alone, so every retry and every resend after
    "absent" carries the same bytes.
    """
    refund = fen(request.amount)  # CNY, whole fen, positive
    total = order_total(request)
    total_fen = fen(total)
    if refund > total_fen:
        raise ValidationError("a refund cannot exceed the order's total")
    debtor = request.debtor_account
    if not isinstance(debtor, LocalAccount) or debtor.value != mchid:
        raise ValidationError("a refund comes from the merchant: debtor = LocalAccount(mchid)")
    account = request.creditor.account
    assert isinstance(account, LocalAccount)  # is_refund() routed it here
    if account.scheme == BY_OUT_TRADE_NO and not OUT_TRADE_NO.fullmatch(account.value):
        raise ValidationError("out_trade_no is 6 to 32 of [0-9A-Za-z_-|*]")
    if account.scheme == BY_TRANSACTION_ID and not _TRANSACTION_ID.fullmatch(account.value):
        raise ValidationError("transaction_id is 1 to 32 digits")
    if len(request.remittance) > _REASON_MAX:
        raise ValidationError(f"a refund reason is at most {_REASON_MAX} characters")
    body: dict[str, Any] = {
        _FIELD[account.scheme]: account.value,
        "out_refund_no": out_refund_no(request.idempotency_key),
    }
    if request.remittance:
        body["reason"] = request.remittance
    if notify_url:
        body["notify_url"] = notify_url
    body["amount"] = {"refund": refund, "total": total_fen, "currency": CURRENCY}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def refund_path(idempotency_key: str) -> str:
    return f"{REFUNDS_PATH}/{out_refund_no(idempotency_key)}"


def refund_transfer(
    node: Mapping[str, Any],
    request: TransferRequest,
    *,
    transfer_id: str,
    bank_id: str,
    where: str = "reply",
) -> Transfer:
    """A refund object (reply or notification resource) as the journalled transfer's state,
    once it is known to be about this refund of this order for this amount."""
    amount = node.get("amount")
    if not isinstance(amount, Mapping):
        raise ProtocolError(f"the refund {where} carries no amount object")
    if amount.get("currency", CURRENCY) != CURRENCY:
        raise disagreement("currency", where, bank_id)
    check_echo(
        request,
        where=where,
        bank_id=bank_id,
        idempotency_key=text_field(node, "out_refund_no", where),
        amount=from_fen(amount.get("refund"), "amount.refund"),
    )
    account = request.creditor.account
    if isinstance(account, LocalAccount):
        # The order is compared exactly: out_trade_no is case- and dash-sensitive, unlike
        # the IBAN-friendly comparison check_echo makes of account numbers.
        field = _FIELD[account.scheme]
        if field in node and node[field] != account.value:
            raise disagreement(field, where, bank_id)
    if "total" in amount and from_fen(amount["total"], "amount.total") != order_total(request):
        raise disagreement("order total", where, bank_id)
    raw = node.get("status", node.get("refund_status"))
    status = map_refund_status(raw)
    reason = action = None
    if raw in ("CLOSED", "ABNORMAL"):
        code = ReasonCode.OTHER if raw == "CLOSED" else ReasonCode.ACCOUNT_BLOCKED
        reason = Reason(code=code, raw_code=str(raw), message=f"refund {str(raw).lower()}")
    if raw == "ABNORMAL":
        # 退款异常: finish it in the merchant platform or with the abnormal-refund API.
        action = NextAction(
            kind="wechat_refund_abnormal", data={"out_refund_no": request.idempotency_key}
        )
    return Transfer(
        id=transfer_id,
        bank_id=bank_id,
        bank_transfer_id=node.get("refund_id") or None,
        end_to_end_id=request.end_to_end_id,
        idempotency_key=request.idempotency_key,
        amount=request.amount,
        status=status,
        reason=reason,
        next_action=action,
        created_at=parse_time(node.get("create_time")),
        updated_at=parse_time(node.get("success_time")) or parse_time(node.get("create_time")),
    )
