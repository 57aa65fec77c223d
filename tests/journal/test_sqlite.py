"""What only the SQLite journal promises: durability, reopening, WAL, and tamper evidence."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Literal

import attrs
import pytest

from walletlink.errors import ConfigurationError, IdempotencyMismatchError, JournalIntegrityError
from walletlink.journal import JournalState, SQLiteJournal
from walletlink.journal.conformance import T0, make_request, make_transfer
from walletlink.models import TransferStatus
from walletlink.money import Money


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "journal.db"


@pytest.fixture
def journal(path: Path) -> Iterator[SQLiteJournal]:
    journal = SQLiteJournal(path)
    yield journal
    journal.close()


def _fill(journal: SQLiteJournal) -> str:
    """One transfer through every kind of chain entry, and one event; returns its key."""
    request = make_request()
    record, _ = journal.record_intent(bank_id="bank-a", request=request, transfer_id="wl_1", now=T0)
    journal.mark_sent(record.idempotency_key, now=T0)
    journal.mark_unknown(record.idempotency_key, now=T0)
    journal.record_transfer(make_transfer(record, TransferStatus.SETTLED), now=T0)
    journal.record_transfer(make_transfer(record, TransferStatus.PENDING), now=T0)
    journal.record_event(bank_id="bank-a", event_id="evt_1", payload_hash="h", now=T0)
    return record.idempotency_key


def _raw(path: Path, sql: str, *params: object) -> None:
    """Edit the file behind the journal's back, as an attacker or a stray script would."""
    with sqlite3.connect(path) as conn:
        conn.execute(sql, params)
    conn.close()


@pytest.mark.parametrize("durability", ["intents", "full", "normal"])
def test_crash_after_sending_leaves_an_unresolved_record(
    path: Path, durability: Literal["intents", "full", "normal"]
) -> None:
    """A process that dies between sending and the answer is found again on restart."""
    first = SQLiteJournal(path, durability=durability)
    request = make_request()
    first.record_intent(bank_id="bank-a", request=request, transfer_id="wl_1", now=T0)
    sent = first.mark_sent(request.idempotency_key, now=T0)
    first.close()

    reopened = SQLiteJournal(path)
    try:
        assert reopened.unresolved() == [sent]
        assert reopened.unresolved()[0].transfer_request() == request
        assert reopened.unresolved()[0].state == JournalState.SENT
        reopened.verify()
    finally:
        reopened.close()


def test_a_second_journal_on_the_same_file_sees_every_write(
    journal: SQLiteJournal, path: Path
) -> None:
    key = _fill(journal)
    other = SQLiteJournal(path)
    try:
        assert other.get(key) == journal.get(key)
        assert not other.record_event(bank_id="bank-a", event_id="evt_1", payload_hash="h", now=T0)
        other.mark_sent(key, now=T0)  # appends to the chain journal wrote
        journal.verify()
        other.verify()
    finally:
        other.close()


def test_file_is_in_wal_mode_with_a_schema_version(journal: SQLiteJournal, path: Path) -> None:
    with sqlite3.connect(path) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        versions = conn.execute("SELECT version FROM schema_version").fetchall()
    conn.close()
    assert (mode, versions) == ("wal", [(1,)])


def test_a_newer_schema_is_refused(path: Path) -> None:
    SQLiteJournal(path).close()
    _raw(path, "UPDATE schema_version SET version = 99")
    with pytest.raises(ConfigurationError, match="newer"):
        SQLiteJournal(path)


def test_an_unknown_durability_is_refused(path: Path) -> None:
    with pytest.raises(ConfigurationError):
        SQLiteJournal(path, durability="sometimes")  # type: ignore[arg-type]


def test_transfers_are_stored_as_readable_json(journal: SQLiteJournal, path: Path) -> None:
    key = _fill(journal)
    with sqlite3.connect(path) as conn:
        (text,) = conn.execute(
            "SELECT transfer_json FROM transfers WHERE idempotency_key = ?", (key,)
        ).fetchone()
    conn.close()
    stored = json.loads(text)
    assert (stored["amount"], stored["currency"], stored["status"]) == ("12.30", "EUR", "settled")


# -- tamper evidence -------------------------------------------------------------------------

TAMPERING = {
    "row status": "UPDATE transfers SET status = 'rejected'",
    "row attempts": "UPDATE transfers SET attempts = attempts + 1",
    "row request": "UPDATE transfers SET request_json = replace(request_json, '12.30', '99.99')",
    "row request and its hash": (
        "UPDATE transfers SET request_json = '{}', request_hash = "
        "'44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'"
    ),
    "deleted row": "DELETE FROM transfers",
    "extra row": (
        "INSERT INTO transfers SELECT 'k2', 'wl_2', bank_id, request_hash, request_json, state, "
        "status, transfer_json, attempts, created_at, updated_at FROM transfers"
    ),
    "event row": "UPDATE events SET payload_hash = 'forged'",
    "deleted event": "DELETE FROM events",
    "chain payload": "UPDATE chain SET payload = replace(payload, 'settled', 'rejected')",
    "chain kind": "UPDATE chain SET kind = 'sent' WHERE kind = 'unknown'",
    "chain hash": "UPDATE chain SET hash = '00' || substr(hash, 3) WHERE seq = 2",
    "chain gap": "DELETE FROM chain WHERE seq = 3",
    "chain key": "UPDATE chain SET key = 'other' WHERE seq = 1",
}


@pytest.mark.parametrize("sql", TAMPERING.values(), ids=TAMPERING.keys())
def test_any_edit_behind_the_journals_back_is_detected(
    journal: SQLiteJournal, path: Path, sql: str
) -> None:
    _fill(journal)
    journal.verify()
    _raw(path, sql)
    with pytest.raises(JournalIntegrityError):
        journal.verify()


def test_verify_names_the_first_bad_entry(journal: SQLiteJournal, path: Path) -> None:
    _fill(journal)
    _raw(path, "UPDATE chain SET payload = replace(payload, '\"attempts\":1', '\"attempts\":7')")
    with pytest.raises(JournalIntegrityError, match="chain entry 2 "):
        journal.verify()


@pytest.mark.parametrize(("chain_key", "detected"), [(None, False), (b"k" * 32, True)])
def test_a_rebuilt_chain_fools_sha256_but_not_a_keyed_chain(
    path: Path, chain_key: bytes | None, detected: bool
) -> None:
    """Anyone who knows the format can recompute a SHA-256 chain; without the key, not HMAC."""
    journal = SQLiteJournal(path, chain_key=chain_key)
    _fill(journal)
    forger = SQLiteJournal(":memory:")  # knows the format, not the key
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE transfers SET attempts = 9")
        conn.execute(
            "UPDATE chain SET payload = replace(payload, '\"attempts\":1', '\"attempts\":9')"
        )
        prev = "0" * 64
        entries = conn.execute("SELECT seq, key, kind, payload FROM chain ORDER BY seq").fetchall()
        for seq, key, kind, payload in entries:
            digest = forger._digest(prev, seq, key, kind, payload)
            conn.execute(
                "UPDATE chain SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, seq)
            )
            prev = digest
    conn.close()
    forger.close()
    try:
        if detected:
            with pytest.raises(JournalIntegrityError):
                journal.verify()
        else:
            journal.verify()
            assert next(journal.records()).attempts == 9  # the forgery went unnoticed
    finally:
        journal.close()


def test_two_journals_writing_one_file_at_once_keep_one_chain(path: Path) -> None:
    """Two processes (here: two journals) sharing a file serialise on BEGIN IMMEDIATE."""
    journals = [SQLiteJournal(path), SQLiteJournal(path)]

    def write(journal: SQLiteJournal) -> None:
        for n in range(25):
            request = make_request()
            journal.record_intent(
                bank_id="bank-a", request=request, transfer_id=f"wl_{request.idempotency_key}",
                now=T0,
            )  # fmt: skip
            journal.mark_sent(request.idempotency_key, now=T0)
            journal.record_event(bank_id="bank-a", event_id=f"evt_{n}", payload_hash="h", now=T0)

    threads = [threading.Thread(target=write, args=(j,)) for j in journals for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert len(list(journals[0].records())) == 100
        journals[0].verify()
    finally:
        for journal in journals:
            journal.close()


@pytest.mark.parametrize(
    "change",
    [
        {"id": "wl_someone_else"},
        {"end_to_end_id": "someone-else"},
        {"amount": Money("99.00", "EUR")},
        {"amount": Money("12.30", "GBP")},
    ],
    ids=["transfer-id", "end-to-end-id", "amount", "currency"],
)
def test_an_answer_about_another_transfer_never_lands_in_this_row(
    journal: SQLiteJournal, change: dict[str, object]
) -> None:
    record, _ = journal.record_intent(
        bank_id="bank-a", request=make_request(), transfer_id="wl_1", now=T0
    )
    stray = attrs.evolve(make_transfer(record, TransferStatus.SETTLED), **change)
    with pytest.raises(IdempotencyMismatchError, match="another"):
        journal.record_transfer(stray, now=T0)
    assert journal.get(record.idempotency_key) == record
    journal.verify()


def test_recovery_leases_are_shared_by_every_journal_on_the_file(path: Path) -> None:
    """Two processes (here: two journals) recovering from one file never take one record."""
    first = SQLiteJournal(path, owner="process-a", lease=timedelta(minutes=1))
    second = SQLiteJournal(path, owner="process-b", lease=timedelta(minutes=1))
    try:
        keys = []
        for n in range(4):
            request = make_request()
            first.record_intent(bank_id="bank-a", request=request, transfer_id=f"wl_{n}", now=T0)
            keys.append(request.idempotency_key)
        mine = [r.idempotency_key for r in first.claim_unresolved(now=T0, limit=3)]
        theirs = [r.idempotency_key for r in second.claim_unresolved(now=T0)]
        assert (keys[:3], keys[3:]) == (mine, theirs)
        later = T0 + timedelta(minutes=1)  # process-a died: its leases expire
        assert keys == [r.idempotency_key for r in second.claim_unresolved(now=later)]
        assert first.claim_unresolved(now=later) == []
    finally:
        first.close()
        second.close()


def test_a_lease_that_is_not_positive_is_refused(path: Path) -> None:
    with pytest.raises(ConfigurationError, match="lease"):
        SQLiteJournal(path, lease=timedelta(0))
