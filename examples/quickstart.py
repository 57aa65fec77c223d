"""The smallest useful walletlink program: a client, one transfer and its status.

It runs against an in-process mock bank, so it needs no network and no credentials:

    .venv/bin/python examples/quickstart.py
"""

from walletlink import Client, Iban, Money, Party, TransferRequest
from walletlink.testing import FakeClock, MockBank


def main() -> None:
    clock = FakeClock()
    bank = MockBank("generic_rest", bank_id="acme", clock=clock)
    wallet = bank.open_account(Iban("DE89370400440532013000"), Money("100.00", "EUR"))

    with Client(banks=[bank.config()], clock=clock.now) as client:
        bank.mount(client.session)  # in-process: requests never touch a socket
        transfer = client.transfer(
            "acme",
            TransferRequest(
                amount=Money("12.30", "EUR"),
                debtor_account=wallet,
                creditor=Party(name="Ada Lovelace", account=Iban("GB33BUKB20201555555555")),
                remittance="Invoice 42",
                # The wallet's own id of this payout. The idempotency key is derived from it,
                # so a request built again after a crash is the same payment, not a second.
                payout_id="PAYOUT-42",
            ),
        )
        print(f"sent {transfer.amount} as {transfer.id}: {transfer.status}")

        bank.advance(60)  # the mock bank settles on its own clock
        settled = client.get_transfer(transfer.id)
        print(f"after a minute: {settled.status}")
        print(f"wallet balance at the bank: {bank.balance(wallet)}")


if __name__ == "__main__":
    main()
