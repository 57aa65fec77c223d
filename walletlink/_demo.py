"""``walletlink demo``: many transfers through a fault-injecting mock bank, then the proof.

Everything runs in-process on a fake clock, so the demo takes about a second and is the same
on every run with the same seed. The journal is a real SQLite file in a temporary folder.
It exits 0 only if the journal and the bank's ledger agree and no transfer was executed
twice.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from walletlink._retry import RetryEvent, RetryPolicy
from walletlink.accounts import AccountId, Iban
from walletlink.client import Client, Hooks
from walletlink.errors import (
    BankRejectedError,
    ConnectError,
    RateLimitedError,
    SignatureError,
    UnknownOutcomeError,
    WalletLinkError,
)
from walletlink.journal import SQLiteJournal
from walletlink.models import Party, TransferRequest, TransferStatus
from walletlink.money import Money
from walletlink.testing import FakeClock, FaultPlan, MockBank

__all__ = ["DemoSummary", "run_demo", "simulate"]

_OPERATING = Iban("DE89370400440532013000")
_SMALL = Iban("DE02120300000000202051")
_CREDITORS = (
    ("Ada Lovelace", Iban("GB33BUKB20201555555555")),
    ("Grace Hopper", Iban("FR1420041010050500013M02606")),
    ("Alan Turing", Iban("NL91ABNA0417164300")),
    ("Closed Account Ltd", Iban("BE68539007547034")),
)


@attrs.frozen(kw_only=True)
class DemoSummary:
    transfers: int
    settled: int
    rejected: int
    rejected_reasons: Mapping[str, int]
    retries: int
    unknown_outcomes: int
    unknown_resolved: int
    connect_failures_completed: int
    webhooks_received: int
    webhook_duplicates: int
    duplicates_at_bank: int
    journal_matches_bank: bool
    journal_verified: bool
    final_balances: Mapping[str, str]
    faults_injected: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _open_accounts(bank: MockBank) -> None:
    bank.open_account(_OPERATING, Money("5000.00", "EUR"), name="Wallet operating account")
    bank.open_account(_SMALL, Money("25.00", "EUR"), name="Wallet small float")
    for name, iban in _CREDITORS:
        bank.open_account(iban, Money("0.00", "EUR"), name=name, closed=name.startswith("Closed"))


def _requests(count: int, rng: random.Random) -> list[TransferRequest]:
    batch = []
    for index in range(count):
        name, iban = _CREDITORS[index % len(_CREDITORS)]
        # Every seventh transfer comes from the small float, so some hit insufficient funds.
        debtor = _SMALL if index % 7 == 6 else _OPERATING
        cents = rng.randrange(500, 20_000)
        batch.append(
            TransferRequest(
                amount=Money.from_minor(cents, "EUR"),
                debtor_account=debtor,
                creditor=Party(name=name, account=iban),
                remittance=f"Demo payout {index + 1}",
                end_to_end_id=f"demo-{index + 1:05d}",
            )
        )
    return batch


def _journal_matches_bank(client: Client, bank: MockBank) -> bool:
    at_bank = {view.idempotency_key: view for view in bank.transfers() if view.idempotency_key}
    journalled = {record.idempotency_key: record for record in client.journal.records()}
    for key, view in at_bank.items():
        record = journalled.get(key)
        if record is None or record.status is not view.status:
            return False
    for key, record in journalled.items():
        if key not in at_bank and record.status is not TransferStatus.REJECTED:
            return False  # only requests the bank refused outright may be missing there
    return True


def simulate(*, transfers: int, seed: int, journal_path: Path) -> DemoSummary:
    """Run the whole scenario and return its summary (used by the CLI and the tests)."""
    clock = FakeClock()
    faults = FaultPlan(
        seed=seed,
        drop_response_after_commit=0.08,
        reset_after_commit=0.04,
        reset_before_commit=0.04,
        unavailable=0.08,
        server_error=0.03,
        rate_limit=0.03,
        malformed_body=0.03,
        duplicate_webhooks=0.3,
        out_of_order_webhooks=0.5,
        only_methods=frozenset({"POST"}),
    )
    inbox: list[tuple[Mapping[str, str], bytes]] = []
    bank = MockBank(
        "generic_rest",
        bank_id="demobank",
        clock=clock,
        faults=faults,
        webhook_target=lambda headers, body: inbox.append((dict(headers), body)),
        settle_after=60,
    )
    _open_accounts(bank)
    retries = Counter[str]()

    def count_retry(bank_id: str, event: RetryEvent) -> None:
        retries[bank_id] += 1

    journal = SQLiteJournal(journal_path)
    client = Client(
        [bank.config()],
        journal=journal,
        retry=RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(seed)),
        hooks=Hooks(on_retry=count_retry),
        clock=clock.now,
    )
    bank.mount(client.session)
    unknown = connect_failures = 0
    for request in _requests(transfers, random.Random(seed)):
        try:
            client.transfer("demobank", request)
        except UnknownOutcomeError:
            unknown += 1
        except (ConnectError, RateLimitedError):
            connect_failures += 1  # never executed; the open intent is completed below
        except BankRejectedError:
            pass  # refused outright; journalled as REJECTED
        clock.advance(1)

    resolved = 0
    for _ in range(10):  # bounded: each round resolves most of what is left
        pending = client.journal.unresolved("demobank")
        if not pending:
            break
        resolved += len(client.resolve_unknown("demobank"))

    bank.advance(3600)
    duplicates = received = 0
    for headers, body in inbox:
        try:
            event = client.handle_notification("demobank", headers, body)
        except SignatureError:
            continue
        received += 1
        duplicates += event.duplicate
    for record in list(client.journal.records("demobank")):
        if record.transfer and not record.status.is_final and record.transfer.bank_transfer_id:
            try:
                client.get_transfer(record.transfer_id)
            except WalletLinkError:
                continue

    statuses = Counter(record.status for record in client.journal.records("demobank"))
    reasons = Counter(
        (record.transfer.reason.code.value if record.transfer and record.transfer.reason else "?")
        for record in client.journal.records("demobank")
        if record.status is TransferStatus.REJECTED
    )
    try:
        client.journal.verify()
        verified = True
    except WalletLinkError:
        verified = False
    accounts: list[AccountId] = [_OPERATING, _SMALL, *(iban for _, iban in _CREDITORS)]
    summary = DemoSummary(
        transfers=transfers,
        settled=statuses[TransferStatus.SETTLED],
        rejected=statuses[TransferStatus.REJECTED],
        rejected_reasons=dict(sorted(reasons.items())),
        retries=sum(retries.values()),
        unknown_outcomes=unknown,
        unknown_resolved=resolved,
        connect_failures_completed=connect_failures,
        webhooks_received=received,
        webhook_duplicates=duplicates,
        duplicates_at_bank=bank.duplicates_at_bank,
        journal_matches_bank=_journal_matches_bank(client, bank),
        journal_verified=verified,
        final_balances={repr(account): str(bank.balance(account)) for account in accounts},
        faults_injected={k: v for k, v in sorted(bank.stats.items()) if k.startswith("fault")},
    )
    client.close()
    journal.close()
    return summary


def _print_text(summary: DemoSummary, journal_path: Path) -> None:
    lines = [
        "walletlink demo: generic_rest mock bank with injected faults",
        f"  journal                {journal_path}",
        f"  transfers sent         {summary.transfers}",
        f"  settled                {summary.settled}",
        f"  rejected               {summary.rejected}"
        + "".join(f"\n    {reason:<21}{n}" for reason, n in summary.rejected_reasons.items()),
        f"  retries                {summary.retries}",
        f"  unknown outcomes       {summary.unknown_outcomes} (resolved by lookup: "
        f"{summary.unknown_resolved})",
        f"  webhooks               {summary.webhooks_received} "
        f"({summary.webhook_duplicates} duplicates ignored)",
        "  faults injected        "
        + ", ".join(f"{k.removeprefix('fault.')}={v}" for k, v in summary.faults_injected.items()),
        f"  duplicates at bank     {summary.duplicates_at_bank}",
        f"  journal matches bank   {'yes' if summary.journal_matches_bank else 'NO'}",
        f"  journal hash chain     {'verified' if summary.journal_verified else 'BROKEN'}",
        "  final balances:",
        *(f"    {account:<22} {amount}" for account, amount in summary.final_balances.items()),
    ]
    print("\n".join(lines))


def run_demo(
    *, transfers: int = 40, seed: int = 7, as_json: bool = False, journal_path: str | None = None
) -> int:
    with tempfile.TemporaryDirectory(prefix="walletlink-demo-") as folder:
        path = Path(journal_path) if journal_path else Path(folder) / "journal.sqlite3"
        summary = simulate(transfers=transfers, seed=seed, journal_path=path)
        if as_json:
            print(json.dumps(summary.to_dict(), sort_keys=True))
        else:
            _print_text(summary, path)
    ok = (
        summary.journal_matches_bank
        and summary.duplicates_at_bank == 0
        and summary.journal_verified
    )
    return 0 if ok else 1
