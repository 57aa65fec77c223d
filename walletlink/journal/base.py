"""The journal interface: what a durable idempotency store must do, and its record type.

A journal row is written *before* the first byte of a transfer leaves the process, so that a
crash, a timeout or a lost reply always leaves a trace that says "this key may have been sent:
look it up, never send it again under a new key". See ``docs/idempotency.md``.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from walletlink._redact import redact_text
from walletlink.accounts import mask
from walletlink.models import (
    NextAction,
    Reason,
    ReasonCode,
    Transfer,
    TransferRequest,
    TransferStatus,
)
from walletlink.money import Money

__all__ = [
    "Journal",
    "JournalRecord",
    "JournalState",
    "new_transfer_id",
    "transfer_from_dict",
    "transfer_to_dict",
]


class JournalState(enum.StrEnum):
    """How far the exchange with the bank got. It only moves forward."""

    INTENT = "intent"  # recorded, nothing sent yet (or a crash before sending)
    SENT = "sent"  # at least one attempt may have reached the bank
    DONE = "done"  # the bank answered; ``JournalRecord.transfer`` holds its view

    def advanced_to(self, other: JournalState) -> JournalState:
        """The later of the two states: a late ``mark_sent`` never undoes a bank answer."""
        return max(self, other, key=_STATE_ORDER.__getitem__)


_STATE_ORDER = {JournalState.INTENT: 0, JournalState.SENT: 1, JournalState.DONE: 2}


def new_transfer_id() -> str:
    """A walletlink transfer id: ``wl_`` and a random UUID in hex."""
    return f"wl_{uuid.uuid4().hex}"


def _masked(value: Any) -> Any:
    """The canonical request with what a log must not show masked: account values (the
    ``{"scheme", "value"}`` dicts of :func:`~walletlink.models.account_to_dict`) to their
    last four, free text by pattern, and metadata (wallet ids, anything) to its keys."""
    if isinstance(value, Mapping):
        if set(value) == {"scheme", "value"}:
            return {"scheme": value["scheme"], "value": mask(str(value["value"]))}
        return {
            key: f"<keys: {', '.join(sorted(item))}>"
            if key == "metadata" and isinstance(item, Mapping)
            else _masked(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return redact_text(value) if isinstance(value, str) else value


def _request_repr(request: Mapping[str, Any]) -> str:
    return repr(_masked(request))


@attrs.frozen(kw_only=True)
class JournalRecord:
    """One logical transfer, as the journal knows it."""

    idempotency_key: str
    request_hash: str  # TransferRequest.fingerprint()
    bank_id: str
    transfer_id: str  # walletlink id, e.g. "wl_<uuid hex>"
    request: Mapping[str, Any] = attrs.field(repr=_request_repr)  # TransferRequest.canonical()
    state: JournalState
    status: TransferStatus  # PENDING until the bank answers; UNKNOWN after an unknown outcome
    transfer: Transfer | None  # last accepted bank view
    attempts: int
    created_at: datetime
    updated_at: datetime

    def transfer_request(self) -> TransferRequest:
        """The original request, rebuilt with its key: what a resumed send must send again."""
        return TransferRequest.from_canonical(self.request, self.idempotency_key)

    @property
    def outcome_known(self) -> bool:
        """Whether the bank's answer is known (the opposite of :meth:`Journal.unresolved`)."""
        return self.state is JournalState.DONE and self.status is not TransferStatus.UNKNOWN


@runtime_checkable
class Journal(Protocol):
    """A durable idempotency store and outbox for transfers.

    Every mutation also appends an entry to a hash chain that :meth:`verify` can check.
    Methods that take a key raise ``KeyError`` when the key was never recorded.
    """

    def record_intent(
        self, *, bank_id: str, request: TransferRequest, transfer_id: str, now: datetime
    ) -> tuple[JournalRecord, bool]:
        """Atomically claim the key (unique insert) BEFORE anything is sent.

        Returns ``(record, created)``. The same key with the same fingerprint and bank gives
        ``(existing record, False)``; the same key with a different fingerprint or bank raises
        :class:`~walletlink.errors.IdempotencyMismatchError` and writes nothing.
        """
        ...

    def mark_sent(self, idempotency_key: str, *, now: datetime) -> JournalRecord:
        """State ``SENT`` (unless already ``DONE``) and one more attempt counted."""
        ...

    def record_transfer(self, transfer: Transfer, *, now: datetime) -> JournalRecord:
        """Store the bank's view (found by ``transfer.idempotency_key``); state ``DONE``.

        The status only moves forward: when the stored status cannot become
        ``transfer.status``, the update is chained as ``ignored_stale`` and the stored record
        is returned unchanged.
        """
        ...

    def mark_unknown(self, idempotency_key: str, *, now: datetime) -> JournalRecord:
        """Status ``UNKNOWN`` (state stays as it is); ignored for a final bank status."""
        ...

    def get(self, idempotency_key: str) -> JournalRecord | None: ...

    def get_by_transfer_id(self, transfer_id: str) -> JournalRecord | None: ...

    def unresolved(
        self, bank_id: str | None = None, *, before: datetime | None = None
    ) -> list[JournalRecord]:
        """Records whose outcome is not known, oldest first.

        That is status ``UNKNOWN``, or state ``INTENT``/``SENT`` with no bank answer (a crash
        between recording and sending, or during sending). ``before`` keeps only records
        last touched before that time, so recovery can skip transfers still in flight.
        """
        ...

    def claim_unresolved(
        self, bank_id: str | None = None, *, now: datetime, limit: int | None = None
    ) -> list[JournalRecord]:
        """Lease the :meth:`unresolved` records no other claimant holds, oldest first.

        What recovery on several servers (or processes) sharing one journal calls: each
        record goes to one claimant until its lease expires (the journal's ``lease``
        duration after ``now``), so concurrent ``resolve_unknown()`` calls resolve it once,
        and a crashed claimant's records are taken over once their leases expire. Records
        this journal's own ``owner`` holds are returned again. ``limit`` caps how many.
        """
        ...

    def records(self, bank_id: str | None = None) -> Iterator[JournalRecord]:
        """Every record, oldest first."""
        ...

    def record_event(
        self, *, bank_id: str, event_id: str, payload_hash: str, now: datetime
    ) -> bool:
        """De-duplicate notifications: True the first time ``(bank_id, event_id)`` is seen."""
        ...

    def verify(self) -> None:
        """Recompute the hash chain and cross-check the rows against it.

        Raises :class:`~walletlink.errors.JournalIntegrityError` naming the first bad entry,
        or the first row that disagrees with the chain's last entry for its key.
        """
        ...

    def close(self) -> None: ...


# -- serialisation -------------------------------------------------------------------------
# Money travels as decimal strings and datetimes as ISO 8601 in UTC: JSON that any other
# language (or a person with the sqlite3 shell) can read back without loss.


def utc_iso(moment: datetime) -> str:
    """ISO 8601 in UTC; naive datetimes are refused because their zone is a guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("journal timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat()


def _optional_iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    # A bank's own timestamps are stored as given when naive: converting would invent a zone.
    if moment.tzinfo is None:
        return moment.isoformat()
    return moment.astimezone(UTC).isoformat()


def _optional_datetime(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def transfer_to_dict(transfer: Transfer) -> dict[str, Any]:
    """A :class:`Transfer` as plain JSON-able data; ``transfer_from_dict`` reverses it."""
    reason = transfer.reason
    return {
        "id": transfer.id,
        "bank_id": transfer.bank_id,
        "bank_transfer_id": transfer.bank_transfer_id,
        "end_to_end_id": transfer.end_to_end_id,
        "idempotency_key": transfer.idempotency_key,
        "amount": transfer.amount.to_decimal_string(),
        "currency": transfer.amount.currency,
        "status": transfer.status.value,
        "reason": None
        if reason is None
        else {"code": reason.code.value, "raw_code": reason.raw_code, "message": reason.message},
        "next_action": None if transfer.next_action is None else transfer.next_action.to_dict(),
        "created_at": _optional_iso(transfer.created_at),
        "updated_at": _optional_iso(transfer.updated_at),
    }


def transfer_from_dict(raw: Mapping[str, Any]) -> Transfer:
    reason = raw.get("reason")
    next_action = raw.get("next_action")
    return Transfer(
        id=raw["id"],
        bank_id=raw["bank_id"],
        bank_transfer_id=raw["bank_transfer_id"],
        end_to_end_id=raw["end_to_end_id"],
        idempotency_key=raw["idempotency_key"],
        amount=Money(raw["amount"], raw["currency"]),
        status=TransferStatus(raw["status"]),
        reason=None
        if reason is None
        else Reason(ReasonCode(reason["code"]), reason["raw_code"], reason["message"]),
        next_action=None if next_action is None else NextAction.from_dict(next_action),
        created_at=_optional_datetime(raw.get("created_at")),
        updated_at=_optional_datetime(raw.get("updated_at")),
    )
