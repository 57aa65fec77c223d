"""``walletlink demo``: transfers to four fault-injecting mock banks, then the proof.

One client and one SQLite journal talk to four banks of four protocol families: a modern
REST bank (``generic_rest``), an ISO 20022 host-to-host bank taking pain.001 files
(``iso20022_h2h``), an Alipay-style open-API gateway (``cn_openapi``) and WeChat Pay v3
merchant transfers (``wechatpay_v3``, a merchant mid-migration between platform
certificates and the WeChat Pay public key). Every bank drops
replies, resets connections, answers 5xx and 429 and garbles bodies at random (seeded), and
sends duplicate and out-of-order notifications. Everything runs in-process on a fake clock,
so the demo takes a few seconds and is the same on every run with the same seed.

It exits 0 only if, for every bank, the journal and the bank's ledger agree, no transfer was
executed twice, and the journal's hash chain verifies.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from walletlink._retry import RetryEvent, RetryPolicy
from walletlink.accounts import AccountId, Iban, LocalAccount
from walletlink.client import Client, Hooks
from walletlink.errors import (
    BankRejectedError,
    ConnectError,
    RateLimitedError,
    SignatureError,
    UnknownOutcomeError,
    WalletLinkError,
)
from walletlink.journal import JournalRecord, SQLiteJournal
from walletlink.models import Party, TransferRequest, TransferStatus
from walletlink.money import Money
from walletlink.testing import FakeClock, FaultPlan, MockBank

__all__ = ["DemoSummary", "run_demo", "simulate"]


@attrs.frozen(kw_only=True)
class _Account:
    label: str
    account: AccountId
    balance: str
    closed: bool = False


@attrs.frozen(kw_only=True)
class _Scenario:
    """One bank of the demo: its protocol, currency, accounts and share of the transfers."""

    bank_id: str
    protocol: str
    currency: str
    wallet: _Account
    #: A second, nearly empty payer; ``None`` where one merchant account pays everything
    #: (WeChat Pay), whose own balance then runs short instead.
    small_float: _Account | None
    creditors: tuple[_Account, ...]
    share: int  # transfers per 10 sent overall
    options: Mapping[str, Any] = attrs.field(factory=dict)  # the mock bank's own


_SCENARIOS = (
    _Scenario(
        bank_id="restbank",
        protocol="generic_rest",
        currency="EUR",
        wallet=_Account(label="wallet", account=Iban("DE89370400440532013000"), balance="5000.00"),
        small_float=_Account(
            label="small float", account=Iban("DE02120300000000202051"), balance="25.00"
        ),
        creditors=(
            _Account(label="Ada Lovelace", account=Iban("GB33BUKB20201555555555"), balance="0"),
            _Account(
                label="Grace Hopper", account=Iban("FR1420041010050500013M02606"), balance="0"
            ),
            _Account(label="Alan Turing", account=Iban("NL91ABNA0417164300"), balance="0"),
            _Account(
                label="Closed Ltd", account=Iban("BE68539007547034"), balance="0", closed=True
            ),
        ),
        share=5,
    ),
    _Scenario(
        bank_id="filebank",
        protocol="iso20022_h2h",
        currency="EUR",
        wallet=_Account(label="wallet", account=Iban("DE75512108001245126199"), balance="3000.00"),
        small_float=_Account(
            label="small float", account=Iban("DE12500105170648489890"), balance="20.00"
        ),
        creditors=(
            _Account(label="Edsger Dijkstra", account=Iban("NL20INGB0001234567"), balance="0"),
            _Account(
                label="Barbara Liskov", account=Iban("IT60X0542811101000000123456"), balance="0"
            ),
        ),
        share=2,
    ),
    _Scenario(
        bank_id="gateway",
        protocol="cn_openapi",
        currency="CNY",
        wallet=_Account(
            label="wallet", account=LocalAccount("2088101117955611"), balance="20000.00"
        ),
        small_float=_Account(
            label="small float", account=LocalAccount("2088101117955612"), balance="50.00"
        ),
        creditors=(
            _Account(label="Li Lei", account=LocalAccount("2088102177958114"), balance="0"),
            _Account(label="Han Meimei", account=LocalAccount("2088102177958115"), balance="0"),
        ),
        share=2,
    ),
    _Scenario(
        bank_id="wechat",
        protocol="wechatpay_v3",
        currency="CNY",
        # The merchant's operating balance pays every bill; it runs short on purpose.
        wallet=_Account(label="merchant", account=LocalAccount("1900009191"), balance="300.00"),
        small_float=None,
        creditors=(
            _Account(
                label="Wang Fang",
                account=LocalAccount("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", scheme="wechat_openid"),
                balance="0",
            ),
            _Account(
                label="Zhang Wei",
                account=LocalAccount("oUpF8uN95-Ptaags6E_roPHg7AG0", scheme="wechat_openid"),
                balance="0",
            ),
        ),
        share=1,
        options={"mode": "migrating"},
    ),
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
    banks: Mapping[str, Mapping[str, Any]]
    final_balances: Mapping[str, str]
    faults_injected: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _faults(seed: int) -> FaultPlan:
    return FaultPlan(
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


def _accounts(scenario: _Scenario) -> list[_Account]:
    payers = [scenario.wallet] + ([scenario.small_float] if scenario.small_float else [])
    return [*payers, *scenario.creditors]


def _open(bank: MockBank, scenario: _Scenario) -> None:
    for entry in _accounts(scenario):
        bank.open_account(
            entry.account,
            Money(entry.balance, scenario.currency),
            name=entry.label,
            closed=entry.closed,
        )


def _requests(scenario: _Scenario, count: int, rng: random.Random) -> list[TransferRequest]:
    batch = []
    for index in range(count):
        creditor = scenario.creditors[index % len(scenario.creditors)]
        # Every seventh transfer comes from the small float, so some hit insufficient funds.
        debtor = scenario.small_float if index % 7 == 6 else None
        debtor = debtor or scenario.wallet
        batch.append(
            TransferRequest(
                amount=Money.from_minor(rng.randrange(500, 20_000), scenario.currency),
                debtor_account=debtor.account,
                creditor=Party(name=creditor.label, account=creditor.account),
                remittance=f"Demo payout {index + 1}",
                end_to_end_id=f"{scenario.bank_id}-{index + 1:05d}",
            )
        )
    return batch


def _journal_matches_bank(records: list[JournalRecord], bank: MockBank) -> bool:
    """Every transfer the bank executed is journalled with the bank's status, and every
    journalled transfer is at the bank, except requests the bank refused outright."""
    views = bank.transfers()
    # Protocols identify a transfer by our idempotency key or by our end-to-end id.
    by_key = {view.idempotency_key: view for view in views if view.idempotency_key}
    by_e2e = {view.end_to_end_id: view for view in views}
    matched = set()
    for record in records:
        view = by_key.get(record.idempotency_key) or by_e2e.get(
            record.transfer_request().end_to_end_id
        )
        if view is None:
            if record.status is not TransferStatus.REJECTED:
                return False
            continue
        if record.status is not view.status:
            return False
        matched.add(view.id)
    return matched == {view.id for view in views}


class _Run:
    """The mutable bookkeeping of one demo run: counters and each bank's notifications."""

    def __init__(self) -> None:
        self.retries = Counter[str]()
        self.inbox: dict[str, list[tuple[Mapping[str, str], bytes]]] = {}
        self.unknown = self.connect_failures = self.resolved = 0
        self.received = self.duplicates = 0

    def receiver(self, bank_id: str) -> Callable[[Mapping[str, str], bytes], None]:
        box = self.inbox.setdefault(bank_id, [])
        return lambda headers, body: box.append((dict(headers), body))

    def count_retry(self, bank_id: str, event: RetryEvent) -> None:
        self.retries[bank_id] += 1


def _send(client: Client, bank: MockBank, batch: list[TransferRequest], run: _Run) -> None:
    for request in batch:
        try:
            client.transfer(bank.bank_id, request)
        except UnknownOutcomeError:
            run.unknown += 1
        except (ConnectError, RateLimitedError):
            run.connect_failures += 1  # never executed; the open intent is completed later
        except BankRejectedError:
            pass  # refused outright; journalled as REJECTED
        bank.clock.advance(1)


def _settle(client: Client, banks: list[MockBank], run: _Run) -> None:
    for _ in range(10):  # bounded: each round resolves most of what is left
        if not client.journal.unresolved():
            break
        run.resolved += len(client.resolve_unknown())
    for bank in banks:
        bank.advance(3600)
    for bank in banks:
        for headers, body in run.inbox.get(bank.bank_id, []):
            try:
                event = client.handle_notification(bank.bank_id, headers, body)
            except SignatureError:
                continue
            run.received += 1
            run.duplicates += event.duplicate
    for record in list(client.journal.records()):
        if record.transfer and not record.status.is_final:
            try:
                client.get_transfer(record.transfer_id)
            except WalletLinkError:
                continue


def simulate(*, transfers: int, seed: int, journal_path: Path) -> DemoSummary:
    """Run the whole scenario and return its summary (used by the CLI and the tests)."""
    clock = FakeClock()
    run = _Run()
    banks = [
        MockBank(
            scenario.protocol,
            bank_id=scenario.bank_id,
            base_url=f"https://{scenario.bank_id}.mock.test",
            clock=clock,
            faults=_faults(seed + offset),
            webhook_target=run.receiver(scenario.bank_id),
            settle_after=60,
            **scenario.options,
        )
        for offset, scenario in enumerate(_SCENARIOS)
    ]
    journal = SQLiteJournal(journal_path)
    client = Client(
        [bank.config() for bank in banks],
        journal=journal,
        retry=RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(seed)),
        hooks=Hooks(on_retry=run.count_retry),
        clock=clock.now,
    )
    rng = random.Random(seed)
    counts = [transfers * scenario.share // 10 for scenario in _SCENARIOS]
    counts[0] += transfers - sum(counts)
    for bank, scenario, count in zip(banks, _SCENARIOS, counts, strict=True):
        _open(bank, scenario)
        bank.mount(client.session)
        _send(client, bank, _requests(scenario, count, rng), run)
    _settle(client, banks, run)
    summary = _summarise(client, banks, run, transfers)
    client.close()
    journal.close()
    return summary


def _summarise(client: Client, banks: list[MockBank], run: _Run, transfers: int) -> DemoSummary:
    records = list(client.journal.records())
    statuses = Counter(record.status for record in records)
    reasons = Counter(
        (record.transfer.reason.code.value if record.transfer and record.transfer.reason else "?")
        for record in records
        if record.status is TransferStatus.REJECTED
    )
    try:
        client.journal.verify()
        verified = True
    except WalletLinkError:
        verified = False
    per_bank: dict[str, dict[str, Any]] = {}
    balances: dict[str, str] = {}
    faults: Counter[str] = Counter()
    for bank, scenario in zip(banks, _SCENARIOS, strict=True):
        mine = [record for record in records if record.bank_id == bank.bank_id]
        per_bank[bank.bank_id] = {
            "protocol": scenario.protocol,
            "transfers": len(mine),
            "settled": sum(r.status is TransferStatus.SETTLED for r in mine),
            "rejected": sum(r.status is TransferStatus.REJECTED for r in mine),
            "retries": run.retries[bank.bank_id],
            "duplicates_at_bank": bank.duplicates_at_bank,
            "journal_matches_bank": _journal_matches_bank(mine, bank),
        }
        for entry in _accounts(scenario):
            balances[f"{bank.bank_id} {entry.label}"] = str(bank.balance(entry.account))
        faults.update({k: v for k, v in bank.stats.items() if k.startswith("fault.")})
    return DemoSummary(
        transfers=transfers,
        settled=statuses[TransferStatus.SETTLED],
        rejected=statuses[TransferStatus.REJECTED],
        rejected_reasons=dict(sorted(reasons.items())),
        retries=sum(run.retries.values()),
        unknown_outcomes=run.unknown,
        unknown_resolved=run.resolved,
        connect_failures_completed=run.connect_failures,
        webhooks_received=run.received,
        webhook_duplicates=run.duplicates,
        duplicates_at_bank=sum(bank.duplicates_at_bank for bank in banks),
        journal_matches_bank=all(b["journal_matches_bank"] for b in per_bank.values()),
        journal_verified=verified,
        banks=per_bank,
        final_balances=balances,
        faults_injected=dict(sorted(faults.items())),
    )


def _print_text(summary: DemoSummary, journal_path: Path) -> None:
    yes = {True: "yes", False: "NO"}
    lines = [
        "walletlink demo: four mock banks, four protocols, faults injected",
        f"  journal                {journal_path}",
        f"  transfers sent         {summary.transfers}",
        f"  settled                {summary.settled}",
        f"  rejected               {summary.rejected}"
        + "".join(f"\n    {reason:<21}{n}" for reason, n in summary.rejected_reasons.items()),
        f"  retries                {summary.retries}",
        f"  unknown outcomes       {summary.unknown_outcomes} (resolved by lookup: "
        f"{summary.unknown_resolved})",
        f"  notifications          {summary.webhooks_received} "
        f"({summary.webhook_duplicates} duplicates ignored)",
        "  faults injected        "
        + ", ".join(f"{k.removeprefix('fault.')}={v}" for k, v in summary.faults_injected.items()),
        f"  duplicates at bank     {summary.duplicates_at_bank}",
        f"  journal matches bank   {yes[summary.journal_matches_bank]}",
        f"  journal hash chain     {'verified' if summary.journal_verified else 'BROKEN'}",
        "  per bank:",
        *(
            f"    {bank_id:<9} {info['protocol']:<13} {info['transfers']:>3} sent, "
            f"{info['settled']:>3} settled, {info['rejected']:>3} rejected, "
            f"{info['retries']:>3} retries, duplicates {info['duplicates_at_bank']}, "
            f"journal matches: {yes[info['journal_matches_bank']]}"
            for bank_id, info in summary.banks.items()
        ),
        "  final balances:",
        *(f"    {account:<28} {amount}" for account, amount in summary.final_balances.items()),
    ]
    print("\n".join(lines))


def run_demo(
    *, transfers: int = 60, seed: int = 7, as_json: bool = False, journal_path: str | None = None
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
