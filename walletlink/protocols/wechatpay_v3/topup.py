"""Wallet top-ups through WeChat Pay v3: Native and JSAPI orders, and their refunds.

:class:`WeChatPayTopUps` is a thin front for one ``wechatpay_v3`` bank of a
:class:`~walletlink.Client`::

    topups = WeChatPayTopUps(client, "wechat")
    order = topups.native(OrderRequest(out_trade_no="TOPUP-1", amount=Money("50.00", "CNY"),
                                       description="Wallet top-up"))
    # ... the user scans order.code_url and pays; the TRANSACTION.SUCCESS notification or
    # topups.query("TOPUP-1") says so ...
    refund = topups.refund(out_trade_no="TOPUP-1", amount=Money("20.00", "CNY"),
                           order_total=Money("50.00", "CNY"), refund_id="REFUND-1")

Orders are flows the client runs with :meth:`~walletlink.Client.run_flow` (signed,
retried, verified, mapped), not journalled: no merchant money moves, and the platform
deduplicates by ``out_trade_no``. A refund *is* merchant money leaving, so it is a journalled
transfer (:func:`refund_request`, :meth:`~walletlink.Client.transfer`): its
``out_refund_no`` is derived from ``refund_id`` and journalled before the first byte is
sent, and an unknown outcome is resolved by :meth:`~walletlink.Client.resolve_unknown`
with the same ``out_refund_no``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from walletlink.accounts import LocalAccount
from walletlink.errors import ConfigurationError, CurrencyMismatchError, ValidationError
from walletlink.models import Party, Transfer, TransferRequest
from walletlink.money import Money
from walletlink.protocols.wechatpay_v3._orders import (
    JsapiOrder,
    NativeOrder,
    Order,
    OrderRequest,
    TradeState,
    pay_sign_message,
)
from walletlink.protocols.wechatpay_v3._refunds import (
    BY_OUT_TRADE_NO,
    BY_TRANSACTION_ID,
    ORDER_TOTAL,
)
from walletlink.protocols.wechatpay_v3.adapter import WeChatPayV3Adapter

if TYPE_CHECKING:
    from walletlink._options import CallOptions
    from walletlink.client import Client

__all__ = [
    "JsapiOrder",
    "NativeOrder",
    "Order",
    "OrderRequest",
    "TradeState",
    "WeChatPayTopUps",
    "pay_sign_message",
    "refund_request",
]

#: The name a refund's creditor carries: the payer is known to the platform, not to us.
PAYER_NAME = "WeChat Pay payer"


def refund_request(
    *,
    mchid: str,
    amount: Money,
    order_total: Money,
    refund_id: str,
    out_trade_no: str | None = None,
    transaction_id: str | None = None,
    reason: str = "",
) -> TransferRequest:
    """The journalled transfer that refunds ``amount`` of an order.

    ``refund_id`` is the wallet's own id of this refund (its identity): the idempotency key
    and so ``out_refund_no`` are derived from it, so building the same refund again, in any
    process, is the same refund and is sent at most once. Name the order by exactly one of
    ``out_trade_no`` or ``transaction_id``. ``reason`` (at most 80 characters) shows in the
    user's refund message.
    """
    if order_total.currency != amount.currency:
        raise CurrencyMismatchError("a refund is in the order's currency (CNY)")
    if (out_trade_no is None) == (transaction_id is None):
        raise ValidationError("name the order by out_trade_no or transaction_id (one)")
    account = (
        LocalAccount(out_trade_no, scheme=BY_OUT_TRADE_NO)
        if out_trade_no is not None
        else LocalAccount(str(transaction_id), scheme=BY_TRANSACTION_ID)
    )
    return TransferRequest(
        amount=amount,
        debtor_account=LocalAccount(mchid),
        creditor=Party(name=PAYER_NAME, account=account),
        remittance=reason,
        payout_id=refund_id,
        metadata={ORDER_TOTAL: order_total.to_decimal_string()},
    )


class WeChatPayTopUps:
    """Top-ups (orders) and refunds at one ``wechatpay_v3`` bank of ``client``."""

    def __init__(self, client: Client, bank_id: str) -> None:
        adapter = client.adapter(bank_id)
        if not isinstance(adapter, WeChatPayV3Adapter):
            raise ConfigurationError(f"bank {bank_id!r} does not speak wechatpay_v3")
        self.client, self.bank_id, self.adapter = client, bank_id, adapter

    @property
    def mchid(self) -> str:
        return self.adapter._settings.mchid

    def native(self, order: OrderRequest, *, options: CallOptions | None = None) -> NativeOrder:
        """A Native order (``POST /v3/pay/transactions/native``): show its ``code_url``."""
        flow = self.adapter.create_native_order(order)
        return self.client.run_flow(self.bank_id, flow, options=options)

    def jsapi(self, order: OrderRequest, *, options: CallOptions | None = None) -> JsapiOrder:
        """A JSAPI order (``POST /v3/pay/transactions/jsapi``) with the signed pay params."""
        flow = self.adapter.create_jsapi_order(order)
        return self.client.run_flow(self.bank_id, flow, options=options)

    def query(
        self,
        out_trade_no: str,
        *,
        expected: Money | None = None,
        options: CallOptions | None = None,
    ) -> Order:
        """The order's state by ``out_trade_no``; ``expected`` also checks its total."""
        flow = self.adapter.query_order(out_trade_no, expected)
        return self.client.run_flow(self.bank_id, flow, options=options)

    def close(self, out_trade_no: str, *, options: CallOptions | None = None) -> None:
        """Close an unpaid order (204); a paid one is ``BankRejectedError`` ``ORDERPAID``."""
        self.client.run_flow(self.bank_id, self.adapter.close_order(out_trade_no), options=options)

    def refund(
        self,
        *,
        amount: Money,
        order_total: Money,
        refund_id: str,
        out_trade_no: str | None = None,
        transaction_id: str | None = None,
        reason: str = "",
        options: CallOptions | None = None,
    ) -> Transfer:
        """Refund ``amount`` of an order, at most once (see :func:`refund_request`)."""
        request = refund_request(
            mchid=self.mchid,
            amount=amount,
            order_total=order_total,
            refund_id=refund_id,
            out_trade_no=out_trade_no,
            transaction_id=transaction_id,
            reason=reason,
        )
        return self.client.transfer(self.bank_id, request, options=options)
