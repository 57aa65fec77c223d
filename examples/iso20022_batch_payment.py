"""A batch payment over ISO 20022 host-to-host, against the in-process mock bank.

Three transfers go up as one signed pain.001 file; the pain.002 status report says what the
bank did with each (one is short of funds); once the bank has settled, the camt.053
statement of the day shows the booked entries and balances. No network, no real sleeping:

    .venv/bin/python examples/iso20022_batch_payment.py
"""

from walletlink import Client, Iban, Money, Party, RetryPolicy, TransferRequest
from walletlink.formats import parse_camt
from walletlink.testing import FakeClock, MockBank


def main() -> None:
    clock = FakeClock()
    bank = MockBank("iso20022_h2h", bank_id="h2h-bank", clock=clock)
    wallet = bank.open_account(Iban("DE89370400440532013000"), Money("100.00", "EUR"))
    retry = RetryPolicy(sleep=clock.sleep, clock=clock.monotonic)
    creditors = [
        ("Ada Lovelace", "GB33BUKB20201555555555", "40.00"),
        ("Grace Hopper", "FR1420041010050500013M02606", "35.50"),
        ("Alan Turing", "DE02120300000000202051", "60.00"),  # more than is left
    ]
    batch = [
        TransferRequest(
            amount=Money(amount, "EUR"),
            debtor_account=wallet,
            creditor=Party(name=name, account=Iban(iban)),
            remittance=f"Payout to {name}",
            payout_id=f"PAYOUT-2026-03-{n}",  # the wallet's own ids: the keys derive from them
        )
        for n, (name, iban, amount) in enumerate(creditors, start=1)
    ]

    # bank.config() carries the wallet's ed25519 signing key (the bank holds its public
    # half) and the debtor name written into every file.
    with Client(banks=[bank.config()], clock=clock.now, retry=retry) as client:
        bank.mount(client.session)  # in-process: requests never touch a socket
        transfers = client.transfer_batch("h2h-bank", batch)
        print(f"one file, {len(transfers)} transfers: {transfers[0].bank_transfer_id}")
        for transfer in transfers:
            reason = f" ({transfer.reason.raw_code})" if transfer.reason else ""
            print(f"  {transfer.amount}: {transfer.status}{reason}")

        bank.advance(61)  # the mock bank settles on its own clock
        print("after a minute, from the pain.002 status report:")
        for transfer in transfers:
            print(f"  {transfer.amount}: {client.get_transfer(transfer.id).status}")

        camt = client.statement("h2h-bank", wallet, clock.now().date())
        (statement,) = parse_camt(camt, check_balance=True)
        print(f"camt.053 {statement.statement_id}:")
        for balance in statement.balances:
            print(f"  {balance.type.name.lower()}: {balance.amount}")
        for entry in statement.entries:
            print(f"  {entry.booking_date} {entry.signed_amount} {entry.counterparty_name}")


if __name__ == "__main__":
    main()
