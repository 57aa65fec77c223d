"""A Chinese bank open-platform transfer signed with SM2 and encrypted with SM4, end to end:
the transfer, its status, the balance, and the bank's signed notification verified,
decrypted, applied and acknowledged, in the CIB-style and the CMB-style envelope.

It runs against an in-process mock bank on a fake clock, so it needs no network, no
credentials and no waiting (SM2 needs the extra: pip install 'walletlink[sm]'):

    .venv/bin/python examples/cn_bank_sm_payment.py

Against a real bank the configuration is the same shape (see docs/cn_bank_sm.md): your app
id and the bank's profile in the options; your SM2 private key, the bank's SM2 public key
and the SM4 key in the credentials.
"""

from collections.abc import Mapping

from walletlink import Client, LocalAccount, Money, Party, RetryPolicy, TransferRequest
from walletlink.testing import FakeClock, MockBank


def pay(profile: str) -> None:
    clock = FakeClock()
    inbox: list[tuple[Mapping[str, str], bytes]] = []
    bank = MockBank(
        "cn_bank_sm",
        bank_id=f"bank-{profile}",
        clock=clock,
        profile=profile,
        # The bank POSTs its notifications to the wallet's notify URL; here, into a list.
        webhook_target=lambda headers, body: inbox.append((headers, body)),
    )
    wallet = bank.open_account(LocalAccount("6222021234567890123"), Money("1000.00", "CNY"))
    payee = bank.open_account(LocalAccount("6217001234567890"), Money("0.00", "CNY"), name="Li Lei")

    # bank.config() carries the app id, the app's SM2 key, the bank's SM2 public key and the
    # SM4 key the mock bank was set up with; a real wallet reads them from its vault.
    retry = RetryPolicy(sleep=clock.sleep, clock=clock.monotonic)
    with Client(banks=[bank.config()], retry=retry, clock=clock.now) as client:
        bank.mount(client.session)  # in-process: requests never touch a socket
        transfer = client.transfer(
            bank.bank_id,
            TransferRequest(
                amount=Money("12.30", "CNY"),
                debtor_account=wallet,
                creditor=Party(name="Li Lei", account=payee),
                remittance="Salary",
                payout_id=f"PAYOUT-{profile.upper()}-7",  # the key is derived from it
            ),
        )
        print(f"[{profile}] sent {transfer.amount} as {transfer.id}: {transfer.status}")
        bank.advance(61)  # the mock bank settles on its own clock and sends a notification
        print(f"[{profile}] after a minute: {client.get_transfer(transfer.id).status}")
        balances = client.balances(bank.bank_id, wallet)
        print(f"[{profile}] balances: {', '.join(str(b.amount) for b in balances)}")

        headers, body = inbox[-1]
        event = client.handle_notification(bank.bank_id, headers, body)
        status, _, ack = client.notification_ack(bank.bank_id, event)
        print(f"[{profile}] {event.type} -> {event.status}, answered {status} {ack!r}")
        again = client.handle_notification(bank.bank_id, headers, body)
        print(f"[{profile}] the same notification again is a duplicate: {again.duplicate}")


def main() -> None:
    for profile in ("cib", "cmb"):
        pay(profile)


if __name__ == "__main__":
    main()
