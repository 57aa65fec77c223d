"""The walletlink client: one object in front of every bank.

The client owns everything adapters don't: the HTTP session, signing hooks, retries, the
retry budget and circuit breaker of each bank, the journal, logging and observability
hooks. It drives each adapter flow (see :mod:`walletlink.adapters.base`) request by request.

The rule that shapes :meth:`Client.transfer`: the intent (idempotency key + request hash) is
in the journal before the first byte is sent, every retry reuses the key and the exact
bytes, and a write whose outcome is unknown is journalled ``UNKNOWN`` and resolved later by
looking it up, never by sending it under a new key.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any, TypeVar, cast

import attrs
import requests

from walletlink._crosscheck import check_event, check_transfer
from walletlink._redact import redact_url
from walletlink._retry import CircuitBreaker, RetryBudget, RetryEvent, RetryPolicy, RetrySignal
from walletlink._transport import Transport, logger
from walletlink.accounts import AccountId
from walletlink.adapters.base import (
    AccountInformation,
    Adapter,
    BatchPayments,
    Cancellation,
    Flow,
    Notifications,
    Payments,
    RequestSigner,
    ResponseVerifier,
    Statements,
    TransferRef,
)
from walletlink.adapters.registry import get_adapter_class
from walletlink.config import BankConfig
from walletlink.errors import (
    BankRejectedError,
    BankUnavailableError,
    ConfigurationError,
    ConnectError,
    IdempotencyMismatchError,
    ProtocolError,
    RateLimitedError,
    SignatureError,
    TransferNotFoundError,
    TransportTimeoutError,
    UnknownOutcomeError,
    UnsupportedOperationError,
    ValidationError,
    WalletLinkError,
)
from walletlink.http import PreparedRequest, RawResponse
from walletlink.journal import Journal, JournalRecord, MemoryJournal, new_transfer_id
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

__all__ = ["Client", "Hooks", "ResolveReport"]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class Hooks:
    """Observability callbacks. Each receives redaction-free objects: do your own masking
    before exporting them, or use the ``walletlink`` logger, which is already redacted."""

    on_request: Callable[[str, PreparedRequest, str], None] | None = None
    on_response: Callable[[str, RawResponse], None] | None = None
    on_retry: Callable[[str, RetryEvent], None] | None = None


@attrs.define
class _Bank:
    config: BankConfig
    adapter: Adapter
    budget: RetryBudget
    breaker: CircuitBreaker
    signer: RequestSigner | None
    verifier: ResponseVerifier | None


@attrs.define
class _Seen:
    """What :meth:`Client._run` saw of the bank: the request id of the last reply."""

    request_id: str | None = None


def _annotate(exc: WalletLinkError, bank_id: str, request_id: str | None) -> None:
    # Errors raised while parsing a reply know nothing of the exchange; fill in the context
    # the client has, never overwriting what the adapter already set.
    if exc.bank_id is None:
        exc.bank_id = bank_id
    if exc.request_id is None:
        exc.request_id = request_id


class ResolveReport(list[Transfer]):
    """What :meth:`Client.resolve_unknown` did.

    It is the list of transfers whose outcome is now known, as it has always been, plus:

    * ``unresolved``: the walletlink ids of the transfers still unresolved, to look at again
      on the next run (or by a person, when they stay there);
    * ``errors``: how many lookups failed, by exception type name (``{"ProtocolError": 1}``).
    """

    def __init__(
        self,
        resolved: Iterable[Transfer] = (),
        *,
        unresolved: Iterable[str] = (),
        errors: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(resolved)
        self.unresolved: tuple[str, ...] = tuple(unresolved)
        self.errors: Mapping[str, int] = MappingProxyType(dict(errors or {}))

    @property
    def failed(self) -> int:
        """How many records raised during this run (each is also in ``unresolved``, unless
        the failure itself settled its outcome, e.g. a resend refused outright)."""
        return sum(self.errors.values())


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


def _payments(bank: _Bank) -> Payments:
    # The capability check has already run; the cast only tells the type checker.
    return cast(Payments, bank.adapter)


#: What reading a malformed reply raises in Python itself; an adapter's own checks raise
#: walletlink errors, and anything else (a bug, MemoryError) is not hidden.
_UNREADABLE = (
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    ValueError,
    ArithmeticError,
    RecursionError,
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Client:
    """Talk to many banks through one interface.

    >>> from walletlink import Iban, Money, Party, SQLiteJournal, TransferRequest
    >>> from walletlink.testing import MockBank
    >>> bank = MockBank(bank_id="acme")  # stands in for your bank's BankConfig
    >>> debtor = bank.open_account("DE89370400440532013000", "100.00", "EUR")
    >>> client = Client(banks=[bank.config()], journal=SQLiteJournal("walletlink.sqlite3"))
    >>> bank.mount(client.session)
    >>> transfer = client.transfer("acme", TransferRequest(
    ...     amount=Money("12.30", "EUR"),
    ...     debtor_account=debtor,
    ...     creditor=Party(name="Ada Lovelace", account=Iban("GB33BUKB20201555555555")),
    ...     payout_id="PAYOUT-42",
    ... ))
    >>> transfer.status, transfer.amount
    (<TransferStatus.PENDING: 'pending'>, Money('12.30', 'EUR'))
    >>> client.close(); client.journal.close()

    ``journal`` defaults to an in-memory journal: fine for tests, not for production, where
    a durable journal is what lets a restarted process resolve its unknown outcomes. The
    default logs a WARNING on the ``walletlink`` logger when the client is built.
    ``clock`` returns aware UTC datetimes; tests pass a fake one.
    ``require_caller_ids=True`` (recommended in production) refuses, with
    :class:`ValidationError` and before anything is journalled, a transfer whose request
    carries no identity of the wallet's own (no ``payout_id``, ``end_to_end_id`` or
    ``idempotency_key``): its key is random, so building it again after a crash would pay
    twice.
    """

    def __init__(
        self,
        banks: Iterable[BankConfig],
        *,
        journal: Journal | None = None,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        hooks: Hooks | None = None,
        clock: Callable[[], datetime] = _utcnow,
        require_caller_ids: bool = False,
    ) -> None:
        self.require_caller_ids = require_caller_ids
        if journal is None:
            # Said once per client, loudly: an in-memory journal forgets every intent when
            # the process dies, so unknown outcomes cannot be resolved after a restart.
            logger.warning(
                "no journal given: using an in-memory MemoryJournal, which loses every "
                "intent on restart; pass SQLiteJournal(path) or PostgresJournal in production"
            )
        self.journal: Journal = journal if journal is not None else MemoryJournal()
        self.retry = retry or RetryPolicy()
        self.hooks = hooks or Hooks()
        self.clock = clock
        self._transport = Transport(session)
        self._banks: dict[str, _Bank] = {}
        for config in banks:
            if config.bank_id in self._banks:
                raise ConfigurationError(f"bank_id {config.bank_id!r} is configured twice")
            adapter = get_adapter_class(config.protocol)(config)
            # Adapters holding time-dependent state (an OAuth2 token cache) read the
            # client's clock, so a test's fake clock also decides when tokens expire.
            bind_clock = getattr(adapter, "bind_clock", None)
            if callable(bind_clock):
                bind_clock(self.clock)
            self._banks[config.bank_id] = _Bank(
                config=config,
                adapter=adapter,
                budget=RetryBudget(clock=self.retry.clock),
                breaker=CircuitBreaker(clock=self.retry.clock, bank_id=config.bank_id),
                # Asked once, not per request: the hooks are fixed for an adapter's life.
                signer=adapter.signer(),
                verifier=adapter.response_verifier(),
            )

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        """The shared ``requests`` session (mount a mock bank's transport here in tests)."""
        return self._transport.session

    @property
    def bank_ids(self) -> list[str]:
        return sorted(self._banks)

    def adapter(self, bank_id: str) -> Adapter:
        return self._bank(bank_id).adapter

    def run_flow(self, bank_id: str, flow: Flow[T]) -> T:
        """Drive an adapter's own flow, one the common verbs do not cover (a Berlin Group
        consent, say), with this bank's signing, retries, verification and error mapping::

            consent = client.run_flow("bank", client.adapter("bank").create_consent(...))
        """
        return self._run(self._bank(bank_id), flow)

    def _bank(self, bank_id: str) -> _Bank:
        try:
            return self._banks[bank_id]
        except KeyError:
            raise ConfigurationError(f"no bank configured with id {bank_id!r}") from None

    def _require(self, bank_id: str, capability: Capability) -> _Bank:
        bank = self._bank(bank_id)
        if capability not in bank.adapter.capabilities:
            raise UnsupportedOperationError(
                f"{bank.adapter.protocol} does not support {capability.value}", bank_id=bank_id
            )
        return bank

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, bank: _Bank, flow: Flow[T], seen: _Seen | None = None) -> T:
        """Drive an adapter flow to completion, sending each request it yields.

        ``seen`` (when given) ends up holding the request id of the bank's last reply. An
        error the flow raises while reading a reply gets that reply's request id.
        """
        seen = seen if seen is not None else _Seen()
        try:
            request = next(flow)
            while True:
                response = self._exchange(bank, request)
                seen.request_id = bank.adapter.request_id(response)
                try:
                    request = flow.send(response)
                except WalletLinkError as exc:
                    _annotate(exc, bank.config.bank_id, seen.request_id)
                    raise
                except _UNREADABLE as exc:
                    # An adapter that trusted the shape of a reply (a list where it read an
                    # object, a number past any range): whatever the adapter, a reply it
                    # cannot read is the bank breaking the protocol, never a crash.
                    raise ProtocolError(
                        f"the {bank.adapter.protocol} adapter cannot read the bank's reply "
                        f"({type(exc).__name__})",
                        bank_id=bank.config.bank_id,
                        request_id=seen.request_id,
                        http_status=response.status,
                    ) from exc
        except StopIteration as stop:
            result: T = stop.value
            return result

    def _exchange(self, bank: _Bank, request: PreparedRequest) -> RawResponse:
        """One logical request: signed per attempt, retried by policy, verified, mapped."""
        config, adapter = bank.config, bank.adapter
        url = self._transport.url_for(config, request)
        signer, verifier = bank.signer, bank.verifier

        def attempt() -> RawResponse:
            outgoing = signer(request, url, self.clock()) if signer else request
            if self.hooks.on_request:
                self.hooks.on_request(config.bank_id, outgoing, url)
            response = self._transport.send(config, outgoing, url)
            if self.hooks.on_response:
                self.hooks.on_response(config.bank_id, response)
            return response

        def on_retry(event: RetryEvent) -> None:
            logger.info(
                "retrying %s %s at %s (%s), attempt %d in %.2fs",
                request.method,
                request.operation or redact_url(request.path, request.sensitive),
                config.bank_id,
                event.reason,
                event.attempt + 1,
                event.delay,
            )
            if self.hooks.on_retry:
                self.hooks.on_retry(config.bank_id, event)

        response = self.retry.call_with_retries(
            attempt,
            idempotent=request.idempotent or request.method in ("GET", "HEAD"),
            classify_result=self._classify,
            on_retry=on_retry,
            budget=bank.budget,
            breaker=bank.breaker,
        )
        try:
            if verifier is not None and response.ok:
                try:
                    verifier(response, self.clock())
                except SignatureError as exc:
                    # The bank answered 2xx: a write may have executed (see _journal_outcome).
                    exc.http_status = exc.http_status or response.status
                    raise
            if response.ok or response.status in request.accept_status:
                return response
            raise adapter.error_for(response) or self._default_error(config, response)
        except WalletLinkError as exc:
            _annotate(exc, config.bank_id, adapter.request_id(response))
            raise

    def _classify(self, response: RawResponse) -> RetrySignal | None:
        if response.status in self.retry.retry_statuses:
            return RetrySignal.from_response(response.status, response.headers)
        return None

    @staticmethod
    def _default_error(config: BankConfig, response: RawResponse) -> WalletLinkError:
        context: dict[str, Any] = {"bank_id": config.bank_id, "http_status": response.status}
        if response.status == 429:
            return RateLimitedError("the bank is rate limiting", **context)
        if response.status >= 500:
            return BankUnavailableError(f"the bank answered HTTP {response.status}", **context)
        return BankRejectedError(f"the bank answered HTTP {response.status}", **context)

    # -- payments ---------------------------------------------------------------------------

    def transfer(self, bank_id: str, request: TransferRequest) -> Transfer:
        """Send a transfer at most once.

        Calling it again with the same request (same idempotency key) is safe: a finished
        transfer is returned from the journal, and an unfinished one is first looked up at
        the bank. The same key with a different request raises
        :class:`IdempotencyMismatchError` and sends nothing.
        """
        bank = self._require(bank_id, Capability.PAYMENTS)
        self._check_identity([request])
        self._validate(bank, [request], bank.adapter.validate, request)
        record, created = self.journal.record_intent(
            bank_id=bank_id, request=request, transfer_id=new_transfer_id(), now=self.clock()
        )
        if not created:
            if record.transfer is not None and record.status is not TransferStatus.UNKNOWN:
                return record.transfer
            return self._resolve(bank, record)
        return self._send_transfer(bank, record, request)

    def _check_identity(self, requests: Sequence[TransferRequest]) -> None:
        if self.require_caller_ids and not all(r.has_caller_identity for r in requests):
            raise ValidationError(
                "this client requires the wallet's own id on every transfer "
                "(payout_id, end_to_end_id or idempotency_key): a random key pays twice "
                "when the request is built again after a crash"
            )

    def _send_transfer(
        self, bank: _Bank, record: JournalRecord, request: TransferRequest | None = None
    ) -> Transfer:
        # The journalled request is the source of truth; the caller's object is only a
        # shortcut that saves re-parsing it (the journal has checked both hash alike).
        request = request or record.transfer_request()
        if Capability.BATCH_PAYMENTS in bank.adapter.capabilities:
            # File-based adapters write the journalled intent time into the file, so that a
            # resend of this intent is the very same file (see BatchPayments).
            return self._send_batch(bank, [record], [request])[0]
        flow = _payments(bank).create_transfer(request, record.transfer_id)
        return self._journal_outcome(bank, [record], [request], _one(flow))[0]

    def transfer_batch(self, bank_id: str, requests: Sequence[TransferRequest]) -> list[Transfer]:
        """Send several transfers as one write (one bank file), each at most once.

        Every intent is journalled under its own idempotency key before the first byte is
        sent. Members this journal already finished are returned as they are; unfinished
        ones are looked up at the bank first; the rest go out together in one
        ``create_transfers`` flow. An unknown outcome marks every member sent ``UNKNOWN``
        and raises :class:`UnknownOutcomeError`: :meth:`resolve_unknown` looks each one up.
        Results follow the order of ``requests``.
        """
        bank = self._require(bank_id, Capability.BATCH_PAYMENTS)
        if not requests:
            raise ValidationError("a batch needs at least one transfer")
        self._check_identity(requests)
        if len({request.idempotency_key for request in requests}) != len(requests):
            raise ValidationError("idempotency keys must be unique within a batch")
        # Every member, and the batch as one write, before any member is journalled.
        self._validate(bank, requests, bank.adapter.validate_batch, requests)
        for request in requests:
            # Refuse a reused key before journalling any member: nothing half-recorded.
            known = self.journal.get(request.idempotency_key)
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
            record, created = self.journal.record_intent(
                bank_id=bank_id, request=request, transfer_id=new_transfer_id(), now=now
            )
            if created:
                to_send.append((record, request))
            elif record.transfer is not None and record.status is not TransferStatus.UNKNOWN:
                results[request.idempotency_key] = record.transfer
            else:
                found = self._find_at_bank(bank, record, request)
                if found is None:
                    to_send.append((record, request))
                else:
                    results[request.idempotency_key] = found
        if to_send:
            records, pending = [r for r, _ in to_send], [q for _, q in to_send]
            for transfer in self._send_batch(bank, records, pending):
                results[transfer.idempotency_key] = transfer
        return [results[request.idempotency_key] for request in requests]

    def _validate(
        self,
        bank: _Bank,
        requests: Sequence[TransferRequest],
        check: Callable[[T], None],
        subject: T,
    ) -> None:
        """The adapter's ``validate`` before the journal: a request the bank's wire cannot
        carry leaves no row behind. Requests already journalled were accepted when they
        were first sent; a stricter check since (an upgrade) must not keep them from being
        returned or resolved, so the refusal only stands when one of them is new."""
        try:
            check(subject)
        except ValidationError:
            if any(self.journal.get(r.idempotency_key) is None for r in requests):
                raise
            logger.info("a journalled transfer at %s no longer validates", bank.config.bank_id)

    def _find_at_bank(
        self, bank: _Bank, record: JournalRecord, request: TransferRequest
    ) -> Transfer | None:
        ref = TransferRef(
            transfer_id=record.transfer_id,
            idempotency_key=record.idempotency_key,
            end_to_end_id=request.end_to_end_id,
        )
        found = self._trusted(bank, record, request, _payments(bank).find_transfer(ref, request))
        if found is None:
            return None
        return self.journal.record_transfer(found, now=self.clock()).transfer or found

    def _trusted(
        self,
        bank: _Bank,
        record: JournalRecord,
        request: TransferRequest,
        flow: Flow[Transfer] | Flow[Transfer | None],
    ) -> Transfer | None:
        """Run a lookup, get or cancel flow about one journalled transfer; its answer, once
        it is known to be about that transfer.

        A reply that is malformed or disagrees with the intent (another key, amount,
        currency, end-to-end id...) leaves the transfer ``UNKNOWN`` for a person to look at
        and raises the :class:`ProtocolError`; no other journal row is touched.
        """
        seen = _Seen()
        try:
            reply: Transfer | None = self._run(bank, flow, seen)
            if reply is not None:
                check_transfer(
                    reply, request, transfer_id=record.transfer_id, bank_id=record.bank_id
                )
        except ProtocolError as exc:
            _annotate(exc, bank.config.bank_id, seen.request_id)
            self.journal.mark_unknown(record.idempotency_key, now=self.clock())
            logger.warning(
                "transfer %s at %s: untrusted reply, left unknown: %s",
                record.transfer_id,
                record.bank_id,
                exc.message,
            )
            raise
        return reply

    def _send_batch(
        self, bank: _Bank, records: Sequence[JournalRecord], requests: Sequence[TransferRequest]
    ) -> list[Transfer]:
        """Drive one ``create_transfers`` flow for journalled intents; journal each answer."""
        # The earliest intent time: the same intents always make the same file.
        created_at = min(record.created_at for record in records)
        flow = cast(BatchPayments, bank.adapter).create_transfers(
            requests, [record.transfer_id for record in records], created_at
        )
        return self._journal_outcome(bank, records, requests, flow)

    def _journal_outcome(
        self,
        bank: _Bank,
        records: Sequence[JournalRecord],
        requests: Sequence[TransferRequest],
        flow: Flow[list[Transfer]],
    ) -> list[Transfer]:
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
        seen = _Seen()
        try:
            transfers = self._run(bank, flow, seen)
            for record, request, transfer in _pair(records, requests, transfers):
                check_transfer(
                    transfer, request, transfer_id=record.transfer_id, bank_id=record.bank_id
                )
        except ConnectError:
            raise
        except (TransportTimeoutError, ProtocolError, BankUnavailableError) as exc:
            _annotate(exc, bank.config.bank_id, seen.request_id)
            raise self._unknown(bank, keys, exc) from exc
        except SignatureError as exc:
            # A 2xx reply whose signature fails may still be the bank's answer that it did
            # execute the write (tampered in transit, a key rotated early): unknown, never
            # refused. A refusal of our own signature comes as a 4xx and stays an error.
            if exc.http_status is not None and 200 <= exc.http_status < 300:
                raise self._unknown(bank, keys, exc) from exc
            raise
        except BankRejectedError as exc:
            if exc.http_status == 409:
                raise self._unknown(bank, keys, exc) from exc
            for record in records:
                self._record_refusal(record, exc)
            raise
        return [self.journal.record_transfer(t, now=self.clock()).transfer or t for t in transfers]

    def _unknown(
        self, bank: _Bank, keys: Sequence[str], cause: WalletLinkError
    ) -> UnknownOutcomeError:
        """Journal every key ``UNKNOWN``; the error to raise for the write they shared."""
        for key in keys:
            self.journal.mark_unknown(key, now=self.clock())
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

    def _record_refusal(self, record: JournalRecord, exc: BankRejectedError) -> None:
        """The bank refused the request outright: journal it as a rejected transfer."""
        request = record.transfer_request()
        try:
            code = ReasonCode(exc.code)
        except ValueError:
            code = ReasonCode.OTHER
        now = self.clock()
        self.journal.record_transfer(
            Transfer(
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
            ),
            now=now,
        )

    def _resolve(self, bank: _Bank, record: JournalRecord) -> Transfer:
        """Settle an unknown outcome by lookup; resend only under the same key if absent."""
        request = record.transfer_request()
        found = self._find_at_bank(bank, record, request)
        if found is None:
            # The bank never executed it. Resending under the SAME key is safe: if a lost
            # attempt surfaces late, the bank's idempotency store folds the two into one.
            return self._send_transfer(bank, record, request)
        return found

    def _record_for(self, transfer_id: str) -> tuple[_Bank, JournalRecord]:
        record = self.journal.get_by_transfer_id(transfer_id)
        if record is None:
            raise TransferNotFoundError(f"no transfer {transfer_id!r} in the journal")
        return self._bank(record.bank_id), record

    def get_transfer(self, transfer_id: str) -> Transfer:
        """The bank's current view of a transfer this client sent (by walletlink id)."""
        bank, record = self._record_for(transfer_id)
        self._require(record.bank_id, Capability.PAYMENTS)
        if record.transfer is None or record.transfer.bank_transfer_id is None:
            return self._resolve(bank, record)
        ref = TransferRef(
            transfer_id=record.transfer_id,
            bank_transfer_id=record.transfer.bank_transfer_id,
            idempotency_key=record.idempotency_key,
        )
        request = record.transfer_request()
        fresh = self._trusted(bank, record, request, _payments(bank).get_transfer(ref, request))
        assert fresh is not None  # get_transfer always ends with the bank's answer
        return self.journal.record_transfer(fresh, now=self.clock()).transfer or fresh

    def cancel_transfer(self, transfer_id: str) -> Transfer:
        bank, record = self._record_for(transfer_id)
        self._require(record.bank_id, Capability.CANCEL)
        ref = TransferRef(
            transfer_id=record.transfer_id,
            bank_transfer_id=record.transfer.bank_transfer_id if record.transfer else None,
            idempotency_key=record.idempotency_key,
        )
        request = record.transfer_request()
        flow = cast(Cancellation, bank.adapter).cancel_transfer(ref, request)
        cancelled = self._trusted(bank, record, request, flow)
        assert cancelled is not None  # cancel_transfer always ends with the bank's answer
        return self.journal.record_transfer(cancelled, now=self.clock()).transfer or cancelled

    def resolve_unknown(self, bank_id: str | None = None) -> ResolveReport:
        """Look up every transfer whose outcome is unknown and journal what the bank says.

        One transfer's failure never stops the others: whatever a record raises (the bank is
        down or rate limiting, refuses the lookup, answers about another payment, or a bug)
        is logged by type, counted, and the record stays in the journal for the next call.
        Returns a :class:`ResolveReport`: the list of transfers whose outcome is now known,
        refusals included, with the ids still ``unresolved`` and the ``errors`` by type.
        """
        resolved: list[Transfer] = []
        unresolved: list[str] = []
        errors: Counter[str] = Counter()
        # Claimed, not just listed: several servers sharing a journal each take a leased
        # share, so every record is resolved once; a crashed server's leases expire.
        for record in self.journal.claim_unresolved(bank_id, now=self.clock()):
            try:
                resolved.append(self._resolve(self._bank(record.bank_id), record))
            except Exception as exc:  # one record must never stop the rest
                errors[type(exc).__name__] += 1
                settled = self._settled(record)
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
        # One line per run for the recovery job's log; louder when something is left over.
        logger.log(
            logging.WARNING if unresolved else logging.INFO,
            "resolve_unknown: %d resolved, %d still unresolved, errors: %s",
            len(report),
            len(unresolved),
            ", ".join(f"{name}={count}" for name, count in sorted(errors.items())) or "none",
        )
        return report

    def _settled(self, record: JournalRecord) -> Transfer | None:
        """The journalled answer for ``record`` if a failed resolve still settled it."""
        try:
            now = self.journal.get(record.idempotency_key)
        except Exception:  # a failing journal read: unresolved
            return None
        if now is not None and now.outcome_known and now.transfer is not None:
            return now.transfer
        return None

    # -- account information ----------------------------------------------------------------

    def balances(self, bank_id: str, account: AccountId) -> list[Balance]:
        bank = self._require(bank_id, Capability.ACCOUNT_INFORMATION)
        result: list[Balance] = self._run(
            bank, cast(AccountInformation, bank.adapter).balances(account)
        )
        return result

    def transactions(
        self, bank_id: str, account: AccountId, date_from: date, date_to: date
    ) -> Iterator[Transaction]:
        """Every transaction in the date range, following the bank's pages lazily."""
        bank = self._require(bank_id, Capability.ACCOUNT_INFORMATION)
        if date_to < date_from:
            raise ConfigurationError("date_to is before date_from")
        return self._pages(bank, account, date_from, date_to)

    def _pages(
        self, bank: _Bank, account: AccountId, date_from: date, date_to: date
    ) -> Iterator[Transaction]:
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            flow = cast(AccountInformation, bank.adapter).transactions_page(
                account, date_from, date_to, cursor
            )
            page = self._run(bank, flow)
            yield from page.items
            cursor = page.next_cursor
            if cursor is None:
                return
            if cursor in seen:
                raise ProtocolError("the bank's pagination loops", bank_id=bank.config.bank_id)
            seen.add(cursor)

    def statement(
        self, bank_id: str, account: AccountId, day: date, *, kind: str | None = None
    ) -> bytes:
        """The bank's raw statement file for ``account`` on ``day`` (e.g. camt.053 bytes).

        Parse it with :func:`walletlink.formats.parse_statements`. ``kind`` picks another
        document where the protocol offers several (``"camt.054"``).
        """
        bank = self._require(bank_id, Capability.STATEMENTS)
        options = {} if kind is None else {"kind": kind}
        flow = cast(Statements, bank.adapter).statement(account, day, **options)
        raw: bytes = self._run(bank, flow)
        return raw

    # -- notifications ----------------------------------------------------------------------

    def handle_notification(self, bank_id: str, headers: Mapping[str, str], body: bytes) -> Event:
        """Verify, de-duplicate and apply a bank notification; returns the event.

        The signature is checked over the raw bytes before anything is parsed. A repeated
        event id returns the event with ``duplicate=True`` and changes nothing. A status
        update never moves a transfer backwards.
        """
        bank = self._require(bank_id, Capability.NOTIFICATIONS)
        now = self.clock()
        event: Event = cast(Notifications, bank.adapter).parse_notification(headers, body, now)
        record = self._event_record(bank_id, event, now)
        digest = hashlib.sha256(body).hexdigest()
        if not self.journal.record_event(
            bank_id=bank_id, event_id=event.id, payload_hash=digest, now=now
        ):
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
        self.journal.record_transfer(updated, now=now)
        return attrs.evolve(event, transfer_id=record.transfer_id)

    def _event_record(self, bank_id: str, event: Event, now: datetime) -> JournalRecord | None:
        """The journalled transfer an event updates, once the event is known to agree with
        it. Checked before the event id is recorded, so a redelivery is checked again."""
        if event.status is None or event.idempotency_key is None:
            return None
        record = self.journal.get(event.idempotency_key)
        if record is None or record.bank_id != bank_id:
            return None
        try:
            check_event(event, record.transfer_request(), bank_id=bank_id)
        except ProtocolError:
            # The bank contradicts itself about this transfer: a person must look.
            self.journal.mark_unknown(record.idempotency_key, now=now)
            logger.warning("event %s contradicts transfer %s", event.id, record.transfer_id)
            raise
        return record

    def notification_ack(self, bank_id: str, event: Event) -> tuple[int, Mapping[str, str], bytes]:
        """The exact HTTP answer the bank expects for a handled notification."""
        bank = self._require(bank_id, Capability.NOTIFICATIONS)
        ack: tuple[int, Mapping[str, str], bytes] = cast(
            Notifications, bank.adapter
        ).notification_ack(event)
        return ack
