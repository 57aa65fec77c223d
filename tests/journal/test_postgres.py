"""PostgresJournal against a real PostgreSQL server (the ``postgres_dsn`` fixture).

Several journal objects on one schema stand for several servers sharing the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

psycopg = pytest.importorskip("psycopg")

from walletlink.accounts import Iban  # noqa: E402
from walletlink.errors import (  # noqa: E402
    ConfigurationError,
    IdempotencyMismatchError,
    JournalIntegrityError,
    UnknownOutcomeError,
)
from walletlink.journal import Journal, JournalRecord  # noqa: E402
from walletlink.journal.checkpoint import Checkpoint  # noqa: E402
from walletlink.journal.conformance import (  # noqa: E402
    T0,
    JournalConformance,
    make_request,
    make_transfer,
)
from walletlink.journal.postgres import SCHEMA_VERSION, PostgresJournal  # noqa: E402
from walletlink.models import TransferStatus  # noqa: E402
from walletlink.money import Money  # noqa: E402
from walletlink.signing import generate_ed25519_key  # noqa: E402

_DSN: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _server(postgres_dsn: str) -> None:
    # The conformance suite builds journals in a hypothesis test, where function-scoped
    # fixtures cannot reach; the module's DSN is kept here instead.
    _DSN[:] = [postgres_dsn]


def new_schema() -> str:
    schema = f"j_{uuid.uuid4().hex[:12]}"
    PostgresJournal.migrate(_DSN[0], schema=schema)
    return schema


class TestPostgresJournal(JournalConformance):
    def new_journal(self, directory: Path) -> Journal:
        return PostgresJournal(_DSN[0], schema=new_schema())


KEY = generate_ed25519_key("journal-checkpoints")


@pytest.fixture
def schema() -> str:
    return new_schema()


@pytest.fixture
def servers(schema: str) -> Iterator[list[PostgresJournal]]:
    """Two servers on one journal, each with its own lease owner."""
    journals = [
        PostgresJournal(_DSN[0], schema=schema, owner=name, checkpoint_key=KEY)
        for name in ("server-a", "server-b")
    ]
    yield journals
    for journal in journals:
        journal.close()


def _raw(sql: str, schema: str, *params: Any) -> None:
    """Edit the tables behind the journal's back, as an attacker or a stray script would."""
    with psycopg.connect(_DSN[0], autocommit=True) as conn:
        conn.execute(f"SET search_path TO {schema}")
        conn.execute(sql, params)


def _fill(journal: PostgresJournal, bank_id: str = "bank-a") -> JournalRecord:
    """One transfer through every kind of chain entry, and one event."""
    request = make_request()
    record, _ = journal.record_intent(
        bank_id=bank_id, request=request, transfer_id=f"wl_{request.idempotency_key}", now=T0
    )
    journal.mark_sent(record.idempotency_key, now=T0)
    journal.mark_unknown(record.idempotency_key, now=T0)
    journal.record_transfer(make_transfer(record, TransferStatus.SETTLED), now=T0)
    journal.record_transfer(make_transfer(record, TransferStatus.PENDING), now=T0)
    journal.record_event(
        bank_id=bank_id, event_id=f"evt_{record.transfer_id}", payload_hash="h", now=T0
    )
    return record


# -- migrations ------------------------------------------------------------------------------


def test_an_unmigrated_schema_is_refused_with_the_command_to_run() -> None:
    with pytest.raises(ConfigurationError, match="walletlink journal migrate"):
        PostgresJournal(_DSN[0], schema=f"j_{uuid.uuid4().hex[:12]}")


def test_migrate_applies_each_version_once() -> None:
    schema = f"j_{uuid.uuid4().hex[:12]}"
    assert list(range(1, SCHEMA_VERSION + 1)) == PostgresJournal.migrate(_DSN[0], schema=schema)
    assert PostgresJournal.migrate(_DSN[0], schema=schema) == []
    PostgresJournal(_DSN[0], schema=schema).close()


def test_the_repr_never_shows_the_dsn(schema: str) -> None:
    journal = PostgresJournal(_DSN[0], schema=schema, owner="server-a")
    journal.close()
    assert f"PostgresJournal(schema={schema!r}, owner='server-a')" == repr(journal)


def test_a_newer_schema_is_refused(schema: str) -> None:
    _raw("INSERT INTO schema_version (version) VALUES (99)", schema)
    with pytest.raises(ConfigurationError, match="newer"):
        PostgresJournal(_DSN[0], schema=schema)
    with pytest.raises(ConfigurationError, match="newer"):
        PostgresJournal.migrate(_DSN[0], schema=schema)


# -- claims across servers -------------------------------------------------------------------


def test_a_reused_key_with_another_request_is_refused_on_every_server(
    servers: list[PostgresJournal],
) -> None:
    first, second = servers
    request = make_request()
    first.record_intent(bank_id="bank-a", request=request, transfer_id="wl_1", now=T0)
    changed = attrs.evolve(request, amount=Money("99.00", "EUR"))
    for server in servers:
        with pytest.raises(IdempotencyMismatchError):
            server.record_intent(bank_id="bank-a", request=changed, transfer_id="wl_2", now=T0)
    with pytest.raises(IdempotencyMismatchError):
        second.record_intent(bank_id="bank-b", request=request, transfer_id="wl_3", now=T0)


def test_a_key_in_flight_on_another_server_is_not_claimed_until_its_lease_expires(
    servers: list[PostgresJournal],
) -> None:
    """The journal's 409: the second server sends nothing while the first owns the key."""
    first, second = servers
    request = make_request()
    first.record_intent(bank_id="bank-a", request=request, transfer_id="wl_1", now=T0)
    with pytest.raises(UnknownOutcomeError, match="in flight on another server"):
        second.record_intent(bank_id="bank-a", request=request, transfer_id="wl_2", now=T0)
    again, created = first.record_intent(
        bank_id="bank-a", request=request, transfer_id="wl_3", now=T0
    )
    assert (again.transfer_id, created) == ("wl_1", False)  # its owner may go on
    later = T0 + first.lease
    taken, created = second.record_intent(
        bank_id="bank-a", request=request, transfer_id="wl_4", now=later
    )
    assert (taken.transfer_id, created) == ("wl_1", False)  # the first server is presumed dead
    with pytest.raises(UnknownOutcomeError):
        first.record_intent(bank_id="bank-a", request=request, transfer_id="wl_5", now=later)


def test_a_finished_transfer_is_returned_to_every_server(servers: list[PostgresJournal]) -> None:
    first, second = servers
    request = make_request()
    record, _ = first.record_intent(bank_id="bank-a", request=request, transfer_id="wl_1", now=T0)
    done = first.record_transfer(make_transfer(record, TransferStatus.SETTLED), now=T0)
    assert (done, False) == second.record_intent(
        bank_id="bank-a", request=request, transfer_id="wl_2", now=T0
    )


def test_an_unknown_outcome_is_released_for_any_server_to_resolve(
    servers: list[PostgresJournal],
) -> None:
    first, second = servers
    request = make_request()
    first.record_intent(bank_id="bank-a", request=request, transfer_id="wl_1", now=T0)
    first.mark_unknown(request.idempotency_key, now=T0)
    assert [r.transfer_id for r in second.claim_unresolved(now=T0)] == ["wl_1"]
    assert first.claim_unresolved(now=T0) == []


def test_recovery_leases_split_the_work_and_expire(servers: list[PostgresJournal]) -> None:
    first, second = servers
    keys = []
    for n in range(6):
        request = make_request()
        first.record_intent(bank_id="bank-a", request=request, transfer_id=f"wl_{n}", now=T0)
        first.mark_unknown(request.idempotency_key, now=T0)
        keys.append(request.idempotency_key)
    mine = first.claim_unresolved(now=T0, limit=4)
    theirs = second.claim_unresolved(now=T0)
    assert keys == sorted([r.idempotency_key for r in mine + theirs], key=keys.index)
    assert len(mine) == 4
    assert [r.idempotency_key for r in mine] == [
        r.idempotency_key
        for r in first.claim_unresolved(now=T0)  # its own leases again
    ]
    again = second.claim_unresolved("bank-a", now=T0 + timedelta(seconds=1))
    assert [r.idempotency_key for r in theirs] == [r.idempotency_key for r in again]
    taken_over = second.claim_unresolved(now=T0 + first.lease)
    assert keys == [r.idempotency_key for r in taken_over]


def test_a_late_write_from_a_presumed_dead_server_leaves_the_new_lease_alone(
    servers: list[PostgresJournal],
) -> None:
    first, second = servers
    request = make_request()
    first.record_intent(bank_id="bank-a", request=request, transfer_id="wl_1", now=T0)
    later = T0 + first.lease
    assert [r.transfer_id for r in second.claim_unresolved(now=later)] == ["wl_1"]
    first.mark_unknown(request.idempotency_key, now=later + timedelta(seconds=1))
    second_expires = later + second.lease
    assert first.claim_unresolved(now=second_expires - timedelta(seconds=1)) == []
    assert [r.transfer_id for r in first.claim_unresolved(now=second_expires)] == ["wl_1"]


# -- the partitioned chain -------------------------------------------------------------------


def _partitions(schema: str) -> list[str]:
    with psycopg.connect(_DSN[0], autocommit=True) as conn:
        conn.execute(f"SET search_path TO {schema}")
        rows = conn.execute("SELECT partition FROM chain_heads ORDER BY 1").fetchall()
    return [row[0] for row in rows]


def test_each_bank_has_its_own_chain(servers: list[PostgresJournal], schema: str) -> None:
    first, second = servers
    _fill(first, "bank-a")
    _fill(second, "bank-b")
    _fill(second, "bank-a")
    assert _partitions(schema) == ["bank-a", "bank-b"]
    first.verify()


def test_partitions_per_account_never_name_the_account(schema: str) -> None:
    journal = PostgresJournal(_DSN[0], schema=schema, partition_by="account")
    try:
        for account in ("DE89370400440532013000", "DE44500105175407324931"):
            request = make_request(debtor_account=Iban(account))
            journal.record_intent(bank_id="bank-a", request=request, transfer_id=account, now=T0)
        partitions = _partitions(schema)
        assert len(partitions) == 2
        assert all(p.startswith("bank-a/") and "3704" not in p for p in partitions)
        journal.verify()
    finally:
        journal.close()


TAMPERING = {
    "row status": "UPDATE transfers SET status = 'rejected'",
    "row attempts": "UPDATE transfers SET attempts = attempts + 1",
    "row request": "UPDATE transfers SET request_json = replace(request_json, '12.30', '99.99')",
    "row partition": "UPDATE transfers SET partition = 'bank-b'",
    "deleted row": "DELETE FROM transfers",
    "event row": "UPDATE events SET payload_hash = 'forged'",
    "deleted event": "DELETE FROM events",
    "chain payload": "UPDATE chain SET payload = replace(payload, 'settled', 'rejected')",
    "chain kind": "UPDATE chain SET kind = 'sent' WHERE kind = 'unknown'",
    "chain hash": "UPDATE chain SET hash = '00' || substr(hash, 3) WHERE seq = 2",
    "chain gap": "DELETE FROM chain WHERE seq = 3",
    "chain moved": "UPDATE chain SET partition = 'bank-z' WHERE seq = 6",
    "head rewound": "UPDATE chain_heads SET seq = seq - 1",
}


@pytest.mark.parametrize("sql", TAMPERING.values(), ids=TAMPERING.keys())
def test_any_edit_behind_the_journals_back_is_detected(
    servers: list[PostgresJournal], schema: str, sql: str
) -> None:
    _fill(servers[0], "bank-a")
    servers[0].verify()
    _raw(sql, schema)
    with pytest.raises(JournalIntegrityError):
        servers[1].verify()


# -- checkpoints -----------------------------------------------------------------------------


def _truncate_newest(schema: str, partition: str, entries: int) -> None:
    """Cut the newest entries and their rows, and rewind the head: internally consistent."""
    with psycopg.connect(_DSN[0], autocommit=True) as conn, conn.transaction():
        conn.execute(f"SET search_path TO {schema}")
        (seq,) = conn.execute(
            "SELECT seq FROM chain_heads WHERE partition = %s", (partition,)
        ).fetchone()
        keep = seq - entries
        conn.execute(
            "DELETE FROM transfers WHERE partition = %s AND chain_seq > %s", (partition, keep)
        )
        conn.execute(
            "DELETE FROM events WHERE partition = %s AND chain_seq > %s", (partition, keep)
        )
        conn.execute("DELETE FROM chain WHERE partition = %s AND seq > %s", (partition, keep))
        (link,) = conn.execute(
            "SELECT hash FROM chain WHERE partition = %s AND seq = %s", (partition, keep)
        ).fetchone()
        conn.execute(
            "UPDATE chain_heads SET seq = %s, hash = %s WHERE partition = %s",
            (keep, link, partition),
        )


def test_a_checkpoint_kept_elsewhere_detects_truncation(
    servers: list[PostgresJournal], schema: str
) -> None:
    first, second = servers
    _fill(first, "bank-a")
    _fill(first, "bank-a")
    _fill(first, "bank-b")
    kept = Checkpoint.from_json(first.checkpoint(now=T0).to_json())  # bank-a at entry 12
    _fill(second, "bank-a")
    second.verify(kept)  # later entries are fine
    _truncate_newest(schema, "bank-a", 12)  # the last two transfers, one before the checkpoint
    second.verify()  # the database alone cannot tell
    with pytest.raises(JournalIntegrityError, match=r"bank-a.*newer entries were removed"):
        second.verify(kept)
    _fill(second, "bank-a")  # a forger refills the chain to the same length
    with pytest.raises(JournalIntegrityError, match=r"bank-a.*not the one the checkpoint signed"):
        second.verify(kept)


def test_a_checkpoint_signed_by_another_key_is_refused(servers: list[PostgresJournal]) -> None:
    _fill(servers[0])
    forged = Checkpoint.sign(
        generate_ed25519_key("journal-checkpoints"),
        journal=servers[0].schema,
        kind="heads",
        heads={"bank-a": (1, "0" * 64)},
        taken_at=T0,
    )
    with pytest.raises(JournalIntegrityError, match="does not verify"):
        servers[0].verify(forged)


# -- retention -------------------------------------------------------------------------------


def test_prune_removes_old_finished_records_and_verify_still_holds(
    servers: list[PostgresJournal], schema: str
) -> None:
    first, second = servers
    old = [_fill(first, "bank-a") for _ in range(3)]
    open_old, _ = first.record_intent(
        bank_id="bank-a", request=make_request(), transfer_id="wl_open", now=T0
    )
    recent = _fill(first, "bank-a")  # its own rows are recent...
    now = T0 + timedelta(days=100)
    first.mark_sent(recent.idempotency_key, now=now)  # ...through a recent update
    archived: list[JournalRecord] = []
    pruned = first.prune(now=now, older_than=timedelta(days=90), archive=archived.extend)
    assert [r.idempotency_key for r in old] == [r.idempotency_key for r in archived]
    assert pruned == 3
    assert all(first.get(r.idempotency_key) is None for r in old)
    assert first.get(open_old.idempotency_key) is not None  # unfinished: never pruned
    second.verify()
    assert first.prune(now=now, older_than=timedelta(days=90)) == 0
    _raw("UPDATE chain_heads SET base_hash = repeat('1', 64)", schema)
    with pytest.raises(JournalIntegrityError):
        second.verify()


def test_a_pruned_prefix_extended_without_the_key_is_detected(
    servers: list[PostgresJournal], schema: str
) -> None:
    first, _ = servers
    for _ in range(2):
        _fill(first)
    first.prune(now=T0 + timedelta(days=2), older_than=timedelta(days=1))
    _fill(first)
    _raw("DELETE FROM chain WHERE seq <= 13", schema)
    _raw(
        "UPDATE chain_heads SET base_seq = 13,"
        " base_hash = (SELECT prev_hash FROM chain WHERE seq = 14)",
        schema,
    )
    with pytest.raises(JournalIntegrityError, match="checkpoint taken when it was pruned"):
        first.verify()


def test_prune_and_checkpoints_need_the_key(schema: str) -> None:
    journal = PostgresJournal(_DSN[0], schema=schema, retention=timedelta(days=1))
    try:
        with pytest.raises(ConfigurationError, match="checkpoint_key"):
            journal.prune(now=T0)
        with pytest.raises(ConfigurationError, match="checkpoint_key"):
            journal.checkpoint(now=T0)
    finally:
        journal.close()


def test_an_archive_that_fails_deletes_nothing(servers: list[PostgresJournal]) -> None:
    record = _fill(servers[0])

    def refuse(records: object) -> None:
        raise OSError("cold storage is down")

    with pytest.raises(OSError, match="cold storage"):
        servers[0].prune(now=T0 + timedelta(days=2), older_than=timedelta(days=1), archive=refuse)
    assert servers[0].get(record.idempotency_key) is not None
    servers[0].verify()


# -- durability ------------------------------------------------------------------------------


@pytest.mark.parametrize(("durability", "relaxed"), [("intents", 2), ("full", 0)])
def test_only_intents_wait_for_the_wal_flush_by_default(
    schema: str, durability: Any, relaxed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like SQLite's "intents": progress commits skip the flush wait; the intent's never."""
    journal = PostgresJournal(_DSN[0], schema=schema, durability=durability)
    statements: list[str] = []
    execute = psycopg.Cursor.execute

    def spy(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        statements.append(query if isinstance(query, str) else query.as_string(cursor))
        return execute(cursor, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", spy)
    try:
        request = make_request()
        record, _ = journal.record_intent(
            bank_id="bank-a", request=request, transfer_id="wl_1", now=T0
        )
        assert not any("synchronous_commit" in sql for sql in statements)
        journal.mark_sent(record.idempotency_key, now=T0)
        journal.record_transfer(make_transfer(record, TransferStatus.SETTLED), now=T0)
    finally:
        monkeypatch.undo()
        journal.close()
    assert relaxed == statements.count("SET LOCAL synchronous_commit = off")


def test_an_unknown_durability_is_refused(schema: str) -> None:
    with pytest.raises(ConfigurationError, match="durability"):
        PostgresJournal(_DSN[0], schema=schema, durability="sometimes")  # type: ignore[arg-type]
