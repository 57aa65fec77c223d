"""The conformance suite every :class:`~walletlink.journal.Journal` implementation passes.

Subclass it in a test module and say how to build a fresh journal in a directory::

    class TestMyJournal(JournalConformance):
        def new_journal(self, directory: Path) -> Journal:
            return MyJournal(directory / "journal")

It needs pytest and hypothesis (walletlink's ``test`` extra); importing it elsewhere is an
error on purpose.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from walletlink.accounts import Iban
from walletlink.errors import IdempotencyMismatchError
from walletlink.journal.base import Journal, JournalRecord, JournalState, new_transfer_id
from walletlink.models import (
    NextAction,
    Party,
    Reason,
    ReasonCode,
    Transfer,
    TransferRequest,
    TransferStatus,
)
from walletlink.money import Money

__all__ = ["JournalConformance", "make_request", "make_transfer"]

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def make_request(**changes: Any) -> TransferRequest:
    """A valid transfer request; keyword arguments override its fields."""
    fields: dict[str, Any] = {
        "amount": Money("12.30", "EUR"),
        "debtor_account": Iban("DE89370400440532013000"),
        "creditor": Party("Ada Lovelace", Iban("GB82WEST12345698765432")),
        "remittance": "invoice 42",
    }
    fields.update(changes)
    return TransferRequest(**fields)


def make_transfer(record: JournalRecord, status: TransferStatus, **changes: Any) -> Transfer:
    """The bank's view of the journalled transfer, in ``status``."""
    request = record.transfer_request()
    transfer = Transfer(
        id=record.transfer_id,
        bank_id=record.bank_id,
        bank_transfer_id="bank-1",
        end_to_end_id=request.end_to_end_id,
        idempotency_key=record.idempotency_key,
        amount=request.amount,
        status=status,
    )
    return attrs.evolve(transfer, **changes)


class JournalConformance:
    """Behaviour every journal must show. Subclasses implement :meth:`new_journal`."""

    def new_journal(self, directory: Path) -> Journal:
        raise NotImplementedError

    @pytest.fixture
    def journal(self, tmp_path: Path) -> Iterator[Journal]:
        journal = self.new_journal(tmp_path)
        yield journal
        journal.close()

    def _intent(
        self, journal: Journal, *, bank_id: str = "bank-a", now: datetime = T0
    ) -> JournalRecord:
        record, created = journal.record_intent(
            bank_id=bank_id, request=make_request(), transfer_id=new_transfer_id(), now=now
        )
        assert created
        return record

    # -- claiming a key --------------------------------------------------------------------

    def test_intent_is_recorded_before_anything_is_sent(self, journal: Journal) -> None:
        request = make_request()
        record, created = journal.record_intent(
            bank_id="bank-a", request=request, transfer_id="wl_1", now=T0
        )
        assert created
        assert record.state == JournalState.INTENT
        assert record.status == TransferStatus.PENDING
        assert (record.transfer, record.attempts) == (None, 0)
        assert request.fingerprint() == record.request_hash
        assert request == record.transfer_request()
        assert (record.created_at, record.updated_at) == (T0, T0)
        assert record == journal.get(request.idempotency_key)
        assert record == journal.get_by_transfer_id("wl_1")

    def test_same_key_and_request_returns_the_existing_record(self, journal: Journal) -> None:
        request = make_request()
        first, _ = journal.record_intent(
            bank_id="bank-a", request=request, transfer_id="wl_1", now=T0
        )
        again, created = journal.record_intent(
            bank_id="bank-a", request=request, transfer_id="wl_2", now=T0 + timedelta(1)
        )
        assert (first, False) == (again, created)
        assert journal.get_by_transfer_id("wl_2") is None

    def test_same_key_with_another_request_is_refused(self, journal: Journal) -> None:
        request = make_request()
        first, _ = journal.record_intent(
            bank_id="bank-a", request=request, transfer_id="wl_1", now=T0
        )
        changed = attrs.evolve(request, amount=Money("12.31", "EUR"))
        with pytest.raises(IdempotencyMismatchError):
            journal.record_intent(bank_id="bank-a", request=changed, transfer_id="wl_2", now=T0)
        with pytest.raises(IdempotencyMismatchError):
            journal.record_intent(bank_id="bank-b", request=request, transfer_id="wl_3", now=T0)
        assert first == journal.get(request.idempotency_key)
        assert [first] == list(journal.records())

    def test_concurrent_claims_of_one_key_create_it_once(self, journal: Journal) -> None:
        request = make_request()
        results: list[bool] = []
        barrier = threading.Barrier(8)

        def claim(n: int) -> None:
            barrier.wait()
            _, created = journal.record_intent(
                bank_id="bank-a", request=request, transfer_id=f"wl_{n}", now=T0
            )
            results.append(created)

        threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results, reverse=True) == [True] + [False] * 7
        journal.verify()

    def test_naive_timestamps_are_refused(self, journal: Journal) -> None:
        with pytest.raises(ValueError, match="timezone"):
            journal.record_intent(
                bank_id="bank-a",
                request=make_request(),
                transfer_id="wl_1",
                now=datetime(2026, 1, 1),
            )

    # -- moving a record forward -------------------------------------------------------------

    def test_mark_sent_counts_attempts(self, journal: Journal) -> None:
        record = self._intent(journal)
        journal.mark_sent(record.idempotency_key, now=T0)
        sent = journal.mark_sent(record.idempotency_key, now=T0 + timedelta(seconds=2))
        assert (sent.state, sent.attempts) == (JournalState.SENT, 2)
        assert T0 + timedelta(seconds=2) == sent.updated_at
        assert sent == journal.get(record.idempotency_key)

    def test_unknown_keys_raise_key_error(self, journal: Journal) -> None:
        with pytest.raises(KeyError):
            journal.mark_sent("nope", now=T0)
        with pytest.raises(KeyError):
            journal.mark_unknown("nope", now=T0)
        stray = make_transfer(self._intent(journal), TransferStatus.SETTLED, idempotency_key="nope")
        with pytest.raises(KeyError):
            journal.record_transfer(stray, now=T0)
        assert journal.get("nope") is None

    def test_bank_answer_is_stored_and_round_trips(self, journal: Journal) -> None:
        record = self._intent(journal)
        journal.mark_sent(record.idempotency_key, now=T0)
        transfer = make_transfer(
            record,
            TransferStatus.REQUIRES_ACTION,
            reason=Reason(ReasonCode.OTHER, "X1", "authorise in app"),
            next_action=NextAction("redirect", "https://bank.example/sca", {"ticket": "7"}),
            created_at=T0,
            updated_at=datetime(2026, 1, 2, 5, 0, tzinfo=UTC),
        )
        done = journal.record_transfer(transfer, now=T0 + timedelta(seconds=1))
        assert (JournalState.DONE, transfer.status) == (done.state, done.status)
        assert transfer == done.transfer
        assert (1, done) == (done.attempts, journal.get(record.idempotency_key))

    def test_a_stale_answer_never_moves_the_status_back(self, journal: Journal) -> None:
        record = self._intent(journal)
        settled = journal.record_transfer(make_transfer(record, TransferStatus.SETTLED), now=T0)
        stale = make_transfer(record, TransferStatus.PROCESSING)
        assert settled == journal.record_transfer(stale, now=T0 + timedelta(seconds=5))
        assert settled == journal.get(record.idempotency_key)
        journal.verify()

    def test_an_answer_from_another_bank_is_refused(self, journal: Journal) -> None:
        record = self._intent(journal)
        foreign = make_transfer(record, TransferStatus.SETTLED, bank_id="bank-b")
        with pytest.raises(IdempotencyMismatchError):
            journal.record_transfer(foreign, now=T0)
        assert record == journal.get(record.idempotency_key)

    def test_unknown_outcome_then_resolution(self, journal: Journal) -> None:
        record = self._intent(journal)
        journal.mark_sent(record.idempotency_key, now=T0)
        unknown = journal.mark_unknown(record.idempotency_key, now=T0)
        assert (unknown.state, unknown.status) == (JournalState.SENT, TransferStatus.UNKNOWN)
        assert [unknown] == journal.unresolved()
        resolved = journal.record_transfer(make_transfer(record, TransferStatus.REJECTED), now=T0)
        assert resolved.status == TransferStatus.REJECTED
        assert resolved.outcome_known
        assert journal.unresolved() == []

    def test_mark_unknown_does_not_undo_a_final_answer(self, journal: Journal) -> None:
        record = self._intent(journal)
        settled = journal.record_transfer(make_transfer(record, TransferStatus.SETTLED), now=T0)
        assert settled == journal.mark_unknown(record.idempotency_key, now=T0)

    # -- queries --------------------------------------------------------------------------------

    def test_unresolved_lists_every_record_without_a_known_outcome(self, journal: Journal) -> None:
        crashed_before_send = self._intent(journal, now=T0)
        crashed_while_sending = self._intent(journal, now=T0 + timedelta(seconds=1))
        journal.mark_sent(crashed_while_sending.idempotency_key, now=T0 + timedelta(seconds=1))
        answered = self._intent(journal, now=T0 + timedelta(seconds=2))
        journal.record_transfer(make_transfer(answered, TransferStatus.PENDING), now=T0)
        lost = self._intent(journal, bank_id="bank-b", now=T0 + timedelta(seconds=3))
        journal.mark_unknown(lost.idempotency_key, now=T0 + timedelta(seconds=3))

        keys = [record.idempotency_key for record in journal.unresolved()]
        expected = [crashed_before_send, crashed_while_sending, lost]
        assert [record.idempotency_key for record in expected] == keys
        assert [lost.idempotency_key] == [r.idempotency_key for r in journal.unresolved("bank-b")]
        before = journal.unresolved(before=T0 + timedelta(seconds=2))
        assert [r.idempotency_key for r in expected[:2]] == [r.idempotency_key for r in before]

    def test_claim_unresolved_leases_the_open_records_oldest_first(self, journal: Journal) -> None:
        first = self._intent(journal, now=T0)
        journal.mark_unknown(first.idempotency_key, now=T0)
        second = self._intent(journal, bank_id="bank-b", now=T0 + timedelta(seconds=1))
        finished = self._intent(journal, now=T0 + timedelta(seconds=2))
        journal.record_transfer(make_transfer(finished, TransferStatus.SETTLED), now=T0)
        claimed = journal.claim_unresolved(now=T0)
        assert [first.transfer_id, second.transfer_id] == [r.transfer_id for r in claimed]
        # A claimant's own leases come back to it: a retried recovery picks them up again.
        again = journal.claim_unresolved(now=T0 + timedelta(seconds=1), limit=1)
        assert [first.transfer_id] == [r.transfer_id for r in again]
        by_bank = journal.claim_unresolved("bank-b", now=T0)
        assert [second.transfer_id] == [r.transfer_id for r in by_bank]
        with pytest.raises(ValueError, match="timezone"):
            journal.claim_unresolved(now=datetime(2026, 1, 1))

    def test_records_lists_everything_oldest_first_across_pages(self, journal: Journal) -> None:
        created = [
            self._intent(journal, bank_id=f"bank-{n % 2}", now=T0 + timedelta(seconds=n))
            for n in range(300)
        ]
        assert created == list(journal.records())
        assert created[1::2] == list(journal.records("bank-1"))
        assert list(journal.records("bank-z")) == []

    def test_events_are_deduplicated_per_bank(self, journal: Journal) -> None:
        seen = [
            journal.record_event(bank_id="bank-a", event_id="evt_1", payload_hash="h1", now=T0),
            journal.record_event(bank_id="bank-a", event_id="evt_1", payload_hash="h1", now=T0),
            journal.record_event(bank_id="bank-b", event_id="evt_1", payload_hash="h1", now=T0),
            journal.record_event(bank_id="bank-a", event_id="evt_2", payload_hash="h2", now=T0),
        ]
        assert seen == [True, False, True, True]

    # -- integrity ------------------------------------------------------------------------------

    def test_an_untouched_journal_verifies(self, journal: Journal) -> None:
        journal.verify()  # empty
        record = self._intent(journal)
        journal.mark_sent(record.idempotency_key, now=T0)
        journal.mark_unknown(record.idempotency_key, now=T0)
        journal.record_transfer(make_transfer(record, TransferStatus.SETTLED), now=T0)
        journal.record_transfer(make_transfer(record, TransferStatus.PENDING), now=T0)
        journal.record_event(bank_id="bank-a", event_id="evt_1", payload_hash="h", now=T0)
        journal.verify()

    # Each subclass runs this test against its own journal: different executors by design.
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.differing_executors],
    )
    @given(
        st.lists(
            st.sampled_from(TransferStatus).map(lambda s: s.value) | st.just("mark_unknown"),
            max_size=12,
        )
    )
    def test_status_is_the_fold_of_can_become(self, updates: list[str]) -> None:
        """Whatever order the answers arrive in, the status only moves forward."""
        with tempfile.TemporaryDirectory() as directory:
            journal = self.new_journal(Path(directory))
            try:
                record = self._intent(journal)
                expected = TransferStatus.PENDING
                for update in updates:
                    before = journal.get(record.idempotency_key)
                    assert before is not None
                    if update == "mark_unknown":
                        new = TransferStatus.UNKNOWN
                        after = journal.mark_unknown(record.idempotency_key, now=T0)
                    else:
                        new = TransferStatus(update)
                        transfer = make_transfer(record, new)
                        after = journal.record_transfer(transfer, now=T0)
                    if expected.can_become(new):
                        expected = new
                    assert before.status.can_become(after.status)
                    assert expected == after.status
                journal.verify()
            finally:
                journal.close()
