"""A UK Open Banking payment end to end: consent, the account holder's approval, the payment,
its status, then the last 30 days of transactions.

It runs against an in-process mock bank on a fake clock, so it needs no network, no
credentials and no waiting:

    .venv/bin/python examples/openbanking_uk_payment.py

Against a real bank the configuration is the same shape (see docs/openbanking_uk.md): your
client id, your PS256 signing key, the bank's signing keys, mTLS certificate paths.
"""

from datetime import timedelta

from walletlink import (
    Client,
    Money,
    Party,
    RetryPolicy,
    SortCodeAccount,
    TransferRequest,
    TransferStatus,
)
from walletlink.testing import FakeClock, MockBank


def main() -> None:
    clock = FakeClock()
    bank = MockBank("openbanking_uk", bank_id="alphabank", clock=clock)
    wallet = bank.open_account(
        SortCodeAccount("200000", "55555555"), Money("250.00", "GBP"), name="Wallet"
    )
    shop = SortCodeAccount("400400", "12345678")

    retry = RetryPolicy(sleep=clock.sleep, clock=clock.monotonic)  # back off on the fake clock
    with Client(banks=[bank.config()], clock=clock.now, retry=retry) as client:
        bank.mount(client.session)  # in-process: requests never touch a socket
        transfer = client.transfer(
            "alphabank",
            TransferRequest(
                amount=Money("42.50", "GBP"),
                debtor_account=wallet,
                creditor=Party(name="Corner Shop", account=shop),
                remittance="Order 1001",
                payout_id="ORDER-1001-REFUND",  # the wallet's own id: the key is derived from it
            ),
        )
        if transfer.status is not TransferStatus.REQUIRES_ACTION or transfer.next_action is None:
            raise SystemExit(f"expected the bank to ask for approval, got {transfer.status}")
        # Store next_action.to_dict() with the order; send the customer to its URL.
        consent_id = transfer.next_action.data["consent_id"]
        print(f"{transfer.id}: {transfer.status}, consent {consent_id}")

        # The customer approves at the bank. The mock bank's documented way:
        bank.server.authorise(consent_id)  # type: ignore[attr-defined]

        paid = client.get_transfer(transfer.id)  # sees the consent Authorised, pays
        print(f"after approval: {paid.status} (payment {paid.bank_transfer_id})")

        bank.advance(60)  # the bank settles on its own clock
        settled = client.get_transfer(transfer.id)
        print(f"a minute later: {settled.status}")

        today = clock.now().date()
        for line in client.transactions("alphabank", wallet, today - timedelta(days=30), today):
            print(f"  {line.booking_date} {line.direction:6} {line.amount} {line.remittance}")
        for balance in client.balances("alphabank", wallet):
            print(f"  balance {balance.type.name}: {balance.amount}")


if __name__ == "__main__":
    main()
