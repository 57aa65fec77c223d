"""The client operations as effect generators (see :mod:`walletlink._core`).

The rule that shapes :meth:`Operations.transfer_op`: the intent (idempotency key + request
hash) is in the journal before the first byte is sent, every retry reuses the key and the
exact bytes, and a write whose outcome is unknown is journalled ``UNKNOWN`` and resolved
later by looking it up, never by sending it under a new key.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypeVar, cast

import attrs

from walletlink._core import Bank, Core, Op, ResolveReport, Seen, Store, annotate, log_level
from walletlink._crosscheck import check_event, check_transfer
from walletlink._transport import logger
from walletlink.accounts import AccountId
from walletlink.adapters.base import (
    AccountInformation,
    BatchPayments,
    Cancellation,
    Flow,
    Notifications,
    Page,
    Payments,
    Statements,
    TransferRef,
)
from walletlink.errors import (
    BankRejectedError,
    BankUnavailableError,
    ConfigurationError,
    ConnectError,
    IdempotencyMismatchError,
    ProtocolError,
    SignatureError,
    TransferNotFoundError,
    TransportTimeoutError,
    UnknownOutcomeError,
    ValidationError,
    WalletLinkError,
)
from walletlink.journal import JournalRecord, new_transfer_id
from walletlink.models import (
    Balance,
    Capability,
    Event,
    Reason,
    ReasonCode,
    Transaction,
    Transfer,
    TransferRequest,
    TransferStatus,
)

__all__ = ["Operations"]

T = TypeVar("T")


def _store(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Store:
    return Store(call, args, kwargs)


def _one(flow: Flow[Transfer]) -> Flow[list[Transfer]]:
    """A one-transfer flow as a batch flow of one."""
    return [(yield from flow)]


def _pair(
    records: Sequence[JournalRecord],
    requests: Sequence[TransferRequest],
    transfers: Sequence[Transfer],
) -> list[tuple[JournalRecord, TransferRequest, Transfer]]:
    """Each intent with the bank's answer about it, for the cross-check.

    Answers are matched by idempotency key when their keys are exactly the intents' keys,
    else by position, so that the cross-check names the field that disagrees.
    """
    if len(transfers) != len(records):
        raise ProtocolError(f"the bank answered for {len(transfers)} of {len(records)} transfers")
    by_key = {transfer.idempotency_key: transfer for transfer in transfers}
    if set(by_key) == {record.idempotency_key for record in records}:
        ordered = [by_key[record.idempotency_key] for record in records]
    else:
        ordered = list(transfers)
    return list(zip(records, requests, ordered, strict=True))


def _payments(bank: Bank) -> Payments:
    # The capability check has already run; the cast only tells the type checker.
    return cast(Payments, bank.adapter)


def _ref(record: JournalRecord) -> TransferRef:
    return TransferRef(
        transfer_id=record.transfer_id,
        bank_transfer_id=record.transfer.bank_transfer_id if record.transfer else None,
        idempotency_key=record.idempotency_key,
    )


class Operations(Core):
    """Every client verb as an :data:`~walletlink._core.Op`; the clients drive them."""

    # -- payments ---------------------------------------------------------------------------

    def transfer_op(self, bank_id: str, request: TransferRequest) -> Op[Transfer]:
        bank = self._require(bank_id, Capability.PAYMENTS)
        self._check_identity([request])
        yield from self._validate(bank, [request], bank.adapter.validate, request)
        record, created = yield _store(
            self.journal.record_intent,
            bank_id=bank_id,
            request=request,
            transfer_id=new_transfer_id(),
            now=self.clock(),
        )
        if not created:
            if record.transfer is not None and record.status is not TransferStatus.UNKNOWN:
                return cast(Transfer, record.transfer)
            return (yield from self._resolve(bank, record))
        return (yield from self._send_transfer(bank, record, request))

    def _check_identity(self, requests: Sequence[TransferRequest]) -> None:
        if self.require_caller_ids and not all(r.has_caller_identity for r in requests):
            raise ValidationError(
                "this client requires the wallet's own id on every transfer "
                "(payout_id, end_to_end_id or idempotency_key): a random key pays twice "
                "when the request is built again after a crash"
            )

    def _send_transfer(
        self, bank: Bank, record: JournalRecord, request: TransferRequest | None = None
    ) -> Op[Transfer]:
        # The journalled request is the source of truth; the caller's object is only a
        # shortcut that saves re-parsing it (the journal has checked both hash alike).
        request = request or record.transfer_request()
        if Capability.BATCH_PAYMENTS in bank.adapter.capabilities:
            # File-based adapters write the journalled intent time into the file, so that a
            # resend of this intent is the very same file (see BatchPayments).
            return (yield from self._send_batch(bank, [record], [request]))[0]
        flow = _payments(bank).create_transfer(request, record.transfer_id)
        return (yield from self._journal_outcome(bank, [record], [request], _one(flow)))[0]

    def transfer_batch_op(
        self, bank_id: str, requests: Sequence[TransferRequest]
    ) -> Op[list[Transfer]]:
        bank = self._require(bank_id, Capability.BATCH_PAYMENTS)
        if not requests:
            raise ValidationError("a batch needs at least one transfer")
        self._check_identity(requests)
        if len({request.idempotency_key for request in requests}) != len(requests):
            raise ValidationError("idempotency keys must be unique within a batch")
        # Every member, and the batch as one write, before any member is journalled.
        yield from self._validate(bank, requests, bank.adapter.validate_batch, requests)
        for request in requests:
            # Refuse a reused key before journalling any member: nothing half-recorded.
            known = yield _store(self.journal.get, request.idempotency_key)
            if known is not None and (
                known.request_hash != request.fingerprint() or known.bank_id != bank_id
            ):
                raise IdempotencyMismatchError(
                    "an idempotency key of this batch was used for another request",
                    bank_id=bank_id,
                )
        now = self.clock()
        results: dict[str, Transfer] = {}
        to_send: list[tuple[JournalRecord, TransferRequest]] = []
        for request in requests:
            record, created = yield _store(
                self.journal.record_intent,
                bank_id=bank_id,
                request=request,
                transfer_id=new_transfer_id(),
                now=now,
            )
            if created:
                to_send.append((record, request))
            elif record.transfer is not None and record.status is not TransferStatus.UNKNOWN:
                results[request.idempotency_key] = record.transfer
            else:
                found = yield from self._find_at_bank(bank, record, request)
                if found is None:
                    to_send.append((record, request))
                else:
                    results[request.idempotency_key] = found
        if to_send:
            records, pending = [r for r, _ in to_send], [q for _, q in to_send]
            for transfer in (yield from self._send_batch(bank, records, pending)):
                results[transfer.idempotency_key] = transfer
        return [results[request.idempotency_key] for request in requests]

    def _validate(
        self,
        bank: Bank,
        requests: Sequence[TransferRequest],
        check: Callable[[T], None],
        subject: T,
    ) -> Op[None]:
        """The adapter's ``validate`` before the journal: a request the bank's wire cannot
        carry leaves no row behind. Requests already journalled were accepted when they
        were first sent; a stricter check since (an upgrade) must not keep them from being
        returned or resolved, so the refusal only stands when one of them is new."""
        try:
            check(subject)
        except ValidationError:
            for request in requests:
                if (yield _store(self.journal.get, request.idempotency_key)) is None:
                    raise
            logger.info("a journalled transfer at %s no longer validates", bank.config.bank_id)

    def _find_at_bank(
        self, bank: Bank, record: JournalRecord, request: TransferRequest
    ) -> Op[Transfer | None]:
        ref = TransferRef(
            transfer_id=record.transfer_id,
            idempotency_key=record.idempotency_key,
            end_to_end_id=request.end_to_end_id,
        )
        flow = _payments(bank).find_transfer(ref, request)
        found = yield from self._trusted(bank, record, request, flow)
        if found is None:
            return None
        return (yield from self._record(found))

    def _record(self, transfer: Transfer) -> Op[Transfer]:
        """Journal the bank's view; the journalled transfer (it never moves backwards)."""
        stored = yield _store(self.journal.record_transfer, transfer, now=self.clock())
        return cast(Transfer, stored.transfer or transfer)

    def _trusted(
        self,
        bank: Bank,
        record: JournalRecord,
        request: TransferRequest,
        flow: Flow[Transfer] | Flow[Transfer | None],
    ) -> Op[Transfer | None]:
        """Run a lookup, get or cancel flow about one journalled transfer; its answer, once
        it is known to be about that transfer.

        A reply that is malformed or disagrees with the intent (another key, amount,
        currency, end-to-end id...) leaves the transfer ``UNKNOWN`` for a person to look at
        and raises the :class:`ProtocolError`; no other journal row is touched.
        """
        seen = Seen(transfer_id=record.transfer_id)
        try:
            reply: Transfer | None = yield from self._run(bank, flow, seen)
            if reply is not None:
                check_transfer(
                    reply, request, transfer_id=record.transfer_id, bank_id=record.bank_id
                )
        except ProtocolError as exc:
            annotate(exc, bank.config.bank_id, seen.request_id)
            yield _store(self.journal.mark_unknown, record.idempotency_key, now=self.clock())
            logger.warning(
                "transfer %s at %s: untrusted reply, left unknown: %s",
                record.transfer_id,
                record.bank_id,
                exc.message,
            )
            raise
        return reply

    def _send_batch(
        self, bank: Bank, records: Sequence[JournalRecord], requests: Sequence[TransferRequest]
    ) -> Op[list[Transfer]]:
        """Drive one ``create_transfers`` flow for journalled intents; journal each answer."""
        # The earliest intent time: the same intents always make the same file.
        created_at = min(record.created_at for record in records)
        flow = cast(BatchPayments, bank.adapter).create_transfers(
            requests, [record.transfer_id for record in records], created_at
        )
        return (yield from self._journal_outcome(bank, records, requests, flow))

    def _journal_outcome(
        self,
        bank: Bank,
        records: Sequence[JournalRecord],
        requests: Sequence[TransferRequest],
        flow: Flow[list[Transfer]],
    ) -> Op[list[Transfer]]:
        """Run one write for journalled intents and journal what came of it.

        * nothing reached the bank (``ConnectError``): the intents stay open, and the same
          call or :meth:`resolve_unknown` completes them under the same keys;
        * the bank may have executed it (timeout, dropped connection, garbled reply, 5xx
          after every retry, 409 still in flight): every intent becomes ``UNKNOWN``;
        * the bank refused the request itself: every intent is journalled ``REJECTED``;
        * the reply is not about these intents (another key, amount, currency, end-to-end
          id): every intent of this write becomes ``UNKNOWN``, nothing else is touched.
        """
        keys = [record.idempotency_key for record in records]
        seen = Seen(transfer_id=records[0].transfer_id if len(records) == 1 else None)
        try:
            transfers = yield from self._run(bank, flow, seen)
            for record, request, transfer in _pair(records, requests, transfers):
                check_transfer(
                    transfer, request, transfer_id=record.transfer_id, bank_id=record.bank_id
                )
        except ConnectError:
            raise
        except (TransportTimeoutError, ProtocolError, BankUnavailableError) as exc:
            annotate(exc, bank.config.bank_id, seen.request_id)
            raise (yield from self._unknown(bank, keys, exc)) from exc
        except SignatureError as exc:
            # A 2xx reply whose signature fails may still be the bank's answer that it did
            # execute the write (tampered in transit, a key rotated early): unknown, never
            # refused. A refusal of our own signature comes as a 4xx and stays an error.
            if exc.http_status is not None and 200 <= exc.http_status < 300:
                raise (yield from self._unknown(bank, keys, exc)) from exc
            raise
        except BankRejectedError as exc:
            if exc.http_status == 409:
                raise (yield from self._unknown(bank, keys, exc)) from exc
            for record in records:
                yield from self._record_refusal(record, exc)
            raise
        recorded: list[Transfer] = []
        for transfer in transfers:
            recorded.append((yield from self._record(transfer)))
        return recorded

    def _unknown(
        self, bank: Bank, keys: Sequence[str], cause: WalletLinkError
    ) -> Op[UnknownOutcomeError]:
        """Journal every key ``UNKNOWN``; the error to raise for the write they shared."""
        for key in keys:
            yield _store(self.journal.mark_unknown, key, now=self.clock())
        what = "this transfer" if len(keys) == 1 else f"these {len(keys)} transfers"
        message = f"the bank may have executed {what}; resolve with resolve_unknown()"
        if isinstance(cause, ProtocolError):
            # Say what was wrong with the reply: the field, never its value.
            message = f"{message} ({cause.message})"
        return UnknownOutcomeError(
            message,
            idempotency_key=keys[0] if len(keys) == 1 else None,
            bank_id=bank.config.bank_id,
            request_id=cause.request_id,
            http_status=cause.http_status,
        )

    def _record_refusal(self, record: JournalRecord, exc: BankRejectedError) -> Op[None]:
        """The bank refused the request outright: journal it as a rejected transfer."""
        request = record.transfer_request()
        try:
            code = ReasonCode(exc.code)
        except ValueError:
            code = ReasonCode.OTHER
        now = self.clock()
        rejected = Transfer(
            id=record.transfer_id,
            bank_id=record.bank_id,
            bank_transfer_id=None,
            end_to_end_id=request.end_to_end_id,
            idempotency_key=request.idempotency_key,
            amount=request.amount,
            status=TransferStatus.REJECTED,
            reason=Reason(code=code, raw_code=exc.raw_code, message=exc.message),
            created_at=now,
            updated_at=now,
        )
        yield _store(self.journal.record_transfer, rejected, now=now)

    def _resolve(self, bank: Bank, record: JournalRecord) -> Op[Transfer]:
        """Settle an unknown outcome by lookup; resend only under the same key if absent."""
        request = record.transfer_request()
        found = yield from self._find_at_bank(bank, record, request)
        if found is None:
            # The bank never executed it. Resending under the SAME key is safe: if a lost
            # attempt surfaces late, the bank's idempotency store folds the two into one.
            return (yield from self._send_transfer(bank, record, request))
        return found

    def _record_for(self, transfer_id: str) -> Op[tuple[Bank, JournalRecord]]:
        record = yield _store(self.journal.get_by_transfer_id, transfer_id)
        if record is None:
            raise TransferNotFoundError(f"no transfer {transfer_id!r} in the journal")
        return self._bank(record.bank_id), record

    def get_transfer_op(self, transfer_id: str) -> Op[Transfer]:
        bank, record = yield from self._record_for(transfer_id)
        self._require(record.bank_id, Capability.PAYMENTS)
        if record.transfer is None or record.transfer.bank_transfer_id is None:
            return (yield from self._resolve(bank, record))
        request = record.transfer_request()
        flow = _payments(bank).get_transfer(_ref(record), request)
        fresh = yield from self._trusted(bank, record, request, flow)
        assert fresh is not None  # get_transfer always ends with the bank's answer
        return (yield from self._record(fresh))

    def cancel_transfer_op(self, transfer_id: str) -> Op[Transfer]:
        bank, record = yield from self._record_for(transfer_id)
        self._require(record.bank_id, Capability.CANCEL)
        request = record.transfer_request()
        flow = cast(Cancellation, bank.adapter).cancel_transfer(_ref(record), request)
        cancelled = yield from self._trusted(bank, record, request, flow)
        assert cancelled is not None  # cancel_transfer always ends with the bank's answer
        return (yield from self._record(cancelled))

    def resolve_unknown_op(self, bank_id: str | None) -> Op[ResolveReport]:
        resolved: list[Transfer] = []
        unresolved: list[str] = []
        errors: Counter[str] = Counter()
        # Claimed, not just listed: several servers sharing a journal each take a leased
        # share, so every record is resolved once; a crashed server's leases expire.
        claimed = yield _store(self._claim, bank_id, self.clock())
        for record in claimed:
            try:
                resolved.append((yield from self._resolve(self._bank(record.bank_id), record)))
            except Exception as exc:  # one record must never stop the rest
                errors[type(exc).__name__] += 1
                settled = yield from self._settled(record)
                if settled is not None:
                    resolved.append(settled)  # e.g. the resend was refused outright
                    continue
                unresolved.append(record.transfer_id)
                logger.warning(
                    "transfer %s at %s still unresolved: %s",
                    record.transfer_id,
                    record.bank_id,
                    type(exc).__name__,
                )
        report = ResolveReport(resolved, unresolved=unresolved, errors=errors)
        logger.log(
            log_level(bool(unresolved)),
            "resolve_unknown: %d resolved, %d still unresolved, errors: %s",
            len(report),
            len(unresolved),
            ", ".join(f"{name}={count}" for name, count in sorted(errors.items())) or "none",
        )
        return report

    def _claim(self, bank_id: str | None, now: datetime) -> list[JournalRecord]:
        # Read in full where the journal runs (a worker thread, for the async client).
        return list(self.journal.claim_unresolved(bank_id, now=now))

    def _settled(self, record: JournalRecord) -> Op[Transfer | None]:
        """The journalled answer for ``record`` if a failed resolve still settled it."""
        try:
            now = yield _store(self.journal.get, record.idempotency_key)
        except Exception:  # a failing journal read: unresolved
            return None
        if now is not None and now.outcome_known and now.transfer is not None:
            return cast(Transfer, now.transfer)
        return None

    # -- account information ----------------------------------------------------------------

    def balances_op(self, bank_id: str, account: AccountId) -> Op[list[Balance]]:
        bank = self._require(bank_id, Capability.ACCOUNT_INFORMATION)
        flow = cast(AccountInformation, bank.adapter).balances(account)
        return (yield from self._run(bank, flow))

    def _check_range(self, bank_id: str, date_from: date, date_to: date) -> Bank:
        bank = self._require(bank_id, Capability.ACCOUNT_INFORMATION)
        if date_to < date_from:
            raise ConfigurationError("date_to is before date_from")
        return bank

    def page_op(
        self, bank: Bank, account: AccountId, dates: tuple[date, date], cursor: str | None
    ) -> Op[Page[Transaction]]:
        flow = cast(AccountInformation, bank.adapter).transactions_page(
            account, dates[0], dates[1], cursor
        )
        return (yield from self._run(bank, flow))

    @staticmethod
    def _next_cursor(bank: Bank, page: Page[Transaction], seen: set[str]) -> str | None:
        """The cursor of the page after ``page``; a loop in the bank's links is an error."""
        cursor = page.next_cursor
        if cursor is not None:
            if cursor in seen:
                raise ProtocolError("the bank's pagination loops", bank_id=bank.config.bank_id)
            seen.add(cursor)
        return cursor

    def statement_op(
        self, bank_id: str, account: AccountId, day: date, kind: str | None
    ) -> Op[bytes]:
        bank = self._require(bank_id, Capability.STATEMENTS)
        options = {} if kind is None else {"kind": kind}
        flow = cast(Statements, bank.adapter).statement(account, day, **options)
        return (yield from self._run(bank, flow))

    # -- notifications ----------------------------------------------------------------------

    def notification_op(self, bank_id: str, headers: Mapping[str, str], body: bytes) -> Op[Event]:
        bank = self._require(bank_id, Capability.NOTIFICATIONS)
        now = self.clock()
        event: Event = cast(Notifications, bank.adapter).parse_notification(headers, body, now)
        record = yield from self._event_record(bank_id, event, now)
        digest = hashlib.sha256(body).hexdigest()
        fresh = yield _store(
            self.journal.record_event,
            bank_id=bank_id,
            event_id=event.id,
            payload_hash=digest,
            now=now,
        )
        if not fresh:
            return attrs.evolve(event, duplicate=True)
        if event.status is None or event.idempotency_key is None:
            return event
        if record is None:
            logger.info("event %s is about a transfer this journal does not hold", event.id)
            return event
        base = record.transfer or Transfer(
            id=record.transfer_id,
            bank_id=bank_id,
            bank_transfer_id=event.bank_transfer_id,
            end_to_end_id=record.transfer_request().end_to_end_id,
            idempotency_key=record.idempotency_key,
            amount=record.transfer_request().amount,
            status=record.status,
        )
        updated = attrs.evolve(
            base,
            status=event.status,
            reason=event.reason or base.reason,
            bank_transfer_id=base.bank_transfer_id or event.bank_transfer_id,
            updated_at=event.occurred_at or now,
        )
        yield _store(self.journal.record_transfer, updated, now=now)
        return attrs.evolve(event, transfer_id=record.transfer_id)

    def _event_record(self, bank_id: str, event: Event, now: datetime) -> Op[JournalRecord | None]:
        """The journalled transfer an event updates, once the event is known to agree with
        it. Checked before the event id is recorded, so a redelivery is checked again."""
        if event.status is None or event.idempotency_key is None:
            return None
        record = yield _store(self.journal.get, event.idempotency_key)
        if record is None or record.bank_id != bank_id:
            return None
        try:
            check_event(event, record.transfer_request(), bank_id=bank_id)
        except ProtocolError:
            # The bank contradicts itself about this transfer: a person must look.
            yield _store(self.journal.mark_unknown, record.idempotency_key, now=now)
            logger.warning("event %s contradicts transfer %s", event.id, record.transfer_id)
            raise
        return cast(JournalRecord, record)

    def notification_ack(self, bank_id: str, event: Event) -> tuple[int, Mapping[str, str], bytes]:
        """The exact HTTP answer the bank expects for a handled notification."""
        bank = self._require(bank_id, Capability.NOTIFICATIONS)
        ack: tuple[int, Mapping[str, str], bytes] = cast(
            Notifications, bank.adapter
        ).notification_ack(event)
        return ack
