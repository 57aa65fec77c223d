"""The asyncio client: :class:`~walletlink.Client`'s verbs as coroutines, over httpx.

Install it with ``pip install 'walletlink[async]'``. It drives the very same operations as
the blocking client (:mod:`walletlink._ops`: journal first, one key per transfer, the reply
cross-check, resolution by lookup) and the same adapter flows; only the I/O differs:

* HTTP goes through httpx (:mod:`walletlink._atransport`), with the same error mapping,
  response cap, timeouts, signing per attempt, verification, retries, budget and breaker;
* the journal, a blocking SQLite (or PostgreSQL) store, is called in a worker thread with
  :func:`asyncio.to_thread`, so it never blocks the event loop (a journal whose ``blocks``
  attribute is false, such as :class:`~walletlink.journal.MemoryJournal`, runs on the loop);
* retries wait with the policy's ``async_sleep`` (``asyncio.sleep`` unless injected).

In tests, mount a mock bank with :meth:`MockBank.mount_async(client)
<walletlink.testing.MockBank.mount_async>`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from walletlink._core import Bank, Call, Hooks, Op, ResolveReport, Send, utcnow
from walletlink._observe import Observer
from walletlink._ops import Operations
from walletlink._options import CallOptions
from walletlink._retry import RetryPolicy
from walletlink.accounts import AccountId
from walletlink.adapters.base import Flow
from walletlink.config import BankConfig
from walletlink.errors import ConfigurationError
from walletlink.http import RawResponse
from walletlink.journal import Journal
from walletlink.models import Balance, Event, Transaction, Transfer, TransferRequest

if TYPE_CHECKING:
    import httpx

    from walletlink._atransport import AsyncTransport

__all__ = ["AsyncClient"]

T = TypeVar("T")

_INSTALL = "AsyncClient needs httpx: pip install 'walletlink[async]'"


def _async_transport(max_connections: int) -> AsyncTransport:
    if isinstance(max_connections, bool) or not isinstance(max_connections, int):
        raise ConfigurationError("max_connections must be a positive integer")
    if max_connections < 1:
        raise ConfigurationError("max_connections must be a positive integer")
    try:
        from walletlink._atransport import AsyncTransport
    except ImportError as exc:  # httpx is an optional extra
        raise ConfigurationError(_INSTALL) from exc
    return AsyncTransport(max_connections)


class AsyncClient(Operations):
    """Talk to many banks through one interface, from asyncio code.

    >>> import asyncio
    >>> from walletlink import Iban, MemoryJournal, Money, Party, TransferRequest
    >>> from walletlink.testing import MockBank
    >>> bank = MockBank(bank_id="acme")  # stands in for your bank's BankConfig
    >>> debtor = bank.open_account("DE89370400440532013000", "100.00", "EUR")
    >>> async def pay(request):
    ...     async with AsyncClient([bank.config()], journal=MemoryJournal()) as client:
    ...         bank.mount_async(client)  # in process, through an httpx transport
    ...         return await client.transfer("acme", request)
    >>> transfer = asyncio.run(pay(TransferRequest(
    ...     amount=Money("12.30", "EUR"),
    ...     debtor_account=debtor,
    ...     creditor=Party(name="Ada Lovelace", account=Iban("GB33BUKB20201555555555")),
    ...     payout_id="PAYOUT-42",
    ... )))
    >>> transfer.status, transfer.amount
    (<TransferStatus.PENDING: 'pending'>, Money('12.30', 'EUR'))

    Takes the arguments of :class:`~walletlink.Client` except ``session``; use
    :meth:`mount` to route a URL prefix through an httpx transport. Every method takes
    ``options=CallOptions(...)``. One client serves many concurrent tasks; at most
    ``max_connections`` connections are open to each bank at once (more requests wait for
    one, up to the connect timeout, and then fail with ``ConnectError``: never sent).
    """

    def __init__(
        self,
        banks: Iterable[BankConfig],
        *,
        journal: Journal | None = None,
        retry: RetryPolicy | None = None,
        hooks: Hooks | None = None,
        clock: Callable[[], datetime] = utcnow,
        require_caller_ids: bool = False,
        max_connections: int = 100,
    ) -> None:
        transport = _async_transport(max_connections)  # before anything else: no half-built client
        super().__init__(
            banks,
            journal=journal,
            retry=retry,
            hooks=hooks,
            clock=clock,
            require_caller_ids=require_caller_ids,
        )
        self._transport = transport
        # A journal on disk or over the network blocks: it runs in a worker thread. One that
        # says it does not (MemoryJournal: ``blocks = False``) runs on the loop.
        self._journal_blocks = bool(getattr(self.journal, "blocks", True))

    # -- plumbing ---------------------------------------------------------------------------

    def mount(self, prefix: str, transport: httpx.AsyncBaseTransport) -> None:
        """Send requests whose URL starts with ``prefix`` through an httpx ``transport``."""
        self._transport.mount(prefix, transport)

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def run_flow(
        self, bank_id: str, flow: Flow[T], *, options: CallOptions | None = None
    ) -> T:
        """Drive an adapter's own flow (see :meth:`walletlink.Client.run_flow`)."""
        return await self._drive(self._run(self._bank(bank_id), flow), options)

    async def _drive(self, op: Op[T], options: CallOptions | None) -> T:
        """Await each effect ``op`` yields until it returns; the journal in a thread."""
        call = Call.start(options, self.retry)
        try:
            effect = next(op)
            while True:
                if isinstance(effect, Send) and effect.request.shared:
                    # As in Client._drive; inline, since a coroutine cannot raise the
                    # StopIteration that ends ``op``.
                    shared, name = effect.bank.shared, effect.request.shared
                    async with shared.task_lock(name):
                        reply = shared.newer(name, effect.mark)
                        if reply is None:
                            try:
                                reply = await self._exchange(effect, call)
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
                        value: Any = await self._exchange(effect, call)
                    elif self._journal_blocks:
                        value = await asyncio.to_thread(effect.call, *effect.args, **effect.kwargs)
                    else:
                        value = effect.call(*effect.args, **effect.kwargs)
                except BaseException as exc:
                    effect = op.throw(exc)
                else:
                    effect = op.send(value)
        except StopIteration as stop:
            result: T = stop.value
            return result

    async def _exchange(self, send: Send, call: Call) -> RawResponse:
        """One logical request: signed per attempt, retried by policy, verified, mapped."""
        bank, request = send.bank, send.request
        url = self._url(bank, request)
        timeout = call.timeout(bank.config)
        observer = Observer(bank.config.bank_id, request, send.transfer_id, call, self.hooks)

        async def attempt() -> RawResponse:
            limit = call.attempt_timeout(timeout)  # past the total: not even signed
            outgoing = self._outgoing(bank, request, url)
            with observer.attempt() as seen:
                reply = await self._transport.send(bank.config, outgoing, url, limit)
                seen.status = reply.status
            return self._received(bank, reply)

        with observer.call() as seen:
            policy = call.retry_policy()
            kwargs = self._retry_kwargs(bank, request, policy)
            response = await policy.acall_with_retries(attempt, **kwargs)
            seen.status = response.status
            return self._accept(bank, request, response)

    # -- the verbs (documented on walletlink.Client) ------------------------------------------

    async def transfer(
        self, bank_id: str, request: TransferRequest, *, options: CallOptions | None = None
    ) -> Transfer:
        return await self._drive(self.transfer_op(bank_id, self._keyed(request, options)), options)

    async def transfer_batch(
        self,
        bank_id: str,
        requests: Sequence[TransferRequest],
        *,
        options: CallOptions | None = None,
    ) -> list[Transfer]:
        return await self._drive(self.transfer_batch_op(bank_id, requests), options)

    async def get_transfer(
        self, transfer_id: str, *, options: CallOptions | None = None
    ) -> Transfer:
        return await self._drive(self.get_transfer_op(transfer_id), options)

    async def cancel_transfer(
        self, transfer_id: str, *, options: CallOptions | None = None
    ) -> Transfer:
        return await self._drive(self.cancel_transfer_op(transfer_id), options)

    async def resolve_unknown(
        self, bank_id: str | None = None, *, options: CallOptions | None = None
    ) -> ResolveReport:
        return await self._drive(self.resolve_unknown_op(bank_id), options)

    async def balances(
        self, bank_id: str, account: AccountId, *, options: CallOptions | None = None
    ) -> list[Balance]:
        return await self._drive(self.balances_op(bank_id, account), options)

    def transactions(
        self,
        bank_id: str,
        account: AccountId,
        date_from: date,
        date_to: date,
        *,
        options: CallOptions | None = None,
    ) -> AsyncIterator[Transaction]:
        """Every transaction in the date range: ``async for``, one page fetched at a time."""
        bank = self._check_range(bank_id, date_from, date_to)
        return self._pages(bank, account, (date_from, date_to), options)

    async def _pages(
        self,
        bank: Bank,
        account: AccountId,
        dates: tuple[date, date],
        options: CallOptions | None,
    ) -> AsyncIterator[Transaction]:
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = await self._drive(self.page_op(bank, account, dates, cursor), options)
            for item in page.items:
                yield item
            cursor = self._next_cursor(bank, page, seen)
            if cursor is None:
                return

    async def statement(
        self,
        bank_id: str,
        account: AccountId,
        day: date,
        *,
        kind: str | None = None,
        options: CallOptions | None = None,
    ) -> bytes:
        return await self._drive(self.statement_op(bank_id, account, day, kind), options)

    async def handle_notification(
        self, bank_id: str, headers: Mapping[str, str], body: bytes
    ) -> Event:
        return await self._drive(self.notification_op(bank_id, headers, body), None)
