"""The default journal: one SQLite file in WAL mode, with a hash chain over every change.

Each public call is one ``BEGIN IMMEDIATE … COMMIT`` transaction of a handful of prepared
statements. ``BEGIN IMMEDIATE`` takes SQLite's write lock up front, so two processes sharing
the file cannot both read the chain head and append after it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from walletlink.errors import ConfigurationError, IdempotencyMismatchError, JournalIntegrityError
from walletlink.journal.base import (
    JournalRecord,
    JournalState,
    transfer_from_dict,
    transfer_to_dict,
    utc_iso,
)
from walletlink.models import Transfer, TransferRequest, TransferStatus

__all__ = ["SCHEMA_VERSION", "SQLiteJournal"]

SCHEMA_VERSION: Final = 1
_GENESIS: Final = "0" * 64
_SYNCHRONOUS: Final = {
    "full": "PRAGMA synchronous=FULL",
    "intents": "PRAGMA synchronous=FULL",
    "normal": "PRAGMA synchronous=NORMAL",
    "off": "PRAGMA synchronous=OFF",
}
_PAGE: Final = 256

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS transfers (
    idempotency_key TEXT PRIMARY KEY,
    transfer_id     TEXT NOT NULL UNIQUE,
    bank_id         TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    request_json    TEXT NOT NULL,
    state           TEXT NOT NULL,
    status          TEXT NOT NULL,
    transfer_json   TEXT,
    attempts        INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transfers_open ON transfers (bank_id)
    WHERE state != 'done' OR status = 'unknown';
CREATE TABLE IF NOT EXISTS events (
    bank_id      TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    PRIMARY KEY (bank_id, event_id)
);
-- Recovery leases (claim_unresolved). Not chained: a lease is coordination, not history.
-- Times are microseconds since the epoch, so they compare as numbers.
CREATE TABLE IF NOT EXISTS leases (
    idempotency_key TEXT PRIMARY KEY,
    owner           TEXT NOT NULL,
    expires_us      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chain (
    seq       INTEGER PRIMARY KEY,
    key       TEXT NOT NULL,
    kind      TEXT NOT NULL,
    payload   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
"""

# The row's columns in a fixed order; ``_snapshot`` and the chain payloads use these names.
_ROW_COLUMNS: Final = (
    "idempotency_key",
    "transfer_id",
    "bank_id",
    "request_hash",
    "request_json",
    "state",
    "status",
    "transfer_json",
    "attempts",
    "created_at",
    "updated_at",
)
_EVENT_COLUMNS: Final = ("bank_id", "event_id", "payload_hash", "received_at")

# Written out in full rather than assembled, so every statement can be read (and grepped) as
# it runs; the column order matches _ROW_COLUMNS.
_INSERT_INTENT: Final = """
    INSERT INTO transfers (idempotency_key, transfer_id, bank_id, request_hash, request_json,
                           state, status, transfer_json, attempts, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (idempotency_key) DO NOTHING"""
_SELECT: Final = """
    SELECT idempotency_key, transfer_id, bank_id, request_hash, request_json,
           state, status, transfer_json, attempts, created_at, updated_at
    FROM transfers"""
_SELECT_BY_KEY: Final = _SELECT + " WHERE idempotency_key = ?"
_SELECT_BY_TRANSFER_ID: Final = _SELECT + " WHERE transfer_id = ?"
_UPDATE: Final = """
    UPDATE transfers SET state = ?, status = ?, transfer_json = ?, attempts = ?, updated_at = ?
    WHERE idempotency_key = ?"""
# Matches the partial index transfers_open term for term, so SQLite can use it.
_SELECT_OPEN: Final = _SELECT + " WHERE (state != 'done' OR status = 'unknown') ORDER BY rowid"
_SELECT_OPEN_BANK: Final = (
    _SELECT + " WHERE bank_id = ? AND (state != 'done' OR status = 'unknown') ORDER BY rowid"
)
_SELECT_PAGE: Final = """
    SELECT rowid, idempotency_key, transfer_id, bank_id, request_hash, request_json,
           state, status, transfer_json, attempts, created_at, updated_at
    FROM transfers WHERE rowid > ? ORDER BY rowid LIMIT ?"""
_SELECT_PAGE_BANK: Final = """
    SELECT rowid, idempotency_key, transfer_id, bank_id, request_hash, request_json,
           state, status, transfer_json, attempts, created_at, updated_at
    FROM transfers WHERE rowid > ? AND bank_id = ? ORDER BY rowid LIMIT ?"""
_INSERT_EVENT: Final = (
    "INSERT INTO events (bank_id, event_id, payload_hash, received_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (bank_id, event_id) DO NOTHING"
)
_SELECT_CLAIMABLE: Final = """
    SELECT t.idempotency_key, t.transfer_id, t.bank_id, t.request_hash, t.request_json,
           t.state, t.status, t.transfer_json, t.attempts, t.created_at, t.updated_at
    FROM transfers AS t LEFT JOIN leases AS l USING (idempotency_key)
    WHERE (t.state != 'done' OR t.status = 'unknown') AND (? IS NULL OR t.bank_id = ?)
      AND (l.owner IS NULL OR l.owner = ? OR l.expires_us <= ?)
    ORDER BY t.rowid LIMIT ?"""
_UPSERT_LEASE: Final = """
    INSERT INTO leases (idempotency_key, owner, expires_us) VALUES (?, ?, ?)
    ON CONFLICT (idempotency_key) DO UPDATE SET owner = excluded.owner,
        expires_us = excluded.expires_us"""
_DROP_FINISHED_LEASES: Final = """
    DELETE FROM leases WHERE idempotency_key IN (
        SELECT idempotency_key FROM transfers WHERE state = 'done' AND status != 'unknown')"""
_SELECT_HEAD: Final = "SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1"
_INSERT_CHAIN: Final = (
    "INSERT INTO chain (seq, key, kind, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?)"
)

Row = tuple[Any, ...]


def _canonical(value: Any) -> str:
    # Byte-for-byte the JSON TransferRequest.fingerprint() hashes, so sha256(request_json)
    # is the request hash and verify() can check it without re-encoding.
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class SQLiteJournal:
    """A :class:`~walletlink.journal.Journal` in a SQLite file.

    ``durability`` says which commits are fsynced before the call returns:

    * ``"intents"`` (the default): a new intent and a notification id survive a power cut,
      because the intent must exist before the first byte is sent. Progress (sent, the
      bank's answer, unknown) is committed without an fsync: losing it in a power cut only
      sends the record back to :meth:`unresolved`, and a lookup under the same key restores
      it. One fsync per transfer instead of three.
    * ``"full"``: every commit is fsynced.
    * ``"normal"``: no commit waits for an fsync. It survives a crash of the process, but a
      power cut or OS crash may forget an intent — and with it that a transfer was sent.
      Choose it only on storage that already guarantees durability, or for a disposable
      journal.
    * ``"off"``: for in-memory journals.

    ``chain_key`` turns the chain's SHA-256 into HMAC-SHA256: without the key, someone who
    can write the file can edit a row *and* rebuild the chain; with it, they cannot.

    One connection is shared by all threads behind a lock: SQLite serialises writers anyway,
    and a single connection keeps its prepared-statement cache warm.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: Literal["intents", "full", "normal", "off"] = "intents",
        chain_key: bytes | None = None,
        busy_timeout: float = 30.0,
        lease: timedelta = timedelta(minutes=2),
        owner: str | None = None,
    ) -> None:
        if durability not in _SYNCHRONOUS:
            raise ConfigurationError("durability must be 'intents', 'full', 'normal' or 'off'")
        if lease <= timedelta(0):
            raise ConfigurationError("the lease must be positive")
        self.lease = lease
        # One owner per journal object: a restarted process does not inherit the leases of
        # the one before, which may still be running.
        self.owner = owner or f"{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._chain_key = chain_key
        self._lock = threading.RLock()
        self._conn = _connect(path, busy_timeout, _SYNCHRONOUS[durability])
        # synchronous is a per-connection setting, so "intents" writes progress through a
        # second connection that skips the fsync; both sit behind the same lock. Since the
        # WAL is one sequential file, the next fsynced commit makes everything before it
        # durable too, and a power cut can only lose a suffix of the chain, never a hole.
        self._relaxed = self._conn
        try:
            self._setup()
            if durability == "intents" and os.fspath(path) != ":memory:":
                self._relaxed = _connect(path, busy_timeout, "PRAGMA synchronous=NORMAL")
        except BaseException:
            self._conn.close()
            raise

    def _setup(self) -> None:
        with self._write() as conn:
            # Not executescript(): it would COMMIT behind our transaction's back.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"journal schema version {row[0]} is newer than this walletlink "
                    f"understands ({SCHEMA_VERSION}): upgrade walletlink"
                )

    # -- plumbing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        conn = self._conn if durable else self._relaxed
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _digest(self, prev_hash: str, seq: int, key: str, kind: str, payload: str) -> str:
        header = json.dumps([seq, key, kind])
        data = b"\n".join((prev_hash.encode(), header.encode(), payload.encode()))
        if self._chain_key is None:
            return hashlib.sha256(data).hexdigest()
        return hmac.new(self._chain_key, data, hashlib.sha256).hexdigest()

    def _append(self, conn: sqlite3.Connection, key: str, kind: str, payload: Any) -> None:
        head = conn.execute(_SELECT_HEAD).fetchone()
        seq, prev_hash = (head[0] + 1, head[1]) if head else (1, _GENESIS)
        text = _canonical(payload)
        digest = self._digest(prev_hash, seq, key, kind, text)
        conn.execute(_INSERT_CHAIN, (seq, key, kind, text, prev_hash, digest))

    @staticmethod
    def _snapshot(row: Row) -> dict[str, Any]:
        # The request is chained once, by the intent entry; later entries carry the rest and
        # verify() checks the request against its hash instead.
        snapshot = dict(zip(_ROW_COLUMNS, row, strict=True))
        del snapshot["request_json"]
        return snapshot

    @staticmethod
    def _record(row: Row, transfer: Transfer | None = None) -> JournalRecord:
        """The record of ``row``; ``transfer`` is the already-parsed ``transfer_json``,
        passed when the caller has it so the hot path does not decode what it just encoded."""
        (key, transfer_id, bank_id, request_hash, request_json, state, status) = row[:7]
        transfer_json, attempts, created_at, updated_at = row[7:]
        if transfer is None and transfer_json is not None:
            transfer = transfer_from_dict(json.loads(transfer_json))
        return JournalRecord(
            idempotency_key=key,
            request_hash=request_hash,
            bank_id=bank_id,
            transfer_id=transfer_id,
            request=json.loads(request_json),
            state=JournalState(state),
            status=TransferStatus(status),
            transfer=transfer,
            attempts=attempts,
            created_at=datetime.fromisoformat(created_at),
            updated_at=datetime.fromisoformat(updated_at),
        )

    @staticmethod
    def _require(conn: sqlite3.Connection, key: str) -> Row:
        row: Row | None = conn.execute(_SELECT_BY_KEY, (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return row

    def _update(
        self,
        conn: sqlite3.Connection,
        row: Row,
        kind: str,
        *,
        state: str,
        status: str,
        transfer_json: str | None,
        attempts: int,
        now: str,
        transfer: Transfer | None = None,
    ) -> JournalRecord:
        key = row[0]
        conn.execute(_UPDATE, (state, status, transfer_json, attempts, now, key))
        new_row = (*row[:5], state, status, transfer_json, attempts, row[9], now)
        self._append(conn, key, kind, {"row": self._snapshot(new_row)})
        return self._record(new_row, transfer)

    # -- the Journal protocol ------------------------------------------------------------------

    def record_intent(
        self, *, bank_id: str, request: TransferRequest, transfer_id: str, now: datetime
    ) -> tuple[JournalRecord, bool]:
        key = request.idempotency_key
        request_json = request.canonical_json()
        request_hash = hashlib.sha256(request_json.encode()).hexdigest()
        stamp = utc_iso(now)
        row: Row = (key, transfer_id, bank_id, request_hash, request_json)
        row += (JournalState.INTENT.value, TransferStatus.PENDING.value, None, 0, stamp, stamp)
        with self._write() as conn:
            try:
                inserted = conn.execute(_INSERT_INTENT, row).rowcount == 1
            except sqlite3.IntegrityError:
                raise ValueError(f"transfer id {transfer_id!r} is already journalled") from None
            if inserted:
                snapshot = self._snapshot(row)
                self._append(conn, key, "intent", {"row": snapshot, "request": request_json})
                return self._record(row), True
            existing = self._require(conn, key)
        if existing[3] != request_hash or existing[2] != bank_id:
            raise IdempotencyMismatchError(
                "this idempotency key was already used for a different request"
                if existing[3] != request_hash
                else f"this idempotency key was already used at bank {existing[2]!r}",
                bank_id=bank_id,
            )
        return self._record(existing), False

    def mark_sent(self, idempotency_key: str, *, now: datetime) -> JournalRecord:
        stamp = utc_iso(now)
        with self._write(durable=False) as conn:
            row = self._require(conn, idempotency_key)
            state = JournalState(row[5]).advanced_to(JournalState.SENT)
            return self._update(
                conn,
                row,
                "sent",
                state=state.value,
                status=row[6],
                transfer_json=row[7],
                attempts=row[8] + 1,
                now=stamp,
            )

    def record_transfer(self, transfer: Transfer, *, now: datetime) -> JournalRecord:
        stamp = utc_iso(now)
        transfer_json = _canonical(transfer_to_dict(transfer))
        with self._write(durable=False) as conn:
            row = self._require(conn, transfer.idempotency_key)
            if row[2] != transfer.bank_id:
                raise IdempotencyMismatchError(
                    f"a transfer from bank {transfer.bank_id!r} under a key journalled "
                    f"for bank {row[2]!r}",
                    bank_id=transfer.bank_id,
                )
            _check_same_transfer(row, transfer)
            if not TransferStatus(row[6]).can_become(transfer.status):
                # A late or reordered answer (an old poll, a shuffled webhook) must not undo a
                # newer one; it is still chained so the audit trail shows it arrived.
                payload = {"row": self._snapshot(row), "ignored": json.loads(transfer_json)}
                self._append(conn, row[0], "ignored_stale", payload)
                return self._record(row)
            return self._update(
                conn,
                row,
                "transfer",
                state=JournalState.DONE.value,
                status=transfer.status.value,
                transfer_json=transfer_json,
                attempts=row[8],
                now=stamp,
                transfer=transfer,
            )

    def mark_unknown(self, idempotency_key: str, *, now: datetime) -> JournalRecord:
        stamp = utc_iso(now)
        with self._write(durable=False) as conn:
            row = self._require(conn, idempotency_key)
            if not TransferStatus(row[6]).can_become(TransferStatus.UNKNOWN):
                # The bank already gave a final answer: a later failed lookup changes nothing.
                payload = {"row": self._snapshot(row), "ignored": {"status": "unknown"}}
                self._append(conn, row[0], "ignored_stale", payload)
                return self._record(row)
            return self._update(
                conn,
                row,
                "unknown",
                state=row[5],
                status=TransferStatus.UNKNOWN.value,
                transfer_json=row[7],
                attempts=row[8],
                now=stamp,
            )

    def get(self, idempotency_key: str) -> JournalRecord | None:
        with self._lock:
            row = self._conn.execute(_SELECT_BY_KEY, (idempotency_key,)).fetchone()
        return None if row is None else self._record(row)

    def get_by_transfer_id(self, transfer_id: str) -> JournalRecord | None:
        with self._lock:
            row = self._conn.execute(_SELECT_BY_TRANSFER_ID, (transfer_id,)).fetchone()
        return None if row is None else self._record(row)

    def unresolved(
        self, bank_id: str | None = None, *, before: datetime | None = None
    ) -> list[JournalRecord]:
        with self._lock:
            if bank_id is None:
                rows = self._conn.execute(_SELECT_OPEN).fetchall()
            else:
                rows = self._conn.execute(_SELECT_OPEN_BANK, (bank_id,)).fetchall()
        records = [self._record(row) for row in rows]
        if before is not None:
            utc_iso(before)  # refuses a naive datetime, like every other timestamp here
            records = [record for record in records if record.updated_at < before]
        return records

    def claim_unresolved(
        self, bank_id: str | None = None, *, now: datetime, limit: int | None = None
    ) -> list[JournalRecord]:
        now_us = _epoch_us(now)
        until_us = _epoch_us(now + self.lease)
        # BEGIN IMMEDIATE makes the read and the leasing one step across processes.
        with self._write(durable=False) as conn:
            conn.execute(_DROP_FINISHED_LEASES)
            params = (bank_id, bank_id, self.owner, now_us, -1 if limit is None else limit)
            rows = conn.execute(_SELECT_CLAIMABLE, params).fetchall()
            conn.executemany(_UPSERT_LEASE, [(row[0], self.owner, until_us) for row in rows])
        return [self._record(row) for row in rows]

    def records(self, bank_id: str | None = None) -> Iterator[JournalRecord]:
        # Page by rowid so a large journal is never loaded at once and the lock is not held
        # while the caller works on a page.
        last = 0
        while True:
            with self._lock:
                if bank_id is None:
                    page = self._conn.execute(_SELECT_PAGE, (last, _PAGE)).fetchall()
                else:
                    page = self._conn.execute(_SELECT_PAGE_BANK, (last, bank_id, _PAGE)).fetchall()
            for row in page:
                yield self._record(row[1:])
            if len(page) < _PAGE:
                return
            last = page[-1][0]

    def record_event(
        self, *, bank_id: str, event_id: str, payload_hash: str, now: datetime
    ) -> bool:
        row = (bank_id, event_id, payload_hash, utc_iso(now))
        with self._write() as conn:
            if conn.execute(_INSERT_EVENT, row).rowcount != 1:
                return False
            event = dict(zip(_EVENT_COLUMNS, row, strict=True))
            self._append(conn, _event_key(bank_id, event_id), "event", {"row": event})
            return True

    def verify(self) -> None:
        with self._lock:
            chain = self._conn.execute(
                "SELECT seq, key, kind, payload, prev_hash, hash FROM chain ORDER BY seq"
            ).fetchall()
            transfers = self._conn.execute(_SELECT).fetchall()
            events = self._conn.execute(
                "SELECT bank_id, event_id, payload_hash, received_at FROM events"
            ).fetchall()
        latest = self._verify_chain(chain)
        for row in transfers:
            key = row[0]
            if hashlib.sha256(row[4].encode()).hexdigest() != row[3]:
                raise JournalIntegrityError(f"row {key!r}: the request does not match its hash")
            _cross_check(latest, ("transfers", key), self._snapshot(row))
        for event in events:
            _cross_check(
                latest,
                ("events", _event_key(event[0], event[1])),
                dict(zip(_EVENT_COLUMNS, event, strict=True)),
            )
        if latest:
            (table, key), (seq, _) = next(iter(latest.items()))
            raise JournalIntegrityError(f"chain entry {seq} names {table} row {key!r}: it is gone")

    def _verify_chain(self, chain: list[Row]) -> dict[tuple[str, str], tuple[int, Any]]:
        """Check every link; return the last row snapshot the chain holds per table and key."""
        latest: dict[tuple[str, str], tuple[int, Any]] = {}
        prev_hash = _GENESIS
        for expected_seq, (seq, key, kind, payload, prev, digest) in enumerate(chain, start=1):
            if seq != expected_seq:
                raise JournalIntegrityError(f"chain entry {expected_seq} is missing")
            if prev != prev_hash:
                raise JournalIntegrityError(f"chain entry {seq} does not link to entry {seq - 1}")
            if not hmac.compare_digest(digest, self._digest(prev, seq, key, kind, payload)):
                raise JournalIntegrityError(f"chain entry {seq} ({kind}) does not match its hash")
            table = "events" if kind == "event" else "transfers"
            latest[(table, key)] = (seq, json.loads(payload)["row"])
            prev_hash = digest
        return latest

    def close(self) -> None:
        with self._lock:
            if self._relaxed is not self._conn:
                self._relaxed.close()
            self._conn.close()

    def __enter__(self) -> SQLiteJournal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _connect(
    path: str | os.PathLike[str], busy_timeout: float, synchronous: str
) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per call.
    conn = sqlite3.connect(
        os.fspath(path),
        timeout=busy_timeout,
        isolation_level=None,
        check_same_thread=False,
        cached_statements=64,
    )
    # WAL lets readers (a reconciliation job, the sqlite3 shell) run while we write, and a
    # commit is one sequential append. Pragmas are set once per connection, never per call.
    try:
        _use_wal(conn, busy_timeout)
        conn.execute(synchronous)
    except BaseException:
        conn.close()
        raise
    return conn


# Looked up at call time, so a test can stand in for the clock and the wait.
_sleep = time.sleep
_monotonic = time.monotonic


def _use_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """Switch the file to WAL, waiting up to ``busy_timeout`` for other connections.

    Changing the journal mode needs the file to itself, and SQLite does not always consult
    the busy handler for it: processes opening a brand-new file at the same moment (each
    creating the schema, then switching to WAL) can get ``database is locked`` at once
    instead of waiting. So this statement waits for itself, as the busy handler would. Once
    one connection has switched, the mode is in the file and every later open finds it.
    """
    deadline = _monotonic() + busy_timeout
    pause = 0.001
    while True:
        try:
            row = conn.execute("PRAGMA journal_mode=WAL").fetchone()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            row = None
        mode = str(row[0]).lower() if row else ""
        if mode in ("wal", "memory"):  # an in-memory database has no WAL to switch to
            return
        if _monotonic() >= deadline:
            raise sqlite3.OperationalError(
                f"database is locked: could not switch to WAL mode within {busy_timeout}s"
            )
        _sleep(pause)  # the wait SQLite's own busy handler would have done
        pause = min(pause * 2, 0.05)


def _check_same_transfer(row: Row, transfer: Transfer) -> None:
    """The row's own intent, or refuse it: the last line of defence, so that no caller can
    store one transfer's answer in another's row (the client cross-checks replies first)."""
    request = json.loads(row[4])
    for what, journalled, given in (
        ("walletlink transfer id", row[1], transfer.id),
        ("end-to-end id", request["end_to_end_id"], transfer.end_to_end_id),
        ("currency", request["currency"], transfer.amount.currency),
        ("amount", request["amount"], transfer.amount.to_decimal_string()),
    ):
        if journalled != given:
            raise IdempotencyMismatchError(
                f"a transfer with another {what} under this idempotency key",
                bank_id=transfer.bank_id,
            )


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch_us(moment: datetime) -> int:
    utc_iso(moment)  # refuses a naive datetime
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _load_transfer(text: str) -> Transfer:
    return transfer_from_dict(json.loads(text))


def _event_key(bank_id: str, event_id: str) -> str:
    # JSON keeps the pair unambiguous whatever characters the ids contain.
    return json.dumps([bank_id, event_id])


def _cross_check(
    latest: dict[tuple[str, str], tuple[int, Any]],
    where: tuple[str, str],
    snapshot: Mapping[str, Any],
) -> None:
    table, key = where
    entry = latest.pop(where, None)
    if entry is None:
        raise JournalIntegrityError(f"{table} row {key!r} has no chain entry")
    seq, chained = entry
    if chained != snapshot:
        raise JournalIntegrityError(
            f"{table} row {key!r} disagrees with its last chain entry ({seq})"
        )
