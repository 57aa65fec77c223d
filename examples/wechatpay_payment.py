"""A WeChat Pay v3 merchant transfer (商家转账) end to end: the signed transfer bill, its
status, and the platform's encrypted notification verified, decrypted, applied and
acknowledged with ``{"code":"SUCCESS"}``.

It runs against an in-process mock platform on a fake clock, so it needs no network, no
credentials and no waiting:

    .venv/bin/python examples/wechatpay_payment.py

The mock merchant is mid-migration: it holds a platform certificate (downloaded from
``/v3/certificates``) *and* a WeChat Pay public key (``PUB_KEY_ID_…``), and replies come
signed with either; the adapter routes each by its ``Wechatpay-Serial``. Against the real
platform the configuration is the same shape (see docs/wechatpay_v3.md): mchid, appid and
merchant certificate serial in the options; the merchant API key, the API v3 key and the
platform key(s) you trust in the credentials.
"""

from collections.abc import Mapping

from walletlink import Client, LocalAccount, Money, Party, RetryPolicy, TransferRequest
from walletlink.testing import FakeClock, MockBank


def main() -> None:
    clock = FakeClock()
    inbox: list[tuple[Mapping[str, str], bytes]] = []
    bank = MockBank(
        "wechatpay_v3",
        bank_id="wechat",
        clock=clock,
        mode="migrating",
        # The platform POSTs its notifications to the merchant's notify_url; here, a list.
        webhook_target=lambda headers, body: inbox.append((headers, body)),
    )
    merchant = bank.open_account(LocalAccount("1900009191"), Money("1000.00", "CNY"))
    user = bank.open_account(
        LocalAccount("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", scheme="wechat_openid"), Money("0", "CNY")
    )

    # bank.config() carries the mchid, appid, merchant key and serial, the API v3 key, the
    # pinned platform certificate and the WeChat Pay public key; a real wallet reads them
    # from its vault.
    retry = RetryPolicy(sleep=clock.sleep, clock=clock.monotonic)
    with Client(banks=[bank.config()], retry=retry, clock=clock.now) as client:
        bank.mount(client.session)  # in-process: requests never touch a socket
        request = TransferRequest(
            amount=Money("12.30", "CNY"),
            debtor_account=merchant,  # the merchant's operating balance pays
            creditor=Party(name="Li Lei", account=user),
            remittance="Wallet withdrawal",
            payout_id="PAYOUT-WX-7",  # the wallet's own id: the key is derived from it
        )
        transfer = client.transfer("wechat", request)
        print(f"sent {transfer.amount} as {transfer.id}: {transfer.status}")
        print(f"transfer_bill_no: {transfer.bank_transfer_id}")

        bank.advance(61)  # the mock platform settles on its own clock and notifies
        print(f"after a minute: {client.get_transfer(transfer.id).status}")

        headers, body = inbox[-1]
        event = client.handle_notification("wechat", headers, body)
        status, _, ack = client.notification_ack("wechat", event)
        print(f"notification {event.type} -> {event.status}, answered {status} {ack.decode()}")
        again = client.handle_notification("wechat", headers, body)
        print(f"the same notification again is a duplicate: {again.duplicate}")
        print(f"merchant balance: {bank.balance(merchant)}, user: {bank.balance(user)}")


if __name__ == "__main__":
    main()
