"""A wallet and its bank for the reliability rows: one client, one journal, one mock bank.

Everything runs in process on one :class:`FakeClock`, so a row that sends ten thousand
transfers through dropped replies and resets takes seconds and replays from its seed. The
checks are the table's definitions:

* **dup**: a key (or end-to-end id) with more than one transfer at the bank;
* **lost**: a journal record with no matching bank transfer (unless the bank refused it
  outright), or a bank transfer no journal record accounts for, or the two disagree on the
  status after reconciliation;
* **final**: the share of journal records settled or final once the wallet has resolved
  its unknowns and refreshed what the bank settled.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

from walletlink import Client, RetryPolicy
from walletlink.accounts import Iban
from walletlink.errors import (
    BankRejectedError,
    ConnectError,
    RateLimitedError,
    UnknownOutcomeError,
    WalletLinkError,
)
from walletlink.journal import JournalRecord, SQLiteJournal
from walletlink.models import Party, TransferRequest, TransferStatus
from walletlink.money import Money
from walletlink.testing import FakeClock, FaultPlan, MockBank
from walletlink.testing.faults import FaultDecision
from walletlink.testing.mockbank import WebhookTarget

DEBTOR = Iban("DE89370400440532013000")
CREDITORS = (Iban("GB33BUKB20201555555555"), Iban("NL91ABNA0417164300"))
OPENING = Money("100000000.00", "EUR")


@attrs.frozen(kw_only=True)
class Tally:
    """What happened to a run of transfers, measured from the journal and the bank."""

    transfers: int
    unknown: int  # transfer() raised UnknownOutcomeError: the bank may have executed it
    never_sent: int  # ConnectError / RateLimitedError: known not executed, intent left open
    rejected: int
    dup: int
    lost: int
    final: int
    requests: int  # requests that reached the bank, retries and lookups included

    @property
    def final_percent(self) -> str:
        share = 100 * self.final / self.transfers if self.transfers else 100.0
        return f"{share:.0f}%" if self.final == self.transfers else f"{share:.2f}%"


class Wallet:
    """One client and SQLite journal in front of one generic_rest mock bank."""

    def __init__(
        self,
        tmp_path: Path,
        plan: FaultPlan,
        *,
        name: str = "journal",
        webhook_target: WebhookTarget = None,
    ) -> None:
        self.clock = FakeClock()
        self.bank = MockBank(
            "generic_rest",
            bank_id="acme",
            clock=self.clock,
            faults=plan,
            webhook_target=webhook_target,
        )
        #: Requests the transport put on the wire to the bank, by method (faults included).
        self.sent = Counter[str]()
        decide = self.bank.decide

        def counting_decide(method: str) -> FaultDecision:
            self.sent[method] += 1
            return decide(method)

        self.bank.decide = counting_decide  # type: ignore[method-assign]
        self.bank.open_account(DEBTOR, OPENING)
        for creditor in CREDITORS:
            self.bank.open_account(creditor, Money("0.00", "EUR"))
        self.path = tmp_path / f"{name}.sqlite3"
        self.journal = SQLiteJournal(self.path, durability="normal")
        self.client = self.connect(self.journal, seed=plan.seed)

    def connect(self, journal: SQLiteJournal, *, seed: int = 0) -> Client:
        client = Client(
            [self.bank.config()],
            journal=journal,
            retry=RetryPolicy(
                sleep=self.clock.sleep, clock=self.clock.monotonic, rng=random.Random(seed)
            ),
            clock=self.clock.now,
        )
        self.bank.mount(client.session)
        return client

    def reopen(self) -> None:
        """A crash: drop the client and journal object, open the same file again."""
        self.client.close()
        self.journal.close()
        self.journal = SQLiteJournal(self.path, durability="normal")
        self.client = self.connect(self.journal)

    def close(self) -> None:
        self.client.close()
        self.journal.close()
        self.bank.close()

    def requests(self, count: int, seed: int) -> list[TransferRequest]:
        """``count`` transfers of random amounts, each with its own payout id."""
        rng = random.Random(seed)
        return [
            TransferRequest(
                amount=Money.from_minor(rng.randrange(1, 50_000), "EUR"),
                debtor_account=DEBTOR,
                creditor=Party(name="Ada Lovelace", account=CREDITORS[n % len(CREDITORS)]),
                remittance=f"Payout {n}",
                payout_id=f"payout-{seed}-{n}",
            )
            for n in range(count)
        ]

    def send(self, batch: list[TransferRequest], *, pause: float = 0.5) -> Counter[str]:
        """Send each transfer once, the way a wallet's request handler does, ``pause``
        seconds apart; count the failures."""
        outcomes = Counter[str]()
        for request in batch:
            try:
                self.client.transfer("acme", request)
                outcomes["answered"] += 1
            except UnknownOutcomeError:
                outcomes["unknown"] += 1
            except (ConnectError, RateLimitedError):
                outcomes["never_sent"] += 1
            except BankRejectedError:
                outcomes["rejected"] += 1
            self.clock.advance(pause)
        return outcomes

    def reconcile(self, rounds: int = 20) -> None:
        """The recovery job: resolve unknowns and open intents, let the bank settle, refresh."""
        for _ in range(rounds):
            if not self.journal.unresolved():
                break
            self.client.resolve_unknown()
            self.clock.advance(30)
        self.bank.advance(3600)
        for record in list(self.journal.records()):
            if record.transfer is not None and not record.status.is_final:
                try:
                    self.client.get_transfer(record.transfer_id)
                except WalletLinkError:
                    continue

    def tally(self, batch: list[TransferRequest], outcomes: Counter[str]) -> Tally:
        records = list(self.journal.records())
        return Tally(
            transfers=len(batch),
            unknown=outcomes["unknown"],
            never_sent=outcomes["never_sent"],
            rejected=sum(r.status is TransferStatus.REJECTED for r in records),
            dup=duplicates(self.bank),
            lost=lost(records, self.bank) + (len(batch) - len(records)),
            final=sum(decided(r.status) for r in records),
            requests=self.bank.stats.get("requests", 0),
        )


def decided(status: TransferStatus) -> bool:
    """Settled or final: the wallet knows what became of the money (SETTLED is not
    ``is_final`` only because a settled transfer may still be returned)."""
    return status is TransferStatus.SETTLED or status.is_final


def duplicates(bank: MockBank) -> int:
    """Bank transfers beyond the first for one idempotency key or one end-to-end id."""
    views = bank.transfers()
    keys = Counter(view.idempotency_key for view in views if view.idempotency_key)
    e2e = Counter(view.end_to_end_id for view in views)
    extra = sum(n - 1 for n in keys.values()) + sum(n - 1 for n in e2e.values())
    return max(extra, bank.duplicates_at_bank)


def lost(records: list[JournalRecord], bank: MockBank) -> int:
    """Journal records and bank transfers that do not pair up one to one, status included."""
    views = bank.transfers()
    by_key = {view.idempotency_key: view for view in views if view.idempotency_key}
    by_e2e = {view.end_to_end_id: view for view in views}
    matched: set[str] = set()
    missing = 0
    for record in records:
        view = by_key.get(record.idempotency_key) or by_e2e.get(
            record.transfer_request().end_to_end_id
        )
        if view is None:
            # Only a request the bank refused outright has no transfer there.
            missing += record.status is not TransferStatus.REJECTED
            continue
        missing += record.status is not view.status
        matched.add(view.id)
    return missing + len({view.id for view in views} - matched)


@contextmanager
def wallet(tmp_path: Path, plan: FaultPlan) -> Iterator[Wallet]:
    world = Wallet(tmp_path, plan)
    try:
        yield world
    finally:
        world.close()
