"""A WeChat Pay v3 wallet top-up and its refund, end to end: a Native order and a JSAPI order
(with the signed parameters for the pay sheet), the user paying, the encrypted
``TRANSACTION.SUCCESS`` notification verified and acknowledged, a closed order, then a
refund sent at most once even though its first reply is lost.

It runs against an in-process mock platform on a fake clock, so it needs no network, no
credentials and no waiting:

    .venv/bin/python examples/wechatpay_topup_refund.py

Orders (money coming in) are flows the client runs without its journal: no merchant money
moves, and the platform de-duplicates by ``out_trade_no``. A refund is money leaving the
merchant: a journalled transfer whose ``out_refund_no`` is derived from the wallet's refund
id, so a lost reply is resolved by querying that same ``out_refund_no``, never by refunding
again under a new one.
"""

from collections.abc import Mapping

from walletlink import Client, LocalAccount, Money, RetryPolicy, SQLiteJournal
from walletlink.errors import UnknownOutcomeError
from walletlink.protocols.wechatpay_v3.topup import OrderRequest, WeChatPayTopUps
from walletlink.testing import FakeClock, FaultKind, FaultPlan, MockBank


def main() -> None:
    clock = FakeClock()
    inbox: list[tuple[Mapping[str, str], bytes]] = []
    bank = MockBank(
        "wechatpay_v3",
        bank_id="wechat",
        clock=clock,
        mode="public_key",  # a merchant on the WeChat Pay public key (PUB_KEY_ID_…)
        # The platform POSTs its notifications to the merchant's notify_url; here, a list.
        webhook_target=lambda headers, body: inbox.append((headers, body)),
    )
    merchant = bank.open_account(LocalAccount("1900009191"), Money("1000.00", "CNY"))
    openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    user = bank.open_account(LocalAccount(openid, scheme="wechat_openid"), Money("200.00", "CNY"))

    # One attempt per call, so that the lost reply below is an unknown outcome at once.
    retry = RetryPolicy(max_attempts=1, sleep=clock.sleep, clock=clock.monotonic)
    journal = SQLiteJournal("wallet.sqlite3")  # refunds are journalled before they are sent
    with Client(banks=[bank.config()], journal=journal, retry=retry, clock=clock.now) as client:
        bank.mount(client.session)  # in-process: requests never touch a socket
        topups = WeChatPayTopUps(client, "wechat")

        native = topups.native(
            OrderRequest(
                out_trade_no="TOPUP-20260105-1",  # the wallet's own id of the top-up
                amount=Money("88.00", "CNY"),
                description="Wallet top-up",
            )
        )
        print(f"Native order {native.out_trade_no}: show {native.code_url} as a QR code")

        jsapi = topups.jsapi(
            OrderRequest(
                out_trade_no="TOPUP-20260105-2",
                amount=Money("10.00", "CNY"),
                description="Wallet top-up",
                payer_openid=openid,
            )
        )
        print(f"JSAPI order: package={jsapi.pay_params['package']}, signType=RSA, paySign set")

        bank.server.pay_order("TOPUP-20260105-1", openid)  # the user scans and pays
        bank.deliver_webhooks()
        headers, body = inbox[-1]
        event = client.handle_notification("wechat", headers, body)
        order = event.data["order"]
        status, _, ack = client.notification_ack("wechat", event)
        print(f"{event.type}: {order.out_trade_no} {order.state} {order.amount}, "
              f"answered {status} {ack.decode()}")  # fmt: skip

        topups.close("TOPUP-20260105-2")  # the user walked away from the JSAPI order
        print(f"after close: {topups.query('TOPUP-20260105-2').state}")

        # The refund's first reply is lost on the way back: its outcome is unknown.
        bank.set_faults(FaultPlan.of(FaultKind.DROP_RESPONSE_AFTER_COMMIT, only_methods={"POST"}))
        try:
            topups.refund(
                out_trade_no="TOPUP-20260105-1",
                amount=Money("38.00", "CNY"),
                order_total=Money("88.00", "CNY"),
                refund_id="REFUND-20260105-1",  # out_refund_no is derived from it
                reason="Top-up partly cancelled",
            )
        except UnknownOutcomeError as error:
            print(f"refund outcome unknown: {error.message.split(';')[0]}")
        bank.set_faults(FaultPlan.none())
        report = client.resolve_unknown("wechat")  # asks by the same out_refund_no
        refund = report[0]
        print(f"resolved by the refund query: {refund.status}, refund_id {refund.bank_transfer_id}")

        bank.advance(61)  # the mock platform completes the refund and notifies
        headers, body = inbox[-1]
        event = client.handle_notification("wechat", headers, body)
        print(f"{event.type} -> {client.get_transfer(refund.id).status}")
        refunds = [t for t in bank.transfers() if "out_refund_no" in t.instruction.metadata]
        print(f"refunds at the platform: {len(refunds)}")
        print(f"merchant balance: {bank.balance(merchant)}, user: {bank.balance(user)}")
    journal.close()


if __name__ == "__main__":
    main()
