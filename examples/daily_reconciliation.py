"""Daily reconciliation: yesterday's bank transactions against the wallet's own ledger.

A wallet sends payouts through a bank, books each one in its ledger, and every morning asks
the bank for yesterday's transactions and reconciles the two. Here the bank is walletlink's
in-process generic_rest mock, so the example needs no network and runs in CI:

    .venv/bin/python examples/daily_reconciliation.py [--out DIR]

The ledger has the usual troubles of a real day: one payout the bank has not booked (still
``pending``: it is inside the settlement lag of ``rules.toml``; a day later it would be
``missing_in_bank``), one booked with the wrong amount, one booked twice. The report says
which, and why. Exit status 1 with ``--fail-on-breaks`` when there are breaks.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs

from walletlink import Client, Iban, Money, Party, TransferRequest
from walletlink.reconcile import Record, load_rules, reconcile
from walletlink.reconcile.html import write_html
from walletlink.reconcile.inputs import records_from_transactions
from walletlink.reconcile.report import write_csv, write_json
from walletlink.testing import FakeClock, MockBank

RULES = Path(__file__).with_name("rules.toml")
WALLET_ACCOUNT = "DE89370400440532013000"
PAYEES = [
    ("Ada Lovelace", "GB33BUKB20201555555555", "12.30"),
    ("Grace Hopper", "FR1420041010050500013M02606", "250.00"),
    ("Alan Turing", "NL91ABNA0417164300", "99.99"),
    ("Edsger Dijkstra", "BE68539007547034", "1500.00"),
]


def _ledger_row(transfer_id: str, request: TransferRequest, booked: datetime) -> Record:
    """How the wallet books a payout: a debit of its bank account, keyed by end-to-end id."""
    return Record(
        id=f"ledger-{transfer_id}",
        account=WALLET_ACCOUNT,
        currency=request.amount.currency,
        amount_minor=-request.amount.minor_units,
        value_date=booked,
        end_to_end_id=request.end_to_end_id,
        idempotency_key=request.idempotency_key,
        counterparty=request.creditor.name,
        text=request.remittance,
    )


def run(out: Path, *, fail_on_breaks: bool = False) -> int:
    yesterday = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    clock = FakeClock(yesterday)
    bank = MockBank("generic_rest", bank_id="acme", clock=clock)
    wallet = bank.open_account(Iban(WALLET_ACCOUNT), Money("10000.00", "EUR"))
    ledger: list[Record] = []
    with Client(banks=[bank.config()], clock=clock.now) as client:
        bank.mount(client.session)  # in-process: requests never touch a socket
        for name, iban, amount in PAYEES:
            request = TransferRequest(
                amount=Money(amount, "EUR"),
                debtor_account=wallet,
                creditor=Party(name=name, account=Iban(iban)),
                remittance=f"payout to {name}",
                payout_id=f"PAYOUT-{name.split()[0].upper()}",  # the wallet's own payout id
            )
            transfer = client.transfer("acme", request)
            ledger.append(_ledger_row(transfer.id, request, clock.now()))
        # The day's troubles, as the wallet's books show them:
        lost = attrs.evolve(
            ledger[0],
            id="ledger-lost",
            amount_minor=-4200,
            end_to_end_id="E2E-NEVER-SENT",
            counterparty="Linus Torvalds",
            text="payout that failed before sending",
        )
        ledger.append(lost)
        ledger[1] = attrs.evolve(ledger[1], amount_minor=ledger[1].amount_minor - 100)
        ledger.append(attrs.evolve(ledger[2], id=ledger[2].id + "-again"))

        bank.advance(3600)  # the bank settles and books the payouts
        day = yesterday.date()
        transactions = list(client.transactions("acme", wallet, day, day + timedelta(days=1)))
    bank_rows = list(records_from_transactions(transactions, account=WALLET_ACCOUNT, source="acme"))
    result = reconcile(ledger, bank_rows, load_rules(RULES), as_of=day + timedelta(days=1))

    out.mkdir(parents=True, exist_ok=True)
    write_json(result, out / "report.json")
    write_html(result, out / "report.html", title="acme, daily")
    write_csv(result, out / "csv")
    print(f"{len(transactions)} bank transactions, {len(ledger)} ledger rows")
    print(f"matched: {len(result.matched)}")
    for mismatch in result.mismatched:
        fields = ", ".join(f"{d.field} {d.wallet} vs {d.bank}" for d in mismatch.diffs)
        print(f"mismatch {mismatch.wallet_id} / {mismatch.bank_id}: {fields}")
    for duplicate in result.duplicates:
        print(f"duplicate {duplicate.side} {duplicate.record_id} of {duplicate.duplicate_of}")
    for row in result.unmatched:
        print(f"{row.category}: {row.record_id}")
    print(f"report written to {out}")
    return 1 if result.has_breaks and fail_on_breaks else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="report folder (default: a temporary one)")
    parser.add_argument("--fail-on-breaks", action="store_true", help="exit 1 on breaks")
    args = parser.parse_args()
    if args.out is not None:
        return run(args.out, fail_on_breaks=args.fail_on_breaks)
    with tempfile.TemporaryDirectory() as folder:
        return run(Path(folder), fail_on_breaks=args.fail_on_breaks)


if __name__ == "__main__":
    raise SystemExit(main())
