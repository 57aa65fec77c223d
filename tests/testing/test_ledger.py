from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from tests.protocols.generic_rest.conftest import CREDITOR, DEBTOR, EXTERNAL
from walletlink.accounts import Iban, LocalAccount
from walletlink.errors import CurrencyMismatchError
from walletlink.models import Direction, ReasonCode, TransferStatus
from walletlink.money import Money
from walletlink.testing import FakeClock, Ledger
from walletlink.testing.ledger import (
    AccountNotFoundError,
    TransferInstruction,
    TransferNotCancellableError,
)


def eur(amount: str) -> Money:
    return Money(amount, "EUR")


def instruction(
    amount: str = "10.00", creditor: str = CREDITOR, e2e: str = "e1"
) -> TransferInstruction:
    return TransferInstruction(
        amount=eur(amount),
        debtor_account=Iban(DEBTOR),
        creditor_name="Bob",
        creditor_account=Iban(creditor),
        end_to_end_id=e2e,
        remittance="rent",
    )


@pytest.fixture
def ledger() -> Ledger:
    ledger = Ledger(processing_after=5, settle_after=60)
    ledger.open_account(Iban(DEBTOR), eur("100.00"), name="Alice")
    ledger.open_account(Iban(CREDITOR), eur("0.00"), name="Bob")
    return ledger


def test_submit_reserves_without_booking(ledger: Ledger) -> None:
    clock = FakeClock()
    transfer = ledger.submit(instruction(), clock.now())
    assert (
        transfer.id,
        transfer.status,
        transfer.reason,
    ) == ("tr_0001", TransferStatus.PENDING, None)
    account = ledger.account(DEBTOR)
    assert (eur("100.00"), eur("90.00")) == (account.booked, account.available)


def test_insufficient_funds_is_a_rejected_transfer(ledger: Ledger) -> None:
    ledger.submit(instruction("95.00"), FakeClock().now())
    transfer = ledger.submit(instruction("5.01", e2e="e2"), FakeClock().now())
    assert (
        transfer.status,
        transfer.reason,
    ) == (TransferStatus.REJECTED, ReasonCode.INSUFFICIENT_FUNDS)
    assert eur("5.00") == ledger.account(DEBTOR).available


def test_lifecycle_on_the_clock(ledger: Ledger) -> None:
    clock = FakeClock()
    created = ledger.submit(instruction(), clock.now())
    assert ledger.run_due(clock.now() + timedelta(seconds=4)) == []
    [processing] = ledger.run_due(clock.now() + timedelta(seconds=5))
    assert processing.status == TransferStatus.PROCESSING
    [settled] = ledger.run_due(clock.now() + timedelta(seconds=3600))
    assert settled.status == TransferStatus.SETTLED
    assert created.created_at + timedelta(seconds=60) == settled.updated_at
    assert (eur("90.00"), eur("90.00")) == (
        ledger.account(DEBTOR).booked,
        ledger.account(DEBTOR).available,
    )
    assert eur("10.00") == ledger.account(CREDITOR).booked
    [debit] = ledger.entries(DEBTOR)
    [credit] = ledger.entries(CREDITOR)
    assert (
        debit.direction,
        debit.counterparty_name,
        debit.transfer_id,
    ) == (Direction.DEBIT, "Bob", "tr_0001")
    assert (
        credit.direction,
        credit.counterparty_name,
        credit.seq,
    ) == (Direction.CREDIT, "Alice", 2)


def test_one_jump_runs_both_steps_in_order(ledger: Ledger) -> None:
    clock = FakeClock()
    ledger.submit(instruction(), clock.now())
    changes = ledger.run_due(clock.now() + timedelta(hours=1))
    assert [c.status for c in changes] == [TransferStatus.PROCESSING, TransferStatus.SETTLED]


def test_closed_creditor_rejects_at_processing_and_releases(ledger: Ledger) -> None:
    clock = FakeClock()
    ledger.close_account(CREDITOR)
    ledger.submit(instruction(), clock.now())
    [rejected] = ledger.run_due(clock.now() + timedelta(hours=1))
    assert (
        rejected.status,
        rejected.reason,
    ) == (TransferStatus.REJECTED, ReasonCode.ACCOUNT_CLOSED)
    assert eur("100.00") == ledger.account(DEBTOR).available


def test_creditor_elsewhere_leaves_the_bank(ledger: Ledger) -> None:
    clock = FakeClock()
    ledger.submit(instruction(creditor=EXTERNAL), clock.now())
    ledger.run_due(clock.now() + timedelta(hours=1))
    assert eur("90.00") == ledger.total("EUR")
    assert eur("10.00") == ledger.sent_out("EUR")


def test_cancel_only_pending(ledger: Ledger) -> None:
    clock = FakeClock()
    first = ledger.submit(instruction(), clock.now())
    cancelled = ledger.cancel(first.id, clock.now())
    assert (
        cancelled.status,
        cancelled.reason,
    ) == (TransferStatus.CANCELLED, ReasonCode.CANCELLED_BY_USER)
    assert eur("100.00") == ledger.account(DEBTOR).available
    second = ledger.submit(instruction(e2e="e2"), clock.now())
    ledger.run_due(clock.now() + timedelta(seconds=5))
    with pytest.raises(TransferNotCancellableError):
        ledger.cancel(second.id, clock.now())


def test_request_level_refusals_raise(ledger: Ledger) -> None:
    now = FakeClock().now()
    unknown = attrs.evolve(instruction(), debtor_account=LocalAccount("nope"))
    with pytest.raises(AccountNotFoundError):
        ledger.submit(unknown, now)
    with pytest.raises(CurrencyMismatchError):
        ledger.submit(attrs.evolve(instruction(), amount=Money("1.00", "GBP")), now)
    with pytest.raises(ValueError, match="already open"):
        ledger.open_account(Iban(DEBTOR), eur("1.00"))
    assert ledger.transfers() == []


def test_closed_debtor_rejects(ledger: Ledger) -> None:
    ledger.close_account(DEBTOR)
    transfer = ledger.submit(instruction(), FakeClock().now())
    assert transfer.reason == ReasonCode.ACCOUNT_CLOSED


def test_timings_are_validated() -> None:
    with pytest.raises(ValueError, match="processing_after"):
        Ledger(processing_after=10, settle_after=5)
