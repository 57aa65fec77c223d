"""The walletlink client: one object in front of every bank.

The client owns everything adapters don't: the HTTP session, signing hooks, retries, the
retry budget and circuit breaker of each bank, the journal, logging and observability
hooks. It drives each adapter flow (see :mod:`walletlink.adapters.base`) request by request.

The rule that shapes :meth:`Client.transfer`: the intent (idempotency key + request hash) is
in the journal before the first byte is sent, every retry reuses the key and the exact
bytes, and a write whose outcome is unknown is journalled ``UNKNOWN`` and resolved later by
looking it up, never by sending it under a new key.

The logic itself lives in :mod:`walletlink._ops` as generators that yield their I/O; this
module performs that I/O with ``requests``, :mod:`walletlink.aio` with httpx.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import TypeVar

import requests

from walletlink._core import Bank, Call, Hooks, Op, ResolveReport, Send, utcnow
from walletlink._observe import Observer
from walletlink._ops import Operations
from walletlink._options import CallOptions
from walletlink._retry import RetryPolicy
from walletlink._transport import Transport
from walletlink.accounts import AccountId
from walletlink.adapters.base import Flow
from walletlink.config import BankConfig
from walletlink.http import RawResponse
from walletlink.journal import Journal
from walletlink.models import Balance, Event, Transaction, Transfer, TransferRequest

__all__ = ["CallOptions", "Client", "Hooks", "ResolveReport"]

T = TypeVar("T")


class Client(Operations):
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
    twice. ``session`` is a ``requests`` session whose adapters (mounts) and default
    headers the client uses; the client sends through a private session, so the caller's
    is never changed. Every method takes ``options=CallOptions(...)`` (timeout, retry
    policy, idempotency key) for that call only.
    """

    def __init__(
        self,
        banks: Iterable[BankConfig],
        *,
        journal: Journal | None = None,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        hooks: Hooks | None = None,
        clock: Callable[[], datetime] = utcnow,
        require_caller_ids: bool = False,
    ) -> None:
        super().__init__(
            banks,
            journal=journal,
            retry=retry,
            hooks=hooks,
            clock=clock,
            require_caller_ids=require_caller_ids,
        )
        self._transport = Transport(session)

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        """The client's ``requests`` session (mount a mock bank's transport here in tests)."""
        return self._transport.session

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run_flow(self, bank_id: str, flow: Flow[T], *, options: CallOptions | None = None) -> T:
        """Drive an adapter's own flow, one the common verbs do not cover (a Berlin Group
        consent, say), with this bank's signing, retries, verification and error mapping::

            consent = client.run_flow("bank", client.adapter("bank").create_consent(...))
        """
        return self._drive(self._run(self._bank(bank_id), flow), options)

    def _drive(self, op: Op[T], options: CallOptions | None) -> T:
        """Perform each effect ``op`` yields, in this thread, until it returns."""
        call = Call.start(options, self.retry)
        try:
            effect = next(op)
            while True:
                if isinstance(effect, Send) and effect.request.shared:
                    # A shared request (a token): one thread at a time sends it, and keeps
                    # the lock until its flow has read the reply; a thread that waited
                    # meanwhile is handed that reply (walletlink._core.SharedReplies).
                    shared, name = effect.bank.shared, effect.request.shared
                    with shared.thread_lock(name):
                        reply = shared.newer(name, effect.mark)
                        if reply is None:
                            try:
                                reply = self._exchange(effect, call)
                            except BaseException as exc:
                                effect = op.throw(exc)
                                continue
                            with shared.publishing(name, reply):
                                effect = op.send(reply)
                        else:
                            effect = op.send(reply)
                    continue
                try:
                    if isinstance(effect, Send):
                        value: object = self._exchange(effect, call)
                    else:
                        value = effect.call(*effect.args, **effect.kwargs)
                except BaseException as exc:
                    effect = op.throw(exc)
                else:
                    effect = op.send(value)
        except StopIteration as stop:
            result: T = stop.value
            return result

    def _exchange(self, send: Send, call: Call) -> RawResponse:
        """One logical request: signed per attempt, retried by policy, verified, mapped."""
        bank, request = send.bank, send.request
        url = self._url(bank, request)
        timeout = call.timeout(bank.config)
        observer = Observer(bank.config.bank_id, request, send.transfer_id, call, self.hooks)

        def attempt() -> RawResponse:
            limit = call.attempt_timeout(timeout)  # past the total: not even signed
            outgoing = self._outgoing(bank, request, url)
            with observer.attempt() as seen:
                reply = self._transport.send(bank.config, outgoing, url, limit)
                seen.status = reply.status
            return self._received(bank, reply)

        with observer.call() as seen:
            policy = call.retry_policy()
            kwargs = self._retry_kwargs(bank, request, policy)
            response = policy.call_with_retries(attempt, **kwargs)
            seen.status = response.status
            return self._accept(bank, request, response)

    # -- payments ---------------------------------------------------------------------------

    def transfer(
        self, bank_id: str, request: TransferRequest, *, options: CallOptions | None = None
    ) -> Transfer:
        """Send a transfer at most once.

        Calling it again with the same request (same idempotency key) is safe: a finished
        transfer is returned from the journal, and an unfinished one is first looked up at
        the bank. The same key with a different request raises
        :class:`IdempotencyMismatchError` and sends nothing.
        """
        return self._drive(self.transfer_op(bank_id, self._keyed(request, options)), options)

    def transfer_batch(
        self,
        bank_id: str,
        requests: Sequence[TransferRequest],
        *,
        options: CallOptions | None = None,
    ) -> list[Transfer]:
        """Send several transfers as one write (one bank file), each at most once.

        Every intent is journalled under its own idempotency key before the first byte is
        sent. Members this journal already finished are returned as they are; unfinished
        ones are looked up at the bank first; the rest go out together in one
        ``create_transfers`` flow. An unknown outcome marks every member sent ``UNKNOWN``
        and raises :class:`UnknownOutcomeError`: :meth:`resolve_unknown` looks each one up.
        Results follow the order of ``requests``.
        """
        return self._drive(self.transfer_batch_op(bank_id, requests), options)

    def get_transfer(self, transfer_id: str, *, options: CallOptions | None = None) -> Transfer:
        """The bank's current view of a transfer this client sent (by walletlink id)."""
        return self._drive(self.get_transfer_op(transfer_id), options)

    def cancel_transfer(self, transfer_id: str, *, options: CallOptions | None = None) -> Transfer:
        return self._drive(self.cancel_transfer_op(transfer_id), options)

    def resolve_unknown(
        self, bank_id: str | None = None, *, options: CallOptions | None = None
    ) -> ResolveReport:
        """Look up every transfer whose outcome is unknown and journal what the bank says.

        One transfer's failure never stops the others: whatever a record raises (the bank is
        down or rate limiting, refuses the lookup, answers about another payment, or a bug)
        is logged by type, counted, and the record stays in the journal for the next call.
        Returns a :class:`ResolveReport`: the list of transfers whose outcome is now known,
        refusals included, with the ids still ``unresolved`` and the ``errors`` by type.
        """
        return self._drive(self.resolve_unknown_op(bank_id), options)

    # -- account information ----------------------------------------------------------------

    def balances(
        self, bank_id: str, account: AccountId, *, options: CallOptions | None = None
    ) -> list[Balance]:
        return self._drive(self.balances_op(bank_id, account), options)

    def transactions(
        self,
        bank_id: str,
        account: AccountId,
        date_from: date,
        date_to: date,
        *,
        options: CallOptions | None = None,
    ) -> Iterator[Transaction]:
        """Every transaction in the date range, following the bank's pages lazily."""
        bank = self._check_range(bank_id, date_from, date_to)
        return self._pages(bank, account, (date_from, date_to), options)

    def _pages(
        self,
        bank: Bank,
        account: AccountId,
        dates: tuple[date, date],
        options: CallOptions | None,
    ) -> Iterator[Transaction]:
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = self._drive(self.page_op(bank, account, dates, cursor), options)
            yield from page.items
            cursor = self._next_cursor(bank, page, seen)
            if cursor is None:
                return

    def statement(
        self,
        bank_id: str,
        account: AccountId,
        day: date,
        *,
        kind: str | None = None,
        options: CallOptions | None = None,
    ) -> bytes:
        """The bank's raw statement file for ``account`` on ``day`` (e.g. camt.053 bytes).

        Parse it with :func:`walletlink.formats.parse_statements`. ``kind`` picks another
        document where the protocol offers several (``"camt.054"``).
        """
        return self._drive(self.statement_op(bank_id, account, day, kind), options)

    # -- notifications ----------------------------------------------------------------------

    def handle_notification(self, bank_id: str, headers: Mapping[str, str], body: bytes) -> Event:
        """Verify, de-duplicate and apply a bank notification; returns the event.

        The signature is checked over the raw bytes before anything is parsed. A repeated
        event id returns the event with ``duplicate=True`` and changes nothing. A status
        update never moves a transfer backwards.
        """
        return self._drive(self.notification_op(bank_id, headers, body), None)
