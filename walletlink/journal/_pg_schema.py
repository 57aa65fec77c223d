"""The PostgreSQL journal's schema, its migrations, and every statement it runs.

Statements are written out in full, with ``{s}`` standing for the journal's schema; the
journal formats them once with :func:`psycopg.sql.Identifier`. Migrations are applied only by
``PostgresJournal.migrate()`` (``walletlink journal migrate``), never on import or
construction: a schema change in production is a deliberate step.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

# MIGRATIONS[n] takes the schema from version n to version n + 1.
MIGRATIONS: Final[tuple[str, ...]] = (
    """
    CREATE SCHEMA IF NOT EXISTS {s};
    CREATE TABLE {s}.schema_version (
        version    integer PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE {s}.transfers (
        id              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        idempotency_key text PRIMARY KEY,
        transfer_id     text NOT NULL UNIQUE,
        bank_id         text NOT NULL,
        request_hash    text NOT NULL,
        request_json    text NOT NULL,
        state           text NOT NULL,
        status          text NOT NULL,
        transfer_json   text,
        attempts        integer NOT NULL,
        created_at      timestamptz NOT NULL,
        updated_at      timestamptz NOT NULL,
        partition       text NOT NULL,
        chain_seq       bigint NOT NULL,
        lease_owner     text,
        lease_expires   timestamptz
    );
    CREATE INDEX transfers_open ON {s}.transfers (id)
        WHERE state <> 'done' OR status = 'unknown';
    CREATE INDEX transfers_bank ON {s}.transfers (bank_id, id);
    CREATE INDEX transfers_partition ON {s}.transfers (partition, chain_seq);
    CREATE TABLE {s}.events (
        bank_id      text NOT NULL,
        event_id     text NOT NULL,
        payload_hash text NOT NULL,
        received_at  timestamptz NOT NULL,
        partition    text NOT NULL,
        chain_seq    bigint NOT NULL,
        PRIMARY KEY (bank_id, event_id)
    );
    CREATE TABLE {s}.chain (
        partition text NOT NULL,
        seq       bigint NOT NULL,
        key       text NOT NULL,
        kind      text NOT NULL,
        payload   text NOT NULL,
        prev_hash text NOT NULL,
        hash      text NOT NULL,
        PRIMARY KEY (partition, seq)
    );
    CREATE TABLE {s}.checkpoints (
        id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind      text NOT NULL,
        taken_at  timestamptz NOT NULL,
        body      text NOT NULL,
        signature text NOT NULL,
        kid       text NOT NULL
    );
    CREATE TABLE {s}.chain_heads (
        partition       text PRIMARY KEY,
        seq             bigint NOT NULL,
        hash            text NOT NULL,
        base_seq        bigint NOT NULL,
        base_hash       text NOT NULL,
        base_checkpoint bigint REFERENCES {s}.checkpoints (id)
    );
    """,
)
SCHEMA_VERSION: Final = len(MIGRATIONS)

# Every SELECT of a transfer row lists these columns in this order (see _record).
COLUMNS: Final = """idempotency_key, transfer_id, bank_id, request_hash, request_json, state,
    status, transfer_json, attempts, created_at, updated_at, partition, chain_seq, lease_owner"""

SELECT: Final = f"SELECT {COLUMNS} FROM {{s}}.transfers"
SELECT_BY_KEY: Final = SELECT + " WHERE idempotency_key = %s"
SELECT_FOR_UPDATE: Final = SELECT_BY_KEY + " FOR UPDATE"
SELECT_BY_TRANSFER_ID: Final = SELECT + " WHERE transfer_id = %s"
SELECT_OPEN: Final = (
    SELECT + " WHERE (state <> 'done' OR status = 'unknown')"
    " AND (%(bank)s::text IS NULL OR bank_id = %(bank)s) ORDER BY id"
)
SELECT_PAGE: Final = (
    f"SELECT id, {COLUMNS} FROM {{s}}.transfers WHERE id > %(after)s"
    " AND (%(bank)s::text IS NULL OR bank_id = %(bank)s) ORDER BY id LIMIT %(limit)s"
)

# The claim. Inserting takes the key; on a conflict the same statement compares the stored
# fingerprint and bank with this request's and, only when they match and the outcome is
# still open, takes over the lease if it is free, ours or expired. DO UPDATE (rather than DO
# NOTHING) also returns the row another server committed after this statement began.
_CLAIMABLE: Final = """
    t.request_hash = EXCLUDED.request_hash AND t.bank_id = EXCLUDED.bank_id
    AND (t.state <> 'done' OR t.status = 'unknown')
    AND (t.lease_owner IS NULL OR t.lease_owner = EXCLUDED.lease_owner
         OR t.lease_expires <= %(now)s)"""
INSERT_INTENT: Final = f"""
    INSERT INTO {{s}}.transfers AS t (idempotency_key, transfer_id, bank_id, request_hash,
        request_json, state, status, transfer_json, attempts, created_at, updated_at,
        partition, chain_seq, lease_owner, lease_expires)
    VALUES (%(key)s, %(transfer_id)s, %(bank)s, %(hash)s, %(request)s, 'intent', 'pending',
        NULL, 0, %(now)s, %(now)s, %(partition)s, 0, %(owner)s, %(until)s)
    ON CONFLICT (idempotency_key) DO UPDATE SET
        lease_owner = CASE WHEN {_CLAIMABLE} THEN EXCLUDED.lease_owner ELSE t.lease_owner END,
        lease_expires = CASE WHEN {_CLAIMABLE} THEN EXCLUDED.lease_expires
                        ELSE t.lease_expires END
    RETURNING (xmax = 0), {COLUMNS}"""

UPDATE: Final = """
    UPDATE {s}.transfers SET state = %(state)s, status = %(status)s,
        transfer_json = %(transfer)s, attempts = %(attempts)s, updated_at = %(now)s,
        chain_seq = %(seq)s, lease_owner = %(owner)s,
        -- our lease is renewed; another claimant's keeps its own expiry
        lease_expires = CASE WHEN %(owner)s::text IS NULL THEN NULL
                             WHEN %(owner)s::text = %(me)s THEN %(until)s
                             ELSE lease_expires END
    WHERE idempotency_key = %(key)s"""
SET_CHAIN_SEQ: Final = "UPDATE {s}.transfers SET chain_seq = %s WHERE idempotency_key = %s"

# Leases for recovery: SKIP LOCKED lets several servers claim at once without waiting on
# each other, and a lease held by a crashed server is taken over once it expires.
CLAIM_OPEN: Final = f"""
    WITH picked AS (
        SELECT idempotency_key FROM {{s}}.transfers
        WHERE (state <> 'done' OR status = 'unknown')
          AND (%(bank)s::text IS NULL OR bank_id = %(bank)s)
          AND (lease_owner IS NULL OR lease_owner = %(owner)s OR lease_expires <= %(now)s)
        ORDER BY id LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED)
    UPDATE {{s}}.transfers AS t SET lease_owner = %(owner)s, lease_expires = %(until)s
    FROM picked WHERE t.idempotency_key = picked.idempotency_key
    RETURNING t.id, {", ".join("t." + c.strip() for c in COLUMNS.split(","))}"""

INSERT_EVENT: Final = """
    INSERT INTO {s}.events (bank_id, event_id, payload_hash, received_at, partition, chain_seq)
    VALUES (%s, %s, %s, %s, %s, 0) ON CONFLICT (bank_id, event_id) DO NOTHING"""
SET_EVENT_SEQ: Final = "UPDATE {s}.events SET chain_seq = %s WHERE bank_id = %s AND event_id = %s"

# Creates the partition's head on first use, and in every case locks it and returns it: the
# lock is what keeps two appenders from both linking to the same entry.
LOCK_HEAD: Final = """
    INSERT INTO {s}.chain_heads AS h (partition, seq, hash, base_seq, base_hash)
    VALUES (%(partition)s, 0, %(genesis)s, 0, %(genesis)s)
    ON CONFLICT (partition) DO UPDATE SET seq = h.seq
    RETURNING seq, hash"""
APPEND: Final = """
    WITH entry AS (
        INSERT INTO {s}.chain (partition, seq, key, kind, payload, prev_hash, hash)
        VALUES (%(partition)s, %(seq)s, %(key)s, %(kind)s, %(payload)s, %(prev)s, %(hash)s))
    UPDATE {s}.chain_heads SET seq = %(seq)s, hash = %(hash)s WHERE partition = %(partition)s"""

SELECT_HEADS: Final = (
    "SELECT partition, seq, hash, base_seq, base_hash, base_checkpoint"
    " FROM {s}.chain_heads ORDER BY partition"
)
SELECT_CHAIN: Final = (
    "SELECT partition, seq, key, kind, payload, prev_hash, hash FROM {s}.chain"
    " ORDER BY partition, seq"
)
SELECT_EVENTS: Final = (
    "SELECT bank_id, event_id, payload_hash, received_at, partition, chain_seq FROM {s}.events"
)
SELECT_CHECKPOINT: Final = "SELECT body, signature, kid FROM {s}.checkpoints WHERE id = %s"
INSERT_CHECKPOINT: Final = """
    INSERT INTO {s}.checkpoints (kind, taken_at, body, signature, kid)
    VALUES (%s, %s, %s, %s, %s) RETURNING id"""

# Retention. A record is finished when the bank's answer is known and final (or settled:
# only a return can follow, and retention windows are far longer than return windows).
FINISHED: Final = "state = 'done' AND status IN ('settled', 'rejected', 'cancelled', 'returned')"
LOCK_PRUNABLE: Final = f"""
    SELECT idempotency_key FROM {{s}}.transfers
    WHERE partition = %(partition)s AND {FINISHED} AND updated_at < %(before)s
    FOR UPDATE SKIP LOCKED"""
LOCK_HEAD_ONLY: Final = (
    "SELECT seq, hash, base_seq FROM {s}.chain_heads WHERE partition = %s FOR UPDATE"
)
# The oldest chain entry that must stay: the last entry of every row that is kept.
KEPT_FROM: Final = """
    SELECT min(chain_seq) FROM (
        SELECT chain_seq FROM {s}.transfers
        WHERE partition = %(partition)s
          AND NOT idempotency_key = ANY(%(locked)s)
        UNION ALL
        SELECT chain_seq FROM {s}.events
        WHERE partition = %(partition)s AND received_at >= %(before)s) kept"""
SELECT_PRUNED: Final = (
    SELECT + " WHERE partition = %(partition)s AND idempotency_key = ANY(%(locked)s)"
    " AND chain_seq <= %(base)s ORDER BY id"
)
DELETE_PRUNED: Final = "DELETE FROM {s}.transfers WHERE idempotency_key = ANY(%s)"
DELETE_EVENTS: Final = (
    "DELETE FROM {s}.events WHERE partition = %(partition)s AND received_at < %(before)s"
    " AND chain_seq <= %(base)s"
)
SELECT_ENTRY_HASH: Final = "SELECT hash FROM {s}.chain WHERE partition = %s AND seq = %s"
DELETE_CHAIN: Final = "DELETE FROM {s}.chain WHERE partition = %s AND seq <= %s"
SET_BASE: Final = """
    UPDATE {s}.chain_heads SET base_seq = %s, base_hash = %s, base_checkpoint = %s
    WHERE partition = %s"""
