"""A Berlin Group (NextGenPSD2) payment end to end, against the in-process mock ASPSP.

A SEPA credit transfer signed with the TPP's QSealC, the PSU's approval at the SCA
redirect, the payment status as the bank settles it, then the last 30 days of the account's
transactions under an AIS consent. No network, no real sleeping:

    .venv/bin/python examples/berlin_group_payment.py
"""

from datetime import timedelta

from walletlink import Client, Iban, Money, Party, TransferRequest
from walletlink._retry import RetryPolicy
from walletlink.testing import FakeClock, MockBank


def main() -> None:
    clock = FakeClock()
    bank = MockBank("berlin_group", bank_id="aspsp", clock=clock)
    wallet = bank.open_account(Iban("DE89370400440532013000"), Money("250.00", "EUR"))
    retry = RetryPolicy(sleep=clock.sleep, clock=clock.monotonic)

    # bank.config() carries the mock TPP's QSealC and a valid AIS consent.
    with Client(banks=[bank.config()], clock=clock.now, retry=retry) as client:
        bank.mount(client.session)  # in-process: requests never touch a socket
        transfer = client.transfer(
            "aspsp",
            TransferRequest(
                amount=Money("42.00", "EUR"),
                debtor_account=wallet,
                creditor=Party(name="Ada Lovelace", account=Iban("FR1420041010050500013M02606")),
                remittance="Invoice 42",
                payout_id="PAYOUT-42",  # the wallet's own id: a rebuilt request is the same
                metadata={"psu_ip_address": "203.0.113.7"},
            ),
        )
        assert transfer.next_action is not None
        print(f"{transfer.status}: send the PSU to {transfer.next_action.url}")

        # The PSU authorises at the bank (the mock's documented approve API).
        bank.server.approve_payment(transfer.next_action.data["payment_id"])  # type: ignore[attr-defined]
        print(f"after SCA: {client.get_transfer(transfer.id).status}")
        bank.advance(61)  # the mock settles on its own clock
        print(f"a minute later: {client.get_transfer(transfer.id).status}")

        today = clock.now().date()
        for item in client.transactions("aspsp", wallet, today - timedelta(days=30), today):
            print(f"{item.booking_date} {item.signed_amount} {item.counterparty_name}")


if __name__ == "__main__":
    main()
