"""The outbox itself: enqueue in the wallet's transaction, drain exactly once, feed back.

One row per payout intent, keyed by its idempotency key, moving through these states:

``pending``  committed with the wallet's debit; never taken to the bank
``sending``  a drainer has taken it to the bank at least once and does not know the outcome
             yet (a crash, an unknown outcome, a bank that was down): the next drain calls
             ``Client.transfer`` again with the same key, and the journal resolves it
``awaiting`` the bank accepted it and has not decided: the next drain polls it
``done``     a final outcome was fed back to the wallet
``blocked``  needs a person (the journal holds this key for another request)

``applied`` lists the outcomes already fed back (``settled``, then maybe ``returned``). The
feedback is a compare-and-set on it, in the wallet's transaction together with the wallet's
own ledger entry, so each outcome reaches the wallet exactly once whatever crashes.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import attrs

from walletlink._redact import RedactingFilter
from walletlink.client import Client
from walletlink.errors import (
    BankRejectedError,
    IdempotencyMismatchError,
    UnknownOutcomeError,
    ValidationError,
    WalletLinkError,
)
from walletlink.journal import JournalState, transfer_from_dict, transfer_to_dict
from walletlink.models import Reason, ReasonCode, Transfer, TransferRequest, TransferStatus
from walletlink.outbox._db import CLAIM, SCHEMA, Db, Row, wrap

__all__ = [
    "DrainReport",
    "OnOutcome",
    "OutboxEntry",
    "Outcome",
    "drain",
    "enqueue",
    "entries",
    "install",
    "observe",
]

logger = logging.getLogger("walletlink.outbox")
# A logger's filters apply only to records logged on it, not to those its children
# propagate: the redaction filter on "walletlink" never sees this logger's records.
if not any(isinstance(f, RedactingFilter) for f in logger.filters):
    logger.addFilter(RedactingFilter())

_FED_BACK: Final = frozenset(
    {
        TransferStatus.SETTLED,
        TransferStatus.REJECTED,
        TransferStatus.CANCELLED,
        TransferStatus.RETURNED,
    }
)
_INSERT: Final = """INSERT INTO walletlink_outbox (idempotency_key, bank_id, request_hash,
        request_json, payout_id, state, lease_owner, lease_until, attempts, transfer_id,
        status, transfer_json, applied, last_error, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, 'pending', NULL, 0, 0, NULL, NULL, NULL, '', NULL, ?, ?)
    ON CONFLICT (idempotency_key) DO NOTHING"""
_SELECT: Final = """SELECT id, idempotency_key, bank_id, request_hash, request_json, payout_id,
        state, lease_owner, lease_until, attempts, transfer_id, status, transfer_json, applied,
        last_error
    FROM walletlink_outbox"""
_APPLY: Final = """UPDATE walletlink_outbox SET state = ?, status = ?, transfer_id = ?,
        transfer_json = ?, applied = ?, lease_owner = NULL, lease_until = ?, last_error = NULL,
        updated_at = ?
    WHERE id = ? AND applied = ?"""
_RELEASE: Final = """UPDATE walletlink_outbox SET state = ?, lease_owner = NULL,
        lease_until = ?, last_error = ?, updated_at = ?
    WHERE id = ? AND lease_owner = ? AND state IN ('pending', 'sending', 'awaiting')"""


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


@attrs.frozen(kw_only=True)
class OutboxEntry:
    """One row of the outbox, as stored."""

    id: int
    idempotency_key: str
    bank_id: str
    request_hash: str
    request_json: str
    payout_id: str | None
    state: str
    lease_owner: str | None
    lease_until: int
    attempts: int
    transfer_id: str | None
    status: TransferStatus | None
    transfer_json: str | None
    applied: tuple[str, ...]
    last_error: str | None

    @classmethod
    def from_row(cls, row: Row) -> OutboxEntry:
        (id_, key, bank, digest, request, payout, state, owner, until, attempts) = row[:10]
        transfer_id, status, transfer, applied, error = row[10:]
        return cls(
            id=int(id_),
            idempotency_key=key,
            bank_id=bank,
            request_hash=digest,
            request_json=request,
            payout_id=payout,
            state=state,
            lease_owner=owner,
            lease_until=int(until),
            attempts=int(attempts),
            transfer_id=transfer_id,
            status=None if status is None else TransferStatus(status),
            transfer_json=transfer,
            applied=tuple(a for a in applied.split(",") if a),
            last_error=error,
        )

    def request(self) -> TransferRequest:
        """The journalled request, rebuilt with its key: byte for byte what was enqueued."""
        rebuilt = TransferRequest.from_canonical(
            json.loads(self.request_json), self.idempotency_key
        )
        return attrs.evolve(rebuilt, payout_id=self.payout_id)

    def transfer(self) -> Transfer | None:
        return (
            None
            if self.transfer_json is None
            else transfer_from_dict(json.loads(self.transfer_json))
        )


@attrs.frozen(kw_only=True)
class Outcome:
    """A bank outcome of one payout, fed back to the wallet exactly once.

    ``status`` is ``SETTLED``, ``REJECTED``, ``CANCELLED`` or ``RETURNED``; ``refund_due``
    says whether the wallet must give the money back. ``transfer`` is ``None`` when the
    payout was refused before anything was sent (the adapter found it invalid).
    """

    entry_id: int
    bank_id: str
    payout_id: str | None
    request: TransferRequest
    status: TransferStatus
    reason: Reason | None
    transfer: Transfer | None

    @property
    def refund_due(self) -> bool:
        return self.status is not TransferStatus.SETTLED


#: ``on_outcome(conn, outcome)``: post the wallet's ledger entry on ``conn`` and do not
#: commit; the drainer commits it together with marking the outbox row.
OnOutcome = Callable[[Any, Outcome], None]


@attrs.frozen(kw_only=True)
class DrainReport:
    """What one :func:`drain` call did. ``outcomes`` are the ones it fed back."""

    claimed: int
    outcomes: tuple[Outcome, ...]
    awaiting: int
    retry_later: int
    blocked: int


def install(conn: Any) -> None:
    """Create the outbox table (``walletlink_outbox``) if it is missing; commit afterwards.

    Runs in the caller's transaction, so it can be part of the wallet's own migration.
    """
    db = wrap(conn)
    for statement in SCHEMA[db.dialect]:
        db.execute(statement)


def enqueue(
    conn: Any, bank_id: str, request: TransferRequest, *, now: datetime | None = None
) -> OutboxEntry:
    """Stage a payout in the caller's open transaction; nothing is sent.

    Commit it together with the wallet's debit: both or neither happen. The request needs
    the wallet's own identity (``payout_id``, ``end_to_end_id`` or ``idempotency_key``):
    enqueuing the same payout again, in a later transaction, is then a no-op returning the
    stored entry, and the same identity with a different request raises
    :class:`IdempotencyMismatchError`.
    """
    if not bank_id:
        raise ValidationError("an outbox entry needs a bank_id")
    if not request.has_caller_identity:
        raise ValidationError(
            "the outbox needs the wallet's own id of the payout (payout_id, end_to_end_id or "
            "idempotency_key), so that the same payout enqueued twice is one payout"
        )
    db = wrap(conn)
    stamp = (now or datetime.now(UTC)).astimezone(UTC).isoformat()
    key = request.idempotency_key
    db.execute(
        _INSERT,
        (
            key,
            bank_id,
            request.fingerprint(),
            request.canonical_json(),
            request.payout_id,
            stamp,
            stamp,
        ),
    )
    entry = _get(db, key)
    if entry is None:
        raise WalletLinkError("the outbox row vanished inside its own transaction")
    if entry.request_hash != request.fingerprint() or entry.bank_id != bank_id:
        raise IdempotencyMismatchError(
            "this payout id is already in the outbox for another request", bank_id=bank_id
        )
    return entry


def entries(conn: Any, *, state: str | None = None) -> list[OutboxEntry]:
    """Every outbox entry (or those in ``state``), oldest first."""
    db = wrap(conn)
    if state is None:
        rows, _ = db.execute(_SELECT + " ORDER BY id")
    else:
        rows, _ = db.execute(_SELECT + " WHERE state = ? ORDER BY id", (state,))
    return [OutboxEntry.from_row(row) for row in rows]


def _get(db: Db, key: str) -> OutboxEntry | None:
    rows, _ = db.execute(_SELECT + " WHERE idempotency_key = ?", (key,))
    return OutboxEntry.from_row(rows[0]) if rows else None


def observe(conn: Any, transfer: Transfer, on_outcome: OnOutcome) -> Outcome | None:
    """Apply a bank view learned elsewhere (a webhook, a later poll, a return) to its entry.

    Runs in the caller's transaction (commit afterwards); feeds back an outcome not fed back
    before and returns it, or returns ``None`` (no such entry, nothing new).
    """
    db = wrap(conn)
    entry = _get(db, transfer.idempotency_key)
    if entry is None or entry.bank_id != transfer.bank_id:
        return None
    return _apply(db, entry, transfer, on_outcome, next_poll=0, now=datetime.now(UTC))


def _apply(
    db: Db,
    entry: OutboxEntry,
    transfer: Transfer,
    on_outcome: OnOutcome,
    *,
    next_poll: int,
    now: datetime,
) -> Outcome | None:
    """Record the bank's view; feed back its outcome once. No commit: the caller's."""
    status = transfer.status
    if entry.status is not None and not entry.status.can_become(status):
        # A stale view (an old poll, a reordered webhook): a settled payout is not
        # "rejected" afterwards, and refunding it would pay the user twice.
        logger.info("outbox entry %d: ignored %s after %s", entry.id, status, entry.status)
        return None
    fresh = status in _FED_BACK and status.value not in entry.applied
    applied = (*entry.applied, status.value) if fresh else entry.applied
    state = "done" if status in _FED_BACK or entry.state == "done" else "awaiting"
    _, count = db.execute(
        _APPLY,
        (
            state,
            status.value,
            transfer.id,
            json.dumps(transfer_to_dict(transfer), sort_keys=True),
            ",".join(applied),
            next_poll,
            now.astimezone(UTC).isoformat(),
            entry.id,
            ",".join(entry.applied),
        ),
    )
    if count != 1 or not fresh:
        return None  # another drainer fed it back first, or there is nothing new
    outcome = Outcome(
        entry_id=entry.id,
        bank_id=entry.bank_id,
        payout_id=entry.payout_id,
        request=entry.request(),
        status=status,
        reason=transfer.reason,
        transfer=transfer,
    )
    on_outcome(db.conn, outcome)
    return outcome


@attrs.frozen(kw_only=True)
class _Drainer:
    client: Client
    db: Db
    on_outcome: OnOutcome
    clock: Callable[[], datetime]
    lease: int
    retry_after: int
    poll_after: int

    def claim(self, bank_id: str | None) -> tuple[OutboxEntry, str] | None:
        """Lease the oldest due entry in its own committed transaction."""
        token = uuid.uuid4().hex
        now = self.clock()
        at = _micros(now)
        self.db.begin_write()
        self.db.execute(
            CLAIM[self.db.dialect],
            (token, at + self.lease, now.isoformat(), at, bank_id, bank_id, at),
        )
        rows, _ = self.db.execute(_SELECT + " WHERE lease_owner = ?", (token,))
        self.db.commit()
        return (OutboxEntry.from_row(rows[0]), token) if rows else None

    def release(
        self, entry: OutboxEntry, token: str, state: str, delay: int, error: str | None
    ) -> None:
        now = self.clock()
        self.db.begin_write()
        self.db.execute(
            _RELEASE, (state, _micros(now) + delay, error, now.isoformat(), entry.id, token)
        )
        self.db.commit()

    def ask_bank(self, entry: OutboxEntry) -> Transfer:
        if entry.state == "awaiting" and entry.transfer_id is not None:
            return self.client.get_transfer(entry.transfer_id)
        # The same key every time: a crash or an unknown outcome is resolved by the journal
        # (looked up at the bank, resent under this key only if the bank never had it).
        return self.client.transfer(entry.bank_id, entry.request())

    def work(self, entry: OutboxEntry, token: str) -> tuple[str, Outcome | None]:
        try:
            transfer = self.ask_bank(entry)
        except UnknownOutcomeError:
            self.release(entry, token, "sending", self.retry_after, "UnknownOutcomeError")
            return "retry_later", None
        except IdempotencyMismatchError:
            logger.error("outbox entry %d: the journal holds its key for another request", entry.id)
            self.release(entry, token, "blocked", 0, "IdempotencyMismatchError")
            return "blocked", None
        except BankRejectedError:
            # The client journalled the refusal as a rejected transfer; feed that back.
            journalled = self.client.journal.get(entry.idempotency_key)
            if journalled is None or journalled.transfer is None:
                self.release(entry, token, entry.state, self.retry_after, "BankRejectedError")
                return "retry_later", None
            transfer = journalled.transfer
        except ValidationError as exc:
            if not self._never_sent(entry):
                self.release(entry, token, "blocked", 0, type(exc).__name__)
                return "blocked", None
            transfer = self._refused(entry, exc)
        except WalletLinkError as exc:
            logger.warning("outbox entry %d: %s, retrying later", entry.id, type(exc).__name__)
            self.release(entry, token, entry.state, self.retry_after, type(exc).__name__)
            return "retry_later", None
        return self.feed_back(entry, transfer)

    def feed_back(self, entry: OutboxEntry, transfer: Transfer) -> tuple[str, Outcome | None]:
        now = self.clock()
        self.db.begin_write()
        try:
            outcome = _apply(
                self.db,
                entry,
                transfer,
                self.on_outcome,
                next_poll=_micros(now) + self.poll_after,
                now=now,
            )
        except BaseException:
            self.db.rollback()
            raise
        self.db.commit()
        return ("awaiting" if transfer.status not in _FED_BACK else "done"), outcome

    def _never_sent(self, entry: OutboxEntry) -> bool:
        """Whether a validation failure means the bank never saw this payout.

        Validation is a pure function of the request, so a request failing it now failed it
        on every earlier attempt too; only a journal that knows of a bank answer or of an
        unknown outcome says otherwise (an adapter that changed its rules), and then a
        person must decide.
        """
        record = self.client.journal.get(entry.idempotency_key)
        return record is None or (
            record.state is JournalState.INTENT
            and record.transfer is None
            and record.status is TransferStatus.PENDING
        )

    def _refused(self, entry: OutboxEntry, exc: ValidationError) -> Transfer:
        """A payout the adapter refused before sending: a rejection the wallet refunds."""
        request = entry.request()
        now = self.clock()
        return Transfer(
            id=entry.transfer_id or f"wl_refused_{entry.id}",
            bank_id=entry.bank_id,
            bank_transfer_id=None,
            end_to_end_id=request.end_to_end_id,
            idempotency_key=request.idempotency_key,
            amount=request.amount,
            status=TransferStatus.REJECTED,
            reason=Reason(code=ReasonCode.OTHER, message=exc.message),
            created_at=now,
            updated_at=now,
        )


def drain(
    client: Client,
    conn_factory: Callable[[], Any],
    on_outcome: OnOutcome,
    *,
    bank_id: str | None = None,
    limit: int | None = None,
    lease: timedelta = timedelta(minutes=5),
    retry_after: timedelta = timedelta(seconds=30),
    poll_after: timedelta = timedelta(seconds=60),
    clock: Callable[[], datetime] | None = None,
) -> DrainReport:
    """Send every due outbox entry once through ``client.transfer`` and feed back outcomes.

    Opens one connection with ``conn_factory()`` and closes it at the end. Each entry is
    leased for ``lease`` in its own short transaction (on PostgreSQL with ``FOR UPDATE SKIP
    LOCKED``, so drainers in many processes split the work), sent with no transaction open,
    then marked in one transaction together with ``on_outcome`` for a final outcome. An
    entry whose outcome is unknown stays ``sending`` and is retried after ``retry_after``
    *under the same key*, which the journal resolves by lookup; one the bank has accepted but
    not decided is polled after ``poll_after``. A failing ``on_outcome`` rolls back its own
    transaction and is raised: the entry is fed back again once its lease runs out.
    """
    conn = conn_factory()
    try:
        drainer = _Drainer(
            client=client,
            db=wrap(conn),
            on_outcome=on_outcome,
            clock=clock or client.clock,
            lease=int(lease.total_seconds() * 1_000_000),
            retry_after=int(retry_after.total_seconds() * 1_000_000),
            poll_after=int(poll_after.total_seconds() * 1_000_000),
        )
        return _drain_loop(drainer, bank_id, limit)
    finally:
        conn.close()


def _drain_loop(drainer: _Drainer, bank_id: str | None, limit: int | None) -> DrainReport:
    counts = {"claimed": 0, "awaiting": 0, "retry_later": 0, "blocked": 0}
    outcomes: list[Outcome] = []
    for entry, token in _claims(drainer, bank_id, limit):
        counts["claimed"] += 1
        result, outcome = drainer.work(entry, token)
        if result in counts:
            counts[result] += 1
        if outcome is not None:
            outcomes.append(outcome)
    return DrainReport(outcomes=tuple(outcomes), **counts)


def _claims(
    drainer: _Drainer, bank_id: str | None, limit: int | None
) -> Iterator[tuple[OutboxEntry, str]]:
    seen: set[int] = set()
    while limit is None or len(seen) < limit:
        claimed = drainer.claim(bank_id)
        if claimed is None or claimed[0].id in seen:
            # Nothing due, or the clock stands still and only entries this call already
            # worked on are due again: leave them to the next call.
            if claimed is not None:
                entry, token = claimed
                drainer.release(entry, token, entry.state, 0, entry.last_error)
            return
        seen.add(claimed[0].id)
        yield claimed
