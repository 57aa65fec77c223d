"""How the PostgreSQL journal's partitioned chain is linked and checked.

Each partition is its own chain ``(seq, key, kind, payload, prev_hash, hash)`` starting at
the partition's *base*: the genesis hash, or after :meth:`PostgresJournal.prune` the last
removed entry, vouched for by a signed checkpoint. ``chain_heads`` holds each partition's
newest ``(seq, hash)``; a signed checkpoint kept elsewhere holds the same for one moment.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from typing import Any, Final

from walletlink.errors import ConfigurationError, JournalIntegrityError
from walletlink.journal.base import utc_iso
from walletlink.journal.checkpoint import Checkpoint
from walletlink.signing.keys import SigningKey

__all__ = ["GENESIS", "ChainReader", "check_checkpoint", "digest", "snapshot", "verify_tables"]

GENESIS: Final = "0" * 64

_SNAPSHOT: Final = (
    "idempotency_key",
    "transfer_id",
    "bank_id",
    "request_hash",
    "state",
    "status",
    "transfer_json",
    "attempts",
    "created_at",
    "updated_at",
)
_EVENT: Final = ("bank_id", "event_id", "payload_hash", "received_at")

Row = tuple[Any, ...]
# (table, key) → (partition, seq, the row as the chain last saw it)
Latest = dict[tuple[str, str], tuple[str, int, Any]]


def snapshot(row: Row) -> dict[str, Any]:
    """A transfer row as its chain entries hold it (the request is chained once, by hash)."""
    values = (*row[:4], *row[5:9], utc_iso(row[9]), utc_iso(row[10]))
    return dict(zip(_SNAPSHOT, values, strict=True))


def digest(
    chain_key: bytes | None, prev_hash: str, where: tuple[str, int], key: str, kind: str, text: str
) -> str:
    """One link. The partition is in the header, so an entry cannot move between chains."""
    partition, seq = where
    header = json.dumps([partition, seq, key, kind])
    data = b"\n".join((prev_hash.encode(), header.encode(), text.encode()))
    if chain_key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(chain_key, data, hashlib.sha256).hexdigest()


def event_key(bank_id: str, event_id: str) -> str:
    # JSON keeps the pair unambiguous whatever characters the ids contain.
    return json.dumps([bank_id, event_id])


class ChainReader:
    """Walks every partition once; remembers each entry's hash for checkpoint checks."""

    def __init__(
        self,
        *,
        heads: list[Row],
        chain: Iterable[Row],
        load_checkpoint: Callable[[int], Row | None],
    ) -> None:
        # partition → (seq, hash, base_seq, base_hash, base_checkpoint)
        self.heads: dict[str, tuple[int, str, int, str, int | None]] = {
            row[0]: (int(row[1]), row[2], int(row[3]), row[4], row[5]) for row in heads
        }
        self.hashes: dict[str, dict[int, str]] = {}
        self._chain = chain
        self._load_checkpoint = load_checkpoint

    def walk(self, chain_key: bytes | None, checkpoint_key: SigningKey | None) -> Latest:
        latest: Latest = {}
        expected: dict[str, tuple[int, str]] = {}
        for partition, seq, key, kind, payload, prev, link in self._chain:
            if partition not in self.heads:
                raise JournalIntegrityError(f"chain partition {partition!r} has no head")
            if partition not in expected:
                base_seq, base_hash = self.heads[partition][2:4]
                expected[partition] = (base_seq + 1, base_hash)
                self.hashes[partition] = {base_seq: base_hash}
            want_seq, want_prev = expected[partition]
            where = f"partition {partition!r}: chain entry"
            if seq != want_seq:
                raise JournalIntegrityError(f"{where} {want_seq} is missing")
            if prev != want_prev:
                raise JournalIntegrityError(f"{where} {seq} does not link to entry {seq - 1}")
            computed = digest(chain_key, prev, (partition, seq), key, kind, payload)
            if not hmac.compare_digest(link, computed):
                raise JournalIntegrityError(f"{where} {seq} ({kind}) does not match its hash")
            table = "events" if kind == "event" else "transfers"
            latest[(table, key)] = (partition, seq, json.loads(payload)["row"])
            self.hashes[partition][seq] = link
            expected[partition] = (seq + 1, link)
        for partition, (seq, link, base_seq, base_hash, base_checkpoint) in self.heads.items():
            end_seq, end_hash = expected.get(partition, (base_seq + 1, base_hash))
            self.hashes.setdefault(partition, {base_seq: base_hash})
            if (end_seq - 1, end_hash) != (seq, link):
                raise JournalIntegrityError(
                    f"partition {partition!r}: the chain ends at entry {end_seq - 1} but its "
                    f"head says entry {seq}"
                )
            if base_seq:
                self._check_base(partition, base_seq, base_hash, base_checkpoint, checkpoint_key)
        return latest

    def _check_base(
        self,
        partition: str,
        base_seq: int,
        base_hash: str,
        checkpoint_id: int | None,
        key: SigningKey | None,
    ) -> None:
        """A pruned prefix is only as good as the signed checkpoint that says where it ended."""
        if key is None:
            raise ConfigurationError(
                "this journal has been pruned: verify() needs PostgresJournal(checkpoint_key=…)"
            )
        row = None if checkpoint_id is None else self._load_checkpoint(checkpoint_id)
        if row is None:
            raise JournalIntegrityError(
                f"partition {partition!r}: entries up to {base_seq} were removed without a "
                "checkpoint"
            )
        heads = Checkpoint(body=row[0], signature=row[1], kid=row[2]).verify(key)
        if heads.get(partition) != (base_seq, base_hash):
            raise JournalIntegrityError(
                f"partition {partition!r}: its pruned prefix does not match the checkpoint "
                "taken when it was pruned"
            )


def verify_tables(latest: Latest, transfers: list[Row], events: list[Row]) -> None:
    """Each row must equal its last chain entry, in its own partition; no entry lacks a row."""
    for row in transfers:
        key = row[0]
        if hashlib.sha256(row[4].encode()).hexdigest() != row[3]:
            raise JournalIntegrityError(f"row {key!r}: the request does not match its hash")
        _cross_check(latest, ("transfers", key), (row[11], row[12]), snapshot(row))
    for bank_id, event_id, payload_hash, received_at, partition, seq in events:
        values = (bank_id, event_id, payload_hash, utc_iso(received_at))
        event = dict(zip(_EVENT, values, strict=True))
        where = ("events", event_key(bank_id, event_id))
        _cross_check(latest, where, (partition, seq), event)
    if latest:
        (table, key), (partition, seq, _) = next(iter(latest.items()))
        raise JournalIntegrityError(
            f"partition {partition!r}: chain entry {seq} names {table} row {key!r}: it is gone"
        )


def _cross_check(
    latest: Latest, where: tuple[str, str], position: tuple[str, int], row: dict[str, Any]
) -> None:
    table, key = where
    entry = latest.pop(where, None)
    if entry is None:
        raise JournalIntegrityError(f"{table} row {key!r} has no chain entry")
    partition, seq, chained = entry
    if (partition, seq) != position or chained != row:
        raise JournalIntegrityError(
            f"{table} row {key!r} disagrees with its last chain entry ({partition!r}, {seq})"
        )


def check_checkpoint(
    reader: ChainReader, checkpoint: Checkpoint, key: SigningKey, journal: str
) -> None:
    """Every head a checkpoint holds must still be in the chain (or in its pruned prefix)."""
    heads = checkpoint.verify(key)
    if checkpoint.journal != journal:
        raise JournalIntegrityError(f"the checkpoint is of journal {checkpoint.journal!r}")
    for partition, (seq, link) in sorted(heads.items()):
        head = reader.heads.get(partition)
        if head is None:
            raise JournalIntegrityError(
                f"partition {partition!r} of the checkpoint is missing from the journal"
            )
        if seq > head[0]:
            raise JournalIntegrityError(
                f"partition {partition!r}: the checkpoint holds entry {seq} but the journal "
                f"ends at entry {head[0]}: newer entries were removed"
            )
        if seq < head[2]:
            continue  # pruned since; the prune checkpoint vouches for the prefix
        if reader.hashes[partition].get(seq) != link:
            raise JournalIntegrityError(
                f"partition {partition!r}: entry {seq} is not the one the checkpoint signed"
            )
