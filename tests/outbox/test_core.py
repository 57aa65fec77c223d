"""The outbox against the generic_rest mock bank: staging, draining, feedback, faults."""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from tests.outbox import wallet
from walletlink import Client, RetryPolicy
from walletlink.errors import ConfigurationError, IdempotencyMismatchError, ValidationError
from walletlink.journal import SQLiteJournal
from walletlink.models import Party, ReasonCode, TransferRequest, TransferStatus
from walletlink.money import Money
from walletlink.outbox import Outcome, drain, enqueue, entries, observe
from walletlink.testing import FakeClock, FaultPlan, MockBank

USERS = {"alice": 100_00, "bob": 50_00}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bank(clock: FakeClock) -> Iterator[MockBank]:
    bank = MockBank("generic_rest", bank_id="acme", clock=clock)
    bank.open_account(wallet.WALLET_ACCOUNT, Money("1000.00", "EUR"))
    bank.open_account(wallet.CREDITOR, Money("0.00", "EUR"))
    bank.open_account(wallet.CLOSED_CREDITOR, Money("0.00", "EUR"), closed=True)
    yield bank
    bank.close()


@pytest.fixture
def db(tmp_path: Path) -> wallet.Store:
    store = wallet.Store(str(tmp_path / "wallet.sqlite3"))
    wallet.create(store, USERS)
    return store


@pytest.fixture
def client(bank: MockBank, clock: FakeClock, tmp_path: Path) -> Iterator[Client]:
    journal = SQLiteJournal(tmp_path / "journal.sqlite3")
    client = Client(
        [bank.config()],
        journal=journal,
        retry=RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(0)),
        clock=clock.now,
        require_caller_ids=True,
    )
    bank.mount(client.session)
    yield client
    client.close()
    journal.close()


def connector(db: wallet.Store) -> Callable[[], sqlite3.Connection]:
    return lambda: wallet.connect(db)


def run_drain(client: Client, db: wallet.Store, **options: object) -> list[Outcome]:
    report = drain(client, connector(db), wallet.on_outcome, **options)  # type: ignore[arg-type]
    return list(report.outcomes)


def test_nothing_is_sent_at_enqueue_and_a_rollback_leaves_no_intent(
    bank: MockBank, db: wallet.Store
) -> None:
    conn = wallet.connect(db)
    conn.execute("BEGIN IMMEDIATE")
    enqueue(conn, "acme", wallet.payout_request("P-1", 10_00))
    conn.rollback()
    assert entries(conn) == []
    wallet.request_payout(conn, "alice", "P-2", 10_00)
    assert [e.state for e in entries(conn)] == ["pending"]
    conn.close()
    assert bank.transfers() == []


def test_drain_sends_each_intent_once_and_feeds_back_settlement(
    bank: MockBank, client: Client, clock: FakeClock, db: wallet.Store
) -> None:
    conn = wallet.connect(db)
    wallet.request_payout(conn, "alice", "P-1", 12_30)
    first = run_drain(client, db)
    assert first == []  # accepted, not decided yet
    assert [e.state for e in entries(conn)] == ["awaiting"]
    assert run_drain(client, db) == []  # not due for a poll yet: nothing sent again
    bank.advance(61)
    clock.advance(61)
    (settled,) = run_drain(client, db)
    assert (settled.payout_id, settled.status, settled.refund_due) == (
        "P-1",
        TransferStatus.SETTLED,
        False,
    )
    assert [(e.state, e.applied) for e in entries(conn)] == [("done", ("settled",))]
    assert len(bank.transfers()) == 1
    assert run_drain(client, db) == []
    conn.close()


def test_a_rejected_payout_is_refunded_once(
    bank: MockBank, client: Client, clock: FakeClock, db: wallet.Store
) -> None:
    conn = wallet.connect(db)
    wallet.request_payout(conn, "bob", "P-9", 20_00, closed=True)
    conn.close()
    run_drain(client, db)
    bank.advance(61)
    clock.advance(61)
    (rejected,) = run_drain(client, db)
    assert rejected.status is TransferStatus.REJECTED
    assert rejected.reason is not None
    assert rejected.reason.code is ReasonCode.ACCOUNT_CLOSED
    assert run_drain(client, db) == []
    assert wallet.totals(db)["refunds"] == 20_00
    assert wallet.totals(db)["balances"] == sum(USERS.values())


def test_an_unknown_outcome_stays_in_progress_and_is_resolved_under_the_same_key(
    bank: MockBank, client: Client, clock: FakeClock, db: wallet.Store
) -> None:
    conn = wallet.connect(db)
    wallet.request_payout(conn, "alice", "P-3", 5_00)
    bank.set_faults(FaultPlan(drop_response_after_commit=1.0, only_methods=frozenset({"POST"})))
    assert run_drain(client, db) == []
    (entry,) = entries(conn)
    assert (entry.state, entry.last_error) == ("sending", "UnknownOutcomeError")
    bank.set_faults(FaultPlan.none())
    clock.advance(31)
    run_drain(client, db)
    assert [e.state for e in entries(conn)] == ["awaiting"]
    assert len(bank.transfers()) == 1
    assert bank.duplicates_at_bank == 0
    assert {t.idempotency_key for t in bank.transfers()} == {entry.idempotency_key}
    conn.close()


def test_the_same_payout_enqueued_twice_is_one_entry(db: wallet.Store) -> None:
    conn = wallet.connect(db)
    first = enqueue(conn, "acme", wallet.payout_request("P-4", 1_00))
    again = enqueue(conn, "acme", wallet.payout_request("P-4", 1_00))
    assert again.id == first.id
    with pytest.raises(IdempotencyMismatchError):
        enqueue(conn, "acme", wallet.payout_request("P-4", 2_00))
    with pytest.raises(IdempotencyMismatchError):
        enqueue(conn, "other", wallet.payout_request("P-4", 1_00))
    assert len(entries(conn)) == 1
    conn.close()


def test_enqueue_refuses_a_payout_without_the_wallets_id(db: wallet.Store) -> None:
    conn = wallet.connect(db)
    anonymous = wallet.payout_request("P-5", 1_00)
    anonymous = type(anonymous).from_canonical({**anonymous.canonical(), "end_to_end_id": "x"}, "k")
    enqueue(conn, "acme", anonymous)  # an explicit key is an identity
    random_key = TransferRequest(
        amount=Money("1.00", "EUR"),
        debtor_account=wallet.WALLET_ACCOUNT,
        creditor=Party(name="Ada", account=wallet.CREDITOR),
    )
    with pytest.raises(ValidationError, match="payout_id"):
        enqueue(conn, "acme", random_key)
    conn.close()


def test_an_unknown_connection_type_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        entries(object())


def test_a_failing_callback_rolls_back_and_the_outcome_is_fed_back_later(
    bank: MockBank, client: Client, clock: FakeClock, db: wallet.Store
) -> None:
    conn = wallet.connect(db)
    wallet.request_payout(conn, "bob", "P-6", 3_00, closed=True)
    run_drain(client, db)
    bank.advance(61)
    clock.advance(61)

    def broken(conn: sqlite3.Connection, outcome: Outcome) -> None:
        wallet.on_outcome(conn, outcome)
        raise RuntimeError("the wallet crashed while posting the refund")

    with pytest.raises(RuntimeError):
        drain(client, connector(db), broken)
    assert wallet.totals(db)["refunds"] == 0
    assert [e.applied for e in entries(conn)] == [()]
    clock.advance(301)  # the broken drainer's lease runs out
    (refund,) = run_drain(client, db)
    assert refund.refund_due
    assert wallet.totals(db)["refunds"] == 3_00
    conn.close()


def test_observe_feeds_back_a_return_after_settlement_once(
    bank: MockBank, client: Client, clock: FakeClock, db: wallet.Store
) -> None:
    conn = wallet.connect(db)
    wallet.request_payout(conn, "alice", "P-7", 7_00)
    run_drain(client, db)
    bank.advance(61)
    clock.advance(61)
    (settled,) = run_drain(client, db)
    assert settled.transfer is not None
    returned = settled.transfer.moved_to(TransferStatus.RETURNED)
    outcome = observe(conn, returned, wallet.on_outcome)
    conn.commit()
    assert outcome is not None
    assert outcome.refund_due
    assert observe(conn, returned, wallet.on_outcome) is None
    conn.commit()
    assert observe(conn, attrs.evolve(returned, idempotency_key="nope"), wallet.on_outcome) is None
    stale = attrs.evolve(returned, status=TransferStatus.PROCESSING)
    assert observe(conn, stale, wallet.on_outcome) is None
    assert wallet.totals(db)["refunds"] == 7_00
    conn.close()


def test_a_stale_rejection_after_settlement_is_not_refunded(
    bank: MockBank, client: Client, clock: FakeClock, db: wallet.Store
) -> None:
    conn = wallet.connect(db)
    wallet.request_payout(conn, "alice", "P-8", 8_00)
    run_drain(client, db)
    bank.advance(61)
    clock.advance(61)
    (settled,) = run_drain(client, db)
    assert settled.transfer is not None
    rejected = attrs.evolve(settled.transfer, status=TransferStatus.REJECTED)
    assert observe(conn, rejected, wallet.on_outcome) is None
    conn.commit()
    assert wallet.totals(db)["refunds"] == 0
    assert [e.applied for e in entries(conn)] == [("settled",)]
    conn.close()


def test_concurrent_drainers_send_each_intent_once(
    bank: MockBank, client: Client, clock: FakeClock, db: wallet.Store
) -> None:
    conn = wallet.connect(db)
    for n in range(30):
        wallet.request_payout(conn, "alice", f"P-{n}", 1_00)
    conn.close()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            run_drain(client, db)
        except BaseException as exc:  # reported below; a thread cannot raise into the test
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(bank.transfers()) == 30
    assert bank.duplicates_at_bank == 0
    assert bank.stats.get("replays", 0) == 0


def test_the_outbox_logger_redacts_what_it_logs(caplog: pytest.LogCaptureFixture) -> None:
    """The "walletlink" logger's filter never sees a child logger's records (found by T15's
    log scan review): walletlink.outbox carries its own."""
    from walletlink.outbox import _core

    with caplog.at_level(logging.DEBUG, logger="walletlink"):
        _core.logger.warning("paying %s with %s", "DE89370400440532013000", "Bearer sk_live_x1")
    assert "DE89370400440532013000" not in caplog.text
    assert "sk_live_x1" not in caplog.text
