"""An Alipay-style open-platform transfer end to end: the transfer, its status, and the
gateway's signed notification verified, applied and acknowledged with ``success``.

It runs against an in-process mock gateway on a fake clock, so it needs no network, no
credentials and no waiting:

    .venv/bin/python examples/cn_openapi_payment.py

Against a real gateway the configuration is the same shape (see docs/cn_openapi.md): your
app_id in the options; your app private key, the gateway's public key and, if you turned
content encryption on, the AES key in the credentials.
"""

from collections.abc import Mapping

from walletlink import Client, LocalAccount, Money, Party, RetryPolicy, TransferRequest
from walletlink.testing import FakeClock, MockBank


def main() -> None:
    clock = FakeClock()
    inbox: list[tuple[Mapping[str, str], bytes]] = []
    aes_key = "MDEyMzQ1Njc4OWFiY2RlZg=="  # a test key: base64 of 16 bytes, as the console shows
    bank = MockBank(
        "cn_openapi",
        bank_id="alipay",
        clock=clock,
        aes_key=aes_key,
        # The gateway POSTs its messages to the app's notify URL; here, into a list.
        webhook_target=lambda headers, body: inbox.append((headers, body)),
    )
    wallet = bank.open_account(LocalAccount("2088101117955611"), Money("1000.00", "CNY"))
    payee = bank.open_account(LocalAccount("2088102177958114"), Money("0.00", "CNY"))

    # bank.config() carries the app_id, the app's private key, the gateway's public key and
    # the AES key the mock gateway was set up with; a real app reads them from its vault.
    retry = RetryPolicy(sleep=clock.sleep, clock=clock.monotonic)
    with Client(banks=[bank.config()], retry=retry, clock=clock.now) as client:
        bank.mount(client.session)  # in-process: requests never touch a socket
        transfer = client.transfer(
            "alipay",
            TransferRequest(
                amount=Money("12.30", "CNY"),
                debtor_account=wallet,
                creditor=Party(name="Li Lei", account=payee),
                remittance="Lunch",
                payout_id="PAYOUT-LUNCH-7",  # the wallet's own id: the key is derived from it
            ),
        )
        print(f"sent {transfer.amount} as {transfer.id}: {transfer.status}")
        print(f"gateway order id: {transfer.bank_transfer_id}")

        bank.advance(61)  # the mock gateway settles on its own clock and sends a message
        print(f"after a minute: {client.get_transfer(transfer.id).status}")

        headers, body = inbox[-1]
        event = client.handle_notification("alipay", headers, body)
        status, _, ack = client.notification_ack("alipay", event)
        print(f"notification {event.id}: {event.type} -> {event.status}, answered {status} {ack!r}")
        again = client.handle_notification("alipay", headers, body)
        print(f"the same message again is a duplicate: {again.duplicate}")
        print(f"wallet balance at the gateway: {bank.balance(wallet)}")


if __name__ == "__main__":
    main()
