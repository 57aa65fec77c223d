"""The client's logic, written once, for the blocking and the asyncio client alike.

Every client operation (a transfer, a batch, a lookup, a notification...) is a generator
here that *yields the I/O it needs* instead of doing it: a :class:`Send` (one logical HTTP
request to a bank, with its signing, retries and verification) or a :class:`Store` (one call
of the journal). :class:`~walletlink.Client` performs each effect with ``requests`` in the
calling thread; :class:`~walletlink.AsyncClient` awaits it with httpx and runs the journal
in a worker thread. The generator gets each effect's result sent back (or its exception
thrown in), so the journal rules, the cross-check and the resolution logic exist once and
cannot drift apart between the two clients. Adapter flows are driven the same way one
level down (:mod:`walletlink.adapters.base`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Callable, Generator, Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeAlias, TypeVar

import attrs

from walletlink._observe import RequestRecord
from walletlink._options import NO_OPTIONS, CallOptions
from walletlink._redact import redact_url
from walletlink._retry import CircuitBreaker, RetryBudget, RetryEvent, RetryPolicy, RetrySignal
from walletlink._transport import Transport, logger
from walletlink.adapters.base import Adapter, Flow, RequestSigner, ResponseVerifier
from walletlink.adapters.registry import get_adapter_class
from walletlink.config import BankConfig, Timeout
from walletlink.errors import (
    BankRejectedError,
    BankUnavailableError,
    ConfigurationError,
    ConnectError,
    ProtocolError,
    RateLimitedError,
    SignatureError,
    UnsupportedOperationError,
    WalletLinkError,
)
from walletlink.http import PreparedRequest, RawResponse
from walletlink.journal import Journal, MemoryJournal
from walletlink.models import Capability, Transfer, TransferRequest

__all__ = ["Bank", "Hooks", "Op", "ResolveReport", "Send", "SharedReplies", "Store"]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class Hooks:
    """Observability callbacks. Each receives redaction-free objects: do your own masking
    before exporting them, or use the ``walletlink`` logger, which is already redacted.

    ``on_attempt`` and ``on_call`` receive a :class:`~walletlink.RequestRecord` (already
    redacted) after each HTTP attempt and after each logical request (``docs/observability.md``).
    """

    on_request: Callable[[str, PreparedRequest, str], None] | None = None
    on_response: Callable[[str, RawResponse], None] | None = None
    on_retry: Callable[[str, RetryEvent], None] | None = None
    on_attempt: Callable[[RequestRecord], None] | None = None
    on_call: Callable[[RequestRecord], None] | None = None


class SharedReplies:
    """One bank's replies to :attr:`PreparedRequest.shared` requests, and the locks that send
    them one at a time.

    The race this closes: an adapter keeps a token (or certificate list) in a cache, and a
    flow that misses the cache yields the request that fills it. Flows of threads (or tasks)
    that start together all miss the empty cache and would all send it. So the client sends
    a shared request under a lock per bank and name, held until the flow that sent it has
    read the reply (the adapter's cache is filled by then), and numbers each reply it
    publishes. Every flow step carries the number current when the step began (``mark``,
    taken before the adapter looked at its cache): a flow whose shared request waited for
    the lock while a reply newer than its mark came in missed the cache only because that
    reply was not there yet, and is handed it instead of sending its own. A flow whose step
    began after the last reply (the bank revoked the token, it expired) sends a new one.

    The lock is a :class:`threading.Lock` for the blocking client and an
    :class:`asyncio.Lock` (one per event loop) for the async one; the numbers are shared.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._count = 0
        self._replies: dict[str, tuple[int, RawResponse]] = {}
        self._thread_locks: dict[str, threading.Lock] = {}
        self._task_locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Lock]
        ] = weakref.WeakKeyDictionary()

    def mark(self) -> int:
        """The number of the newest reply: taken as a flow step begins."""
        with self._guard:
            return self._count

    def newer(self, name: str, mark: int) -> RawResponse | None:
        """The reply to ``name`` published after ``mark``, if any."""
        with self._guard:
            found = self._replies.get(name)
        return found[1] if found is not None and found[0] > mark else None

    def publish(self, name: str, reply: RawResponse) -> None:
        """``reply`` to ``name`` has been read by the flow that sent it."""
        with self._guard:
            self._count += 1
            self._replies[name] = (self._count, reply)

    def publishing(self, name: str, reply: RawResponse) -> _Publishing:
        """Around the flow reading ``reply``: published once the flow has read it (also when
        that ended the flow, or raised what the reply says), not when it could not read it."""
        return _Publishing(self, name, reply)

    def thread_lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._thread_locks.setdefault(name, threading.Lock())

    def task_lock(self, name: str) -> asyncio.Lock:
        # An asyncio.Lock belongs to the loop it first waits on: one set of locks per loop.
        loop = asyncio.get_running_loop()
        with self._guard:
            return self._task_locks.setdefault(loop, {}).setdefault(name, asyncio.Lock())


@attrs.frozen
class _Publishing:
    shared: SharedReplies
    name: str
    reply: RawResponse

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        # Read: the flow went on (or ended there: StopIteration), or it raised what the reply
        # says (an account-access consent still awaiting the PSU), which every flow handed
        # the reply raises alike. Refused: it cannot read the reply (ProtocolError, a bug).
        if kind is None or issubclass(kind, StopIteration) or _told(kind):
            self.shared.publish(self.name, self.reply)


def _told(kind: type[BaseException]) -> bool:
    return issubclass(kind, WalletLinkError) and not issubclass(kind, ProtocolError)


@attrs.define
class Bank:
    config: BankConfig
    adapter: Adapter
    budget: RetryBudget
    breaker: CircuitBreaker
    signer: RequestSigner | None
    verifier: ResponseVerifier | None
    shared: SharedReplies = attrs.field(factory=SharedReplies)


@attrs.frozen
class Send:
    """Effect: one logical request to ``bank``; its result is the accepted reply.

    ``mark`` is ``bank.shared.mark()`` from before the flow step that yielded the request
    (see :class:`SharedReplies`)."""

    bank: Bank
    request: PreparedRequest
    transfer_id: str | None = None
    mark: int = 0


@attrs.frozen
class Store:
    """Effect: one journal call, ``call(*args, **kwargs)``; its result is the call's."""

    call: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)


Effect: TypeAlias = Send | Store
#: A client operation: yields effects, is sent their results, returns the call's result.
Op: TypeAlias = Generator[Effect, Any, T]


@attrs.define
class Seen:
    """What a flow's run saw of the bank: the request id of the last reply, and the
    walletlink id of the transfer it is about (for logs and spans)."""

    request_id: str | None = None
    transfer_id: str | None = None


def annotate(exc: WalletLinkError, bank_id: str, request_id: str | None) -> None:
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


def utcnow() -> datetime:
    return datetime.now(UTC)


@attrs.define
class Call:
    """One logical call being driven: its options and the deadline of ``options.timeout``'s
    ``total``, on the policy's clock."""

    options: CallOptions
    policy: RetryPolicy
    deadline: float | None

    @classmethod
    def start(cls, options: CallOptions | None, default: RetryPolicy) -> Call:
        options = options or NO_OPTIONS
        policy = options.retry or default
        total = options.timeout.total if options.timeout is not None else None
        return cls(options, policy, None if total is None else policy.clock() + total)

    def timeout(self, config: BankConfig) -> Timeout:
        """This call's timeout at ``config``'s bank: the call's own, else the bank's."""
        timeout = self.options.timeout or config.timeout
        if timeout.total is not None and self.deadline is None:
            self.deadline = self.policy.clock() + timeout.total
        return timeout

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - self.policy.clock()

    def attempt_timeout(self, timeout: Timeout) -> Timeout:
        """The timeout of the next attempt: the read cut to what is left of the total."""
        left = self.remaining()
        if left is None:
            return timeout
        if left <= 0:
            raise ConnectError("the call's total timeout ran out before this attempt was sent")
        return attrs.evolve(timeout, read=min(timeout.read, left), total=None)

    def retry_policy(self) -> RetryPolicy:
        """The policy for the next request: ``max_elapsed`` cut to what is left."""
        left = self.remaining()
        if left is None or left >= self.policy.max_elapsed:
            return self.policy
        return self.policy.evolve(max_elapsed=max(left, 0.0))


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


class Core:
    """Banks, journal, policy and hooks; the I/O-free half of every client."""

    def __init__(
        self,
        banks: Iterable[BankConfig],
        *,
        journal: Journal | None,
        retry: RetryPolicy | None,
        hooks: Hooks | None,
        clock: Callable[[], datetime],
        require_caller_ids: bool,
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
        self._banks: dict[str, Bank] = {}
        for config in banks:
            if config.bank_id in self._banks:
                raise ConfigurationError(f"bank_id {config.bank_id!r} is configured twice")
            adapter = get_adapter_class(config.protocol)(config)
            # Adapters holding time-dependent state (an OAuth2 token cache) read the
            # client's clock, so a test's fake clock also decides when tokens expire.
            bind_clock = getattr(adapter, "bind_clock", None)
            if callable(bind_clock):
                bind_clock(self.clock)
            self._banks[config.bank_id] = Bank(
                config=config,
                adapter=adapter,
                budget=RetryBudget(clock=self.retry.clock),
                breaker=CircuitBreaker(clock=self.retry.clock, bank_id=config.bank_id),
                # Asked once, not per request: the hooks are fixed for an adapter's life.
                signer=adapter.signer(),
                verifier=adapter.response_verifier(),
            )

    @property
    def bank_ids(self) -> list[str]:
        return sorted(self._banks)

    def adapter(self, bank_id: str) -> Adapter:
        return self._bank(bank_id).adapter

    def _bank(self, bank_id: str) -> Bank:
        try:
            return self._banks[bank_id]
        except KeyError:
            raise ConfigurationError(f"no bank configured with id {bank_id!r}") from None

    def _require(self, bank_id: str, capability: Capability) -> Bank:
        bank = self._bank(bank_id)
        if capability not in bank.adapter.capabilities:
            raise UnsupportedOperationError(
                f"{bank.adapter.protocol} does not support {capability.value}", bank_id=bank_id
            )
        return bank

    @staticmethod
    def _keyed(request: TransferRequest, options: CallOptions | None) -> TransferRequest:
        """The request under the call's ``idempotency_key``, when the call names one."""
        if options is None or options.idempotency_key is None:
            return request
        return attrs.evolve(request, idempotency_key=options.idempotency_key)

    # -- driving flows ----------------------------------------------------------------------

    def _run(self, bank: Bank, flow: Flow[T], seen: Seen | None = None) -> Op[T]:
        """Drive an adapter flow to completion, yielding a :class:`Send` per request.

        ``seen`` (when given) ends up holding the request id of the bank's last reply. An
        error the flow raises while reading a reply gets that reply's request id.
        """
        seen = seen if seen is not None else Seen()
        try:
            mark = bank.shared.mark()
            request = next(flow)
            while True:
                response = yield Send(bank, request, seen.transfer_id, mark)
                seen.request_id = bank.adapter.request_id(response)
                mark = bank.shared.mark()
                try:
                    request = flow.send(response)
                except WalletLinkError as exc:
                    annotate(exc, bank.config.bank_id, seen.request_id)
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

    # -- one logical request: the parts around the I/O --------------------------------------

    def _url(self, bank: Bank, request: PreparedRequest) -> str:
        return Transport.url_for(bank.config, request)

    def _outgoing(self, bank: Bank, request: PreparedRequest, url: str) -> PreparedRequest:
        """The attempt's bytes: signed per attempt (a signature carries its own time)."""
        outgoing = bank.signer(request, url, self.clock()) if bank.signer else request
        if self.hooks.on_request:
            self.hooks.on_request(bank.config.bank_id, outgoing, url)
        return outgoing

    def _received(self, bank: Bank, response: RawResponse) -> RawResponse:
        if self.hooks.on_response:
            self.hooks.on_response(bank.config.bank_id, response)
        return response

    def _retry_kwargs(
        self, bank: Bank, request: PreparedRequest, policy: RetryPolicy
    ) -> dict[str, Any]:
        """Everything ``call_with_retries`` needs besides the attempt itself."""
        config = bank.config

        def classify(response: RawResponse) -> RetrySignal | None:
            if response.status in policy.retry_statuses:
                return RetrySignal.from_response(response.status, response.headers)
            return None

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

        return {
            "idempotent": request.idempotent or request.method in ("GET", "HEAD"),
            "classify_result": classify,
            "on_retry": on_retry,
            "budget": bank.budget,
            "breaker": bank.breaker,
        }

    def _accept(self, bank: Bank, request: PreparedRequest, response: RawResponse) -> RawResponse:
        """The final reply, verified; or the typed error it maps to."""
        config, adapter = bank.config, bank.adapter
        try:
            if bank.verifier is not None and response.ok:
                try:
                    bank.verifier(response, self.clock())
                except SignatureError as exc:
                    # The bank answered 2xx: a write may have executed (see _journal_outcome).
                    exc.http_status = exc.http_status or response.status
                    raise
            if response.ok or response.status in request.accept_status:
                return response
            raise adapter.error_for(response) or self._default_error(config, response)
        except WalletLinkError as exc:
            annotate(exc, config.bank_id, adapter.request_id(response))
            raise

    @staticmethod
    def _default_error(config: BankConfig, response: RawResponse) -> WalletLinkError:
        context: dict[str, Any] = {"bank_id": config.bank_id, "http_status": response.status}
        if response.status == 429:
            return RateLimitedError("the bank is rate limiting", **context)
        if response.status >= 500:
            return BankUnavailableError(f"the bank answered HTTP {response.status}", **context)
        return BankRejectedError(f"the bank answered HTTP {response.status}", **context)


def log_level(unresolved: bool) -> int:
    # One line per resolve run for the recovery job's log; louder when something is left.
    return logging.WARNING if unresolved else logging.INFO
