"""T14: a hypothesis state machine over the client, a mock bank and a durable journal.

Steps send payouts (new ones and the same ones again), switch the bank's faults (replies
dropped after it paid, resets before and after, 5xx, 429), crash the wallet between the
bank's answer and the journal write (the journal file is reopened by a new client, which
resolves what it left open), run the recovery job and let the bank settle. After every
step, Jepsen's bank invariant holds at the bank: the balances sum to the opening total and
none is negative; no key has two bank transfers; no journalled status ever moves backwards,
and the journal is never ahead of the bank. At the end, with a healthy bank, every payout
is decided and the journal and the bank agree one to one.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path

import attrs
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tests.reliability._world import decided, duplicates, lost
from tests.reliability.conftest import SCALE, record_figures
from walletlink import Client, RetryPolicy
from walletlink.accounts import Iban
from walletlink.errors import WalletLinkError
from walletlink.journal import JournalRecord, SQLiteJournal
from walletlink.models import Party, Transfer, TransferRequest, TransferStatus
from walletlink.money import Money
from walletlink.testing import FakeClock, FaultKind, FaultPlan, MockBank

WALLET = Iban("DE89370400440532013000")
CREDITORS = (Iban("GB33BUKB20201555555555"), Iban("NL91ABNA0417164300"))
OPENING = {WALLET: Money("500.00", "EUR"), CREDITORS[0]: Money("0.00", "EUR")}
OPENING[CREDITORS[1]] = Money("7.00", "EUR")
FAULTS = [None, *FaultKind]
#: Totals over every example run, for the figures line.
TOTALS: Counter[str] = Counter()


class Crash(BaseException):
    """The wallet process dies here: nothing after this line runs."""


class CrashingJournal(SQLiteJournal):
    """Dies on the next write of a bank answer when armed: the bank has acted, the journal
    still says the request was only sent."""

    armed = False

    def record_transfer(self, transfer: Transfer, *, now: datetime) -> JournalRecord:
        if self.armed:
            self.armed = False
            raise Crash
        return super().record_transfer(transfer, now=now)


class BankMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="walletlink-t14-"))
        self.clock = FakeClock()
        self.bank = MockBank("generic_rest", bank_id="acme", clock=self.clock)
        for account, money in OPENING.items():
            self.bank.open_account(account, money)
        self.requests: dict[str, TransferRequest] = {}
        self.seen: dict[str, TransferStatus] = {}
        self.crashes = 0
        self.journal, self.client = self.open()

    def open(self) -> tuple[CrashingJournal, Client]:
        journal = CrashingJournal(self.folder / "journal.sqlite3", durability="off")
        policy = RetryPolicy(
            sleep=self.clock.sleep, clock=self.clock.monotonic, rng=random.Random(14)
        )
        client = Client([self.bank.config()], journal=journal, retry=policy, clock=self.clock.now)
        self.bank.mount(client.session)
        return journal, client

    def teardown(self) -> None:
        self.client.close()
        self.journal.close()
        self.bank.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def crashed(self) -> None:
        """The process died: a new one opens the journal file and resolves what is open."""
        self.crashes += 1
        self.client.close()
        self.journal.close()
        self.journal, self.client = self.open()
        self.recover()

    def guarded(self, action: object) -> None:
        try:
            action()  # type: ignore[operator]
        except Crash:
            self.crashed()
        except WalletLinkError:
            pass  # unknown, refused, rate limited, breaker open: the journal says which

    # -- steps --------------------------------------------------------------------------

    @rule(cents=st.integers(1, 20_000), creditor=st.sampled_from(CREDITORS))
    def pay(self, cents: int, creditor: Iban) -> None:
        request = TransferRequest(
            amount=Money.from_minor(cents, "EUR"),
            debtor_account=WALLET,
            creditor=Party(name="Ada Lovelace", account=creditor),
            payout_id=f"payout-{len(self.requests)}",
        )
        self.requests[request.idempotency_key] = request
        self.guarded(lambda: self.client.transfer("acme", request))

    @rule(data=st.data())
    def pay_again(self, data: st.DataObject) -> None:
        """The wallet's handler runs again for a payout (a user double-click, a retry job)."""
        if self.requests:
            key = data.draw(st.sampled_from(sorted(self.requests)))
            self.guarded(lambda: self.client.transfer("acme", self.requests[key]))

    @rule(kind=st.sampled_from(FAULTS), probability=st.sampled_from([0.3, 1.0]))
    def faults(self, kind: FaultKind | None, probability: float) -> None:
        plan = FaultPlan() if kind is None else FaultPlan.of(kind, probability)
        self.bank.set_faults(attrs.evolve(plan, seed=len(self.requests)))

    @rule()
    def crash_on_next_answer(self) -> None:
        self.journal.armed = True

    @rule()
    def recover(self) -> None:
        self.guarded(self.client.resolve_unknown)

    @rule(seconds=st.sampled_from([1, 30, 61, 3600]))
    def wait(self, seconds: int) -> None:
        self.bank.advance(seconds)

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def money_is_conserved_and_never_negative(self) -> None:
        balances = {account: self.bank.balance(account) for account in OPENING}
        total = sum((money for money in balances.values()), Money("0.00", "EUR"))
        assert sum(OPENING.values(), Money("0.00", "EUR")) == total
        assert [a for a in OPENING if self.bank.available(a) < Money("0.00", "EUR")] == []

    @invariant()
    def at_most_one_transfer_per_key(self) -> None:
        assert duplicates(self.bank) == 0

    @invariant()
    def statuses_never_move_backwards(self) -> None:
        at_bank = {v.idempotency_key: v.status for v in self.bank.transfers()}
        for record in self.journal.records():
            key, status = record.idempotency_key, record.status
            previous = self.seen.get(key, status)
            assert previous.can_become(status), (previous, status)
            self.seen[key] = status
            if key in at_bank and status is not TransferStatus.UNKNOWN and record.transfer:
                assert status.can_become(at_bank[key]), (status, at_bank[key])

    def finish(self) -> None:
        """With the bank healthy again, everything is decided and agrees one to one."""
        self.journal.armed = False
        self.bank.set_faults(FaultPlan())
        self.clock.advance(120)  # past any open breaker's cool-down
        for _ in range(5):
            self.recover()
        self.bank.advance(3600)
        for record in list(self.journal.records()):
            with contextlib.suppress(WalletLinkError):
                self.client.get_transfer(record.transfer_id)
        records = list(self.journal.records())
        undecided = [r.idempotency_key for r in records if not decided(r.status)]
        missing = lost(records, self.bank)
        TOTALS.update(
            examples=1,
            payouts=len(self.requests),
            crashes=self.crashes,
            transfers=len(self.bank.transfers()),
            faults=sum(v for k, v in self.bank.stats.items() if k.startswith("fault.")),
            undecided=len(undecided),
            lost=missing,
        )
        record_figures(
            "T14",
            "T14",
            f"{TOTALS['examples']} examples x up to {STEPS} steps: {TOTALS['payouts']} "
            f"payouts, {TOTALS['faults']} faults, {TOTALS['crashes']} crashes; money "
            f"conserved, 0 negative, 0 dup, 0 statuses backwards; {TOTALS['undecided']} "
            f"undecided, {TOTALS['lost']} lost at the end",
        )
        assert undecided == []
        assert missing == 0


class FinishingBankMachine(BankMachine):
    def teardown(self) -> None:
        try:
            self.finish()
        finally:
            super().teardown()


STEPS = SCALE.pick(25, 50)
TestBankMachine = settings(
    max_examples=SCALE.pick(20, 1_000),
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)(FinishingBankMachine).TestCase
