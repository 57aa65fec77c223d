"""A journal in PostgreSQL that several servers share (``pip install walletlink[postgres]``).

The same :class:`~walletlink.journal.Journal` as SQLite, built for many servers at once:

* **Claims are atomic across servers.** ``record_intent`` is one ``INSERT … ON CONFLICT``
  that compares the stored fingerprint in the same statement. The claiming server holds a
  *lease* on the record until the bank's answer is journalled; another server claiming the
  same key meanwhile gets :class:`~walletlink.errors.UnknownOutcomeError` (the journal's 409)
  and sends nothing. A lease whose server died expires and is taken over.
* **Recovery is shared.** :meth:`claim_unresolved` leases open records with
  ``FOR UPDATE SKIP LOCKED``, so ``Client.resolve_unknown()`` running on every server at once
  resolves each record once.
* **The hash chain is partitioned** per bank (or per bank and debtor account), so appends to
  different partitions never wait for each other; :meth:`verify` checks every partition.
* **Signed checkpoints** (:meth:`checkpoint`) of every partition's head detect truncation of
  the newest entries when kept elsewhere, and anchor the prefix that :meth:`prune` removes.
* **Migrations are explicit**: :meth:`migrate` (``walletlink journal migrate --dsn …``).

See ``docs/postgres.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import psycopg
from psycopg import sql

from walletlink.errors import (
    ConfigurationError,
    IdempotencyMismatchError,
    UnknownOutcomeError,
)
from walletlink.journal import _pg_schema as q
from walletlink.journal._pgverify import (
    GENESIS,
    ChainReader,
    check_checkpoint,
    digest,
    event_key,
    snapshot,
    verify_tables,
)
from walletlink.journal.base import (
    JournalRecord,
    JournalState,
    transfer_from_dict,
    transfer_to_dict,
    utc_iso,
)
from walletlink.journal.checkpoint import Checkpoint
from walletlink.models import Transfer, TransferRequest, TransferStatus
from walletlink.signing.keys import SigningKey

__all__ = ["SCHEMA_VERSION", "PostgresJournal"]

SCHEMA_VERSION: Final = q.SCHEMA_VERSION
_PAGE: Final = 256
Row = tuple[Any, ...]
Conn = psycopg.Connection[tuple[Any, ...]]
Cursor = psycopg.Cursor[tuple[Any, ...]]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class _Pool:
    """A few open connections, one per concurrent caller: psycopg connections are not for
    two threads at once, and one per call would pay a connection setup per transfer."""

    def __init__(self, dsn: str, size: int) -> None:
        self._dsn = dsn
        self._size = size
        self._idle: list[Conn] = []
        self._lock = threading.Lock()
        self._closed = False

    def _connect(self) -> Conn:
        # Autocommit: every transaction is an explicit ``conn.transaction()`` block.
        conn = psycopg.connect(self._dsn, autocommit=True)
        conn.execute("SET TIME ZONE 'UTC'")
        return conn

    @contextlib.contextmanager
    def connection(self) -> Iterator[Conn]:
        with self._lock:
            if self._closed:
                raise ConfigurationError("this journal is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
        try:
            yield conn
        finally:
            idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            with self._lock:
                keep = idle and not conn.closed and not self._closed
                keep = keep and len(self._idle) < self._size
                if keep:
                    self._idle.append(conn)
            if not keep:
                conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _default_owner() -> str:
    # Unique per journal object: a restarted process is a new owner, so its predecessor's
    # leases are only taken over once they expire (the predecessor may still be alive).
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class PostgresJournal:
    """A :class:`~walletlink.journal.Journal` in a PostgreSQL schema, shared by servers.

    ``dsn`` is a libpq connection string or URI. ``schema`` names the PostgreSQL schema
    holding the tables (one per journal). ``partition_by`` picks the chain partitions:
    ``"bank"`` (one chain per bank) or ``"account"`` (per bank and debtor account).
    ``lease`` is how long a server owns a record it claimed before another may take it over:
    longer than one transfer with all its retries takes. ``owner`` names this server in
    leases (default: host, pid and a random suffix). ``chain_key`` makes the chain an
    HMAC, and ``durability`` works, as in :class:`~walletlink.journal.SQLiteJournal`:
    ``"intents"`` (default) waits for the WAL flush only when committing a new intent or
    notification id, ``"full"`` on every commit. ``checkpoint_key`` is an Ed25519
    :class:`~walletlink.signing.SigningKey`: the private key signs checkpoints and prunes, the
    public half is enough to verify. ``retention`` is the default window for :meth:`prune`.

    The schema must exist at :data:`SCHEMA_VERSION`: run ``walletlink journal migrate --dsn
    …`` (or :meth:`migrate`) first; construction never changes the database.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "walletlink",
        partition_by: Literal["bank", "account"] = "bank",
        lease: timedelta = timedelta(minutes=2),
        owner: str | None = None,
        chain_key: bytes | None = None,
        checkpoint_key: SigningKey | None = None,
        retention: timedelta | None = None,
        durability: Literal["intents", "full"] = "intents",
        pool_size: int = 8,
    ) -> None:
        if durability not in ("intents", "full"):
            raise ConfigurationError("durability must be 'intents' or 'full'")
        if partition_by not in ("bank", "account"):
            raise ConfigurationError("partition_by must be 'bank' or 'account'")
        if lease <= timedelta(0):
            raise ConfigurationError("the lease must be positive")
        self.schema = schema
        self.partition_by = partition_by
        self.lease = lease
        self.owner = owner or _default_owner()
        self.retention = retention
        self._relax_progress = durability == "intents"
        self._chain_key = chain_key
        self._checkpoint_key = checkpoint_key
        self._sql: dict[str, sql.Composed] = {}
        self._pool = _Pool(dsn, pool_size)
        try:
            found = self._installed_version()
        except BaseException:
            self._pool.close()
            raise
        if found != SCHEMA_VERSION:
            self._pool.close()
            if found > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"journal schema {schema!r} is at version {found}, newer than this "
                    f"walletlink understands ({SCHEMA_VERSION}): upgrade walletlink"
                )
            raise ConfigurationError(
                f"journal schema {schema!r} is at version {found}, not {SCHEMA_VERSION}: run "
                f"`walletlink journal migrate --dsn … --schema {schema}` first"
            )

    # -- migrations ----------------------------------------------------------------------------

    @staticmethod
    def migrate(dsn: str, *, schema: str = "walletlink") -> list[int]:
        """Bring ``schema`` up to :data:`SCHEMA_VERSION`; returns the versions applied.

        Safe to run from several places at once: an advisory lock serialises migrators, and
        each version is applied in its own transaction together with its version row.
        """
        applied: list[int] = []
        with psycopg.connect(dsn, autocommit=True) as conn:
            lock_id = int.from_bytes(hashlib.sha256(schema.encode()).digest()[:7], "big")
            conn.execute("SELECT pg_advisory_lock(%s)", (lock_id,))
            try:
                current = _version(conn, schema)
                if current > SCHEMA_VERSION:
                    raise ConfigurationError(
                        f"journal schema {schema!r} is at version {current}, newer than this "
                        f"walletlink understands ({SCHEMA_VERSION})"
                    )
                for version in range(current + 1, SCHEMA_VERSION + 1):
                    with conn.transaction():
                        script = sql.SQL(q.MIGRATIONS[version - 1])
                        conn.execute(script.format(s=sql.Identifier(schema)))
                        conn.execute(
                            sql.SQL("INSERT INTO {s}.schema_version (version) VALUES (%s)").format(
                                s=sql.Identifier(schema)
                            ),
                            (version,),
                        )
                    applied.append(version)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (lock_id,))
        return applied

    def _installed_version(self) -> int:
        with self._pool.connection() as conn:
            return _version(conn, self.schema)

    # -- plumbing ------------------------------------------------------------------------------

    def _q(self, text: str) -> sql.Composed:
        composed = self._sql.get(text)
        if composed is None:
            composed = sql.SQL(text).format(s=sql.Identifier(self.schema))
            self._sql[text] = composed
        return composed

    @contextlib.contextmanager
    def _tx(self, *, durable: bool = True) -> Iterator[Cursor]:
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if not durable and self._relax_progress:
                # As SQLiteJournal's "intents": only this transaction skips the wait for the
                # WAL flush. WAL is one ordered log, so the next durable commit makes it
                # durable too; a server crash can lose a suffix of progress, never a hole.
                cur.execute("SET LOCAL synchronous_commit = off")
            yield cur

    def _one(self, cur: Cursor, text: str, params: Any) -> Row | None:
        cur.execute(self._q(text), params)
        return cur.fetchone()

    def _partition(self, bank_id: str, request: TransferRequest) -> str:
        if self.partition_by == "bank":
            return bank_id
        # The account number itself never names a partition: partitions appear in messages.
        account = _canonical(request.canonical()["debtor_account"])
        return f"{bank_id}/{hashlib.sha256(account.encode()).hexdigest()[:16]}"

    def _append(self, cur: Cursor, partition: str, key: str, kind: str, payload: Any) -> int:
        head = self._one(cur, q.LOCK_HEAD, {"partition": partition, "genesis": GENESIS})
        assert head is not None  # INSERT … ON CONFLICT DO UPDATE always returns the row
        seq, prev = head[0] + 1, head[1]
        text = _canonical(payload)
        link = digest(self._chain_key, prev, (partition, seq), key, kind, text)
        cur.execute(
            self._q(q.APPEND),
            {
                "partition": partition,
                "seq": seq,
                "key": key,
                "kind": kind,
                "payload": text,
                "prev": prev,
                "hash": link,
            },
        )
        return int(seq)

    @staticmethod
    def _record(row: Row, transfer: Transfer | None = None) -> JournalRecord:
        transfer_json = row[7]
        if transfer is None and transfer_json is not None:
            transfer = transfer_from_dict(json.loads(transfer_json))
        return JournalRecord(
            idempotency_key=row[0],
            request_hash=row[3],
            bank_id=row[2],
            transfer_id=row[1],
            request=json.loads(row[4]),
            state=JournalState(row[5]),
            status=TransferStatus(row[6]),
            transfer=transfer,
            attempts=row[8],
            created_at=row[9].astimezone(UTC),
            updated_at=row[10].astimezone(UTC),
        )

    def _require(self, cur: Cursor, key: str) -> Row:
        row = self._one(cur, q.SELECT_FOR_UPDATE, (key,))
        if row is None:
            raise KeyError(key)
        return row

    def _update(
        self,
        cur: Cursor,
        row: Row,
        kind: str,
        changes: Mapping[str, Any],
        transfer: Transfer | None = None,
    ) -> JournalRecord:
        """Apply ``changes`` (state, status, transfer, attempts, now, owner) to ``row``."""
        new_row = (
            *row[:5],
            changes["state"],
            changes["status"],
            changes["transfer"],
            changes["attempts"],
            row[9],
            changes["now"],
            *row[11:],
        )
        seq = self._append(cur, row[11], row[0], kind, {"row": snapshot(new_row)})
        params = {**changes, "key": row[0], "seq": seq, "me": self.owner}
        cur.execute(self._q(q.UPDATE), {**params, "until": changes["now"] + self.lease})
        return self._record(new_row, transfer)

    def _ignore(self, cur: Cursor, row: Row, ignored: Any) -> JournalRecord:
        # A late or reordered answer is chained so the audit trail shows it arrived.
        payload = {"row": snapshot(row), "ignored": ignored}
        seq = self._append(cur, row[11], row[0], "ignored_stale", payload)
        cur.execute(self._q(q.SET_CHAIN_SEQ), (seq, row[0]))
        return self._record(row)

    # -- the Journal protocol ------------------------------------------------------------------

    def record_intent(
        self, *, bank_id: str, request: TransferRequest, transfer_id: str, now: datetime
    ) -> tuple[JournalRecord, bool]:
        key = request.idempotency_key
        request_json = request.canonical_json()
        request_hash = hashlib.sha256(request_json.encode()).hexdigest()
        utc_iso(now)
        params = {
            "key": key,
            "transfer_id": transfer_id,
            "bank": bank_id,
            "hash": request_hash,
            "request": request_json,
            "now": now,
            "partition": self._partition(bank_id, request),
            "owner": self.owner,
            "until": now + self.lease,
        }
        with self._tx() as cur:
            try:
                returned = self._one(cur, q.INSERT_INTENT, params)
            except psycopg.errors.UniqueViolation:
                raise ValueError(f"transfer id {transfer_id!r} is already journalled") from None
            assert returned is not None  # DO UPDATE returns the row in every case
            inserted, row = returned[0], returned[1:]
            if inserted:
                payload = {"row": snapshot(row), "request": request_json}
                seq = self._append(cur, row[11], key, "intent", payload)
                cur.execute(self._q(q.SET_CHAIN_SEQ), (seq, key))
                return self._record(row), True
        if row[3] != request_hash or row[2] != bank_id:
            raise IdempotencyMismatchError(
                "this idempotency key was already used for a different request"
                if row[3] != request_hash
                else f"this idempotency key was already used at bank {row[2]!r}",
                bank_id=bank_id,
            )
        record = self._record(row)
        if not record.outcome_known and row[13] != self.owner:
            raise UnknownOutcomeError(
                "this transfer is in flight on another server; retry later or resolve with "
                "resolve_unknown()",
                idempotency_key=key,
                bank_id=bank_id,
            )
        return record, False

    def mark_sent(self, idempotency_key: str, *, now: datetime) -> JournalRecord:
        utc_iso(now)
        with self._tx(durable=False) as cur:
            row = self._require(cur, idempotency_key)
            changes = {
                "state": JournalState(row[5]).advanced_to(JournalState.SENT).value,
                "status": row[6],
                "transfer": row[7],
                "attempts": row[8] + 1,
                "now": now,
                "owner": row[13],
            }
            return self._update(cur, row, "sent", changes)

    def record_transfer(self, transfer: Transfer, *, now: datetime) -> JournalRecord:
        utc_iso(now)
        transfer_json = _canonical(transfer_to_dict(transfer))
        with self._tx(durable=False) as cur:
            row = self._require(cur, transfer.idempotency_key)
            if row[2] != transfer.bank_id:
                raise IdempotencyMismatchError(
                    f"a transfer from bank {transfer.bank_id!r} under a key journalled "
                    f"for bank {row[2]!r}",
                    bank_id=transfer.bank_id,
                )
            if not TransferStatus(row[6]).can_become(transfer.status):
                return self._ignore(cur, row, json.loads(transfer_json))
            # The answer is in: nobody needs to own the record any more.
            owner = row[13] if transfer.status is TransferStatus.UNKNOWN else None
            changes = {
                "state": JournalState.DONE.value,
                "status": transfer.status.value,
                "transfer": transfer_json,
                "attempts": row[8],
                "now": now,
                "owner": owner,
            }
            return self._update(cur, row, "transfer", changes, transfer)

    def mark_unknown(self, idempotency_key: str, *, now: datetime) -> JournalRecord:
        utc_iso(now)
        with self._tx(durable=False) as cur:
            row = self._require(cur, idempotency_key)
            if not TransferStatus(row[6]).can_become(TransferStatus.UNKNOWN):
                return self._ignore(cur, row, {"status": "unknown"})
            # Give up our lease so any server's resolve_unknown() can take the record at once.
            owner = None if row[13] == self.owner else row[13]
            changes = {
                "state": row[5],
                "status": TransferStatus.UNKNOWN.value,
                "transfer": row[7],
                "attempts": row[8],
                "now": now,
                "owner": owner,
            }
            return self._update(cur, row, "unknown", changes)

    def get(self, idempotency_key: str) -> JournalRecord | None:
        with self._pool.connection() as conn:
            row = conn.execute(self._q(q.SELECT_BY_KEY), (idempotency_key,)).fetchone()
        return None if row is None else self._record(row)

    def get_by_transfer_id(self, transfer_id: str) -> JournalRecord | None:
        with self._pool.connection() as conn:
            row = conn.execute(self._q(q.SELECT_BY_TRANSFER_ID), (transfer_id,)).fetchone()
        return None if row is None else self._record(row)

    def unresolved(
        self, bank_id: str | None = None, *, before: datetime | None = None
    ) -> list[JournalRecord]:
        if before is not None:
            utc_iso(before)
        with self._pool.connection() as conn:
            rows = conn.execute(self._q(q.SELECT_OPEN), {"bank": bank_id}).fetchall()
        records = [self._record(row) for row in rows]
        if before is not None:
            records = [record for record in records if record.updated_at < before]
        return records

    def claim_unresolved(
        self, bank_id: str | None = None, *, now: datetime, limit: int | None = None
    ) -> list[JournalRecord]:
        utc_iso(now)
        params = {
            "bank": bank_id,
            "owner": self.owner,
            "now": now,
            "until": now + self.lease,
            "limit": limit,
        }
        with self._tx(durable=False) as cur:
            rows = cur.execute(self._q(q.CLAIM_OPEN), params).fetchall()
        return [self._record(row[1:]) for row in sorted(rows)]

    def records(self, bank_id: str | None = None) -> Iterator[JournalRecord]:
        last = 0
        while True:
            params = {"after": last, "bank": bank_id, "limit": _PAGE}
            with self._pool.connection() as conn:
                page = conn.execute(self._q(q.SELECT_PAGE), params).fetchall()
            for row in page:
                yield self._record(row[1:])
            if len(page) < _PAGE:
                return
            last = page[-1][0]

    def record_event(
        self, *, bank_id: str, event_id: str, payload_hash: str, now: datetime
    ) -> bool:
        stamp = utc_iso(now)
        with self._tx() as cur:
            cur.execute(self._q(q.INSERT_EVENT), (bank_id, event_id, payload_hash, now, bank_id))
            if cur.rowcount != 1:
                return False
            event = {
                "bank_id": bank_id,
                "event_id": event_id,
                "payload_hash": payload_hash,
                "received_at": stamp,
            }
            key = event_key(bank_id, event_id)
            seq = self._append(cur, bank_id, key, "event", {"row": event})
            cur.execute(self._q(q.SET_EVENT_SEQ), (seq, bank_id, event_id))
            return True

    # -- integrity -----------------------------------------------------------------------------

    def verify(self, checkpoint: Checkpoint | None = None) -> None:
        """Check every partition's chain and every row against it.

        A pruned partition's first entry must link to a base that a signed checkpoint (taken
        by :meth:`prune`) vouches for. With ``checkpoint`` (one kept elsewhere), every head it
        holds must still be in the chain: entries cut off the end are detected.
        """
        # One snapshot for the whole check, so concurrent writers cannot make it flicker.
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            reader = ChainReader(
                heads=conn.execute(self._q(q.SELECT_HEADS)).fetchall(),
                chain=conn.execute(self._q(q.SELECT_CHAIN)),
                load_checkpoint=lambda cid: conn.execute(
                    self._q(q.SELECT_CHECKPOINT), (cid,)
                ).fetchone(),
            )
            latest = reader.walk(self._chain_key, self._checkpoint_key)
            verify_tables(
                latest,
                conn.execute(self._q(q.SELECT)).fetchall(),
                conn.execute(self._q(q.SELECT_EVENTS)).fetchall(),
            )
        if checkpoint is not None:
            check_checkpoint(reader, checkpoint, self._require_key(), self.schema)

    def _require_key(self) -> SigningKey:
        if self._checkpoint_key is None:
            raise ConfigurationError("checkpoints need PostgresJournal(checkpoint_key=…)")
        return self._checkpoint_key

    def checkpoint(self, *, now: datetime) -> Checkpoint:
        """Sign the head of every partition now; keep the result outside this database."""
        key = self._require_key()
        with self._tx() as cur:
            rows = cur.execute(self._q(q.SELECT_HEADS)).fetchall()
            heads = {row[0]: (int(row[1]), str(row[2])) for row in rows}
            signed = Checkpoint.sign(
                key, journal=self.schema, kind="heads", heads=heads, taken_at=now
            )
            self._store_checkpoint(cur, signed, "heads", now)
        return signed

    def _store_checkpoint(self, cur: Cursor, signed: Checkpoint, kind: str, now: datetime) -> int:
        params = (kind, now, signed.body, signed.signature, signed.kid)
        row = self._one(cur, q.INSERT_CHECKPOINT, params)
        assert row is not None
        return int(row[0])

    def prune(
        self,
        *,
        now: datetime,
        older_than: timedelta | None = None,
        archive: Callable[[Sequence[JournalRecord]], None] | None = None,
    ) -> int:
        """Delete finished records (and notification ids) not touched for ``older_than``
        (default: ``retention``); returns how many transfers went.

        Each partition drops the prefix of its chain that only pruned rows still need, and a
        checkpoint signed with ``checkpoint_key`` records the new first link, so
        :meth:`verify` still proves the rest. ``archive`` receives each partition's pruned
        records before they are deleted, in the same transaction: if it raises, nothing is
        deleted. A record still needed by a later entry of a kept one waits for a later prune.
        """
        window = older_than if older_than is not None else self.retention
        if window is None:
            raise ConfigurationError("prune needs older_than= or PostgresJournal(retention=…)")
        key = self._require_key()
        before = now - window
        with self._pool.connection() as conn:
            partitions = [row[0] for row in conn.execute(self._q(q.SELECT_HEADS)).fetchall()]
        return sum(self._prune_partition(p, before, now, key, archive) for p in partitions)

    def _prune_partition(
        self,
        partition: str,
        before: datetime,
        now: datetime,
        key: SigningKey,
        archive: Callable[[Sequence[JournalRecord]], None] | None,
    ) -> int:
        args: dict[str, Any] = {"partition": partition, "before": before}
        with self._tx() as cur:
            # Rows first, then the head: the order every writer takes its locks in.
            args["locked"] = [r[0] for r in cur.execute(self._q(q.LOCK_PRUNABLE), args)]
            head = self._one(cur, q.LOCK_HEAD_ONLY, (partition,))
            kept_from = self._one(cur, q.KEPT_FROM, args)
            if head is None or kept_from is None:
                return 0
            base = head[0] if kept_from[0] is None else kept_from[0] - 1
            if base <= head[2]:
                return 0
            args["base"] = base
            rows = cur.execute(self._q(q.SELECT_PRUNED), args).fetchall()
            if archive is not None and rows:
                archive([self._record(row) for row in rows])
            base_hash = self._one(cur, q.SELECT_ENTRY_HASH, (partition, base))
            assert base_hash is not None  # entries after the old base are all present
            signed = Checkpoint.sign(
                key,
                journal=self.schema,
                kind="prune",
                heads={partition: (base, base_hash[0])},
                taken_at=now,
            )
            checkpoint_id = self._store_checkpoint(cur, signed, "prune", now)
            cur.execute(self._q(q.DELETE_PRUNED), ([row[0] for row in rows],))
            cur.execute(self._q(q.DELETE_EVENTS), args)
            cur.execute(self._q(q.DELETE_CHAIN), (partition, base))
            cur.execute(self._q(q.SET_BASE), (base, base_hash[0], checkpoint_id, partition))
            return len(rows)

    def close(self) -> None:
        self._pool.close()

    def __repr__(self) -> str:
        # Never the DSN: it may hold a password.
        return f"PostgresJournal(schema={self.schema!r}, owner={self.owner!r})"

    def __enter__(self) -> PostgresJournal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _version(conn: Conn, schema: str) -> int:
    name = f"{sql.Identifier(schema).as_string(conn)}.schema_version"
    table = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
    if table is None or table[0] is None:
        return 0
    query = sql.SQL("SELECT coalesce(max(version), 0) FROM {s}.schema_version")
    row = conn.execute(query.format(s=sql.Identifier(schema))).fetchone()
    return 0 if row is None else int(row[0])
