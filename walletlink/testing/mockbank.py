"""The mock bank shell: one bank's clock, ledger, idempotency store, faults and webhooks,
spoken to through a pluggable protocol server.

:class:`MockBank` owns everything that is the same whatever the wire format; a *protocol
server* (``generic_rest`` today) turns HTTP requests into ledger calls and ledger changes
into webhooks. Protocol servers are registered by name, lazily by dotted path, so a new
protocol family adds its server without touching this module::

    register_protocol_server("acme_rest", "acme_mock.server:AcmeServer")

A bank is reached in one of two ways: :meth:`MockBank.mount` puts an in-process transport on
a ``requests.Session`` (no sockets, faults raise the exceptions a socket would), and
:meth:`MockBank.serve` listens on loopback, optionally behind mutual TLS.
"""

from __future__ import annotations

import base64
import importlib
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import attrs
import requests

from walletlink.accounts import AccountId, Iban, LocalAccount
from walletlink.config import BankConfig
from walletlink.errors import ConfigurationError, InvalidAccountError
from walletlink.money import Money
from walletlink.testing._http import (
    InProcessAdapter,
    LoopbackServer,
    MockRequest,
    MockResponse,
    ServerTLS,
)
from walletlink.testing.clock import FakeClock
from walletlink.testing.faults import FaultDecision, FaultInjector, FaultKind, FaultPlan
from walletlink.testing.idempotency import IdempotencyStore
from walletlink.testing.ledger import BankTransferView, Ledger

if TYPE_CHECKING:
    import httpx

    from walletlink.aio import AsyncClient

__all__ = [
    "MockBank",
    "OutgoingWebhook",
    "ProtocolServer",
    "ProtocolServerFactory",
    "ServedBank",
    "WebhookTarget",
    "protocol_servers",
    "register_protocol_server",
]

WebhookTarget: TypeAlias = Callable[[Mapping[str, str], bytes], None] | str | None
"""Where webhooks go: a callback ``(headers, body)``, a URL to POST to, or nowhere."""


@attrs.frozen(kw_only=True)
class OutgoingWebhook:
    """One signed event, ready to deliver; a duplicate delivery sends these exact bytes."""

    id: str
    headers: Mapping[str, str]
    body: bytes


class ProtocolServer(Protocol):
    """The protocol-specific half of a mock bank.

    A server with timers of its own may also define ``run_due(now) -> list[BankTransferView]``:
    :meth:`MockBank.settle` calls it after the ledger's, and notifies what it changed.
    """

    def handle(self, request: MockRequest) -> MockResponse:
        """Answer one request (authentication, routing, validation, execution)."""
        ...

    def fault_response(self, kind: FaultKind, retry_after: int) -> MockResponse:
        """The protocol's own answer for an injected 429, 500 or 503."""
        ...

    def webhooks_for(self, transfer: BankTransferView) -> list[OutgoingWebhook]:
        """The events to send for a transfer that just changed status."""
        ...


ProtocolServerFactory: TypeAlias = Callable[..., ProtocolServer]
"""Called as ``factory(bank, **protocol_options)``."""

_PROTOCOL_SERVERS: dict[str, ProtocolServerFactory | str] = {
    "berlin_group": "walletlink.protocols.berlin_group.mock:BerlinGroupServer",
    "generic_rest": "walletlink.protocols.generic_rest.mock:GenericRestServer",
    "cn_openapi": "walletlink.protocols.cn_openapi.mock:CnOpenApiServer",
    "cn_bank_sm": "walletlink.protocols.cn_bank_sm.mock:CnBankSmServer",
    "iso20022_h2h": "walletlink.protocols.iso20022_h2h.mock:Iso20022H2HServer",
    "openbanking_uk": "walletlink.protocols.openbanking_uk.mock:OpenBankingUkServer",
    "wechatpay_v3": "walletlink.protocols.wechatpay_v3.mock:WeChatPayV3Server",
}
_REGISTRY_LOCK = threading.Lock()


def register_protocol_server(name: str, factory: ProtocolServerFactory | str) -> None:
    """Make ``MockBank(name)`` build its server with ``factory`` (or ``"module:attr"``)."""
    with _REGISTRY_LOCK:
        _PROTOCOL_SERVERS[name] = factory


def protocol_servers() -> list[str]:
    """The protocol names a :class:`MockBank` can speak, sorted."""
    with _REGISTRY_LOCK:
        return sorted(_PROTOCOL_SERVERS)


def _load_factory(name: str) -> ProtocolServerFactory:
    with _REGISTRY_LOCK:
        entry = _PROTOCOL_SERVERS.get(name)
    if entry is None:
        known = ", ".join(protocol_servers())
        raise ConfigurationError(f"no mock bank speaks {name!r}; known protocols: {known}")
    if not isinstance(entry, str):
        return entry
    module_name, _, attribute = entry.partition(":")
    factory: ProtocolServerFactory = getattr(importlib.import_module(module_name), attribute)
    with _REGISTRY_LOCK:
        _PROTOCOL_SERVERS[name] = factory
    return factory


def _test_api_key() -> str:
    return "sk_test_" + secrets.token_urlsafe(24)


def _test_webhook_secret() -> str:
    # Standard Webhooks: "whsec_" + base64 of the key; 24+ random bytes as the spec asks.
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _account_id(account: AccountId | str) -> AccountId:
    if not isinstance(account, str):
        return account
    try:
        return Iban(account)
    except InvalidAccountError:
        return LocalAccount(account)


class MockBank:
    """A bank in a box: accounts and a ledger, a clock, idempotency, faults and webhooks.

    ``processing_after`` and ``settle_after`` (seconds on the bank's clock) drive the transfer
    lifecycle; transfers move only when :meth:`advance` (or :meth:`settle`) runs, so a client
    sleeping on the shared clock does not settle transfers behind a test's back.
    """

    def __init__(
        self,
        protocol: str = "generic_rest",
        *,
        bank_id: str = "mockbank",
        base_url: str = "https://mockbank.test",
        clock: FakeClock | None = None,
        faults: FaultPlan | None = None,
        api_key: str | None = None,
        webhook_secret: str | None = None,
        webhook_target: WebhookTarget = None,
        processing_after: float = 0,
        settle_after: float = 60,
        **protocol_options: Any,
    ) -> None:
        self.protocol = protocol
        self.bank_id = bank_id
        self.base_url = base_url.rstrip("/")
        self.clock = clock or FakeClock()
        self.faults = faults or FaultPlan.none()
        self.api_key = api_key or _test_api_key()
        self.webhook_secret = webhook_secret or _test_webhook_secret()
        self.webhook_target = webhook_target
        self.ledger = Ledger(processing_after=processing_after, settle_after=settle_after)
        self.idempotency: IdempotencyStore[MockResponse] = IdempotencyStore(self.clock.now)
        #: Every webhook delivery attempted, duplicates included, in delivery order.
        self.webhooks: list[OutgoingWebhook] = []
        #: Errors raised by the webhook target; the events stay queued for the next advance.
        self.webhook_errors: list[Exception] = []
        self._injector = FaultInjector(self.faults)
        self._stats: Counter[str] = Counter()
        self._queue: list[OutgoingWebhook] = []
        self._lock = threading.Lock()
        self._served: list[ServedBank] = []
        self.server = _load_factory(protocol)(self, **protocol_options)

    def __repr__(self) -> str:
        return f"MockBank({self.protocol!r}, bank_id={self.bank_id!r}, at {self.clock.now()})"

    # -- accounts -----------------------------------------------------------------------

    def open_account(
        self,
        account: AccountId | str,
        balance: Money | str = "0",
        currency: str | None = None,
        *,
        name: str = "",
        closed: bool = False,
    ) -> AccountId:
        """Open an account; a string is read as an IBAN if it is one, else as a local id."""
        opened = _account_id(account)
        if isinstance(balance, Money):
            if currency is not None and currency != balance.currency:
                raise ValueError(f"balance is in {balance.currency}, not {currency}")
            money = balance
        else:
            money = Money(balance, currency or "EUR")
        self.ledger.open_account(opened, money, name=name, closed=closed)
        return opened

    def close_account(self, account: AccountId | str) -> None:
        self.ledger.close_account(_account_id(account).value)

    def balance(self, account: AccountId | str) -> Money:
        """The booked balance."""
        return self.ledger.account(_account_id(account).value).booked

    def available(self, account: AccountId | str) -> Money:
        """The booked balance minus reservations of pending and processing transfers."""
        return self.ledger.account(_account_id(account).value).available

    # -- what clients see ---------------------------------------------------------------

    def config(self, **overrides: Any) -> BankConfig:
        """A :class:`BankConfig` for a client of this bank; keywords override fields."""
        fields: dict[str, Any] = {
            "bank_id": self.bank_id,
            "protocol": self.protocol,
            "base_url": self.base_url,
            "credentials": {"api_key": self.api_key, "webhook_secrets": [self.webhook_secret]},
        }
        # A protocol whose clients need other credentials (keys, client ids) supplies them.
        client_fields = getattr(self.server, "client_config_fields", None)
        if callable(client_fields):
            fields.update(client_fields())
        fields.update(overrides)
        return BankConfig(**fields)

    def handle(self, request: MockRequest) -> MockResponse:
        """Answer one request at the bank itself: no faults, no latency."""
        self.count("requests")
        return self.server.handle(request)

    def decide(self, method: str) -> FaultDecision:
        """Draw the fate of the next request from the fault plan (transports call this)."""
        decision = self._injector.decide(method)
        if decision.kind is not None:
            self.count(f"fault.{decision.kind.value}")
        return decision

    def set_faults(self, plan: FaultPlan) -> None:
        """Switch to another fault plan from the next request on (its own seeded sequence)."""
        self.faults = plan
        self._injector = FaultInjector(plan)

    def fault_response(self, kind: FaultKind) -> MockResponse:
        return self.server.fault_response(kind, self.faults.retry_after)

    def mount(self, session: requests.Session) -> None:
        """Route ``session``'s requests for :attr:`base_url` to this bank, in process."""
        session.mount(self.base_url + "/", InProcessAdapter(self))

    def httpx_transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport that hands requests to this bank in process (needs httpx:
        ``pip install 'walletlink[async]'``)."""
        try:
            from walletlink.testing._ahttp import InProcessAsyncTransport
        except ImportError as exc:  # httpx is an optional extra
            raise ConfigurationError("needs httpx: pip install 'walletlink[async]'") from exc
        return InProcessAsyncTransport(self)

    def mount_async(self, client: AsyncClient) -> None:
        """Route an :class:`~walletlink.AsyncClient`'s requests for :attr:`base_url` to
        this bank, in process: the async twin of :meth:`mount`."""
        client.mount(self.base_url + "/", self.httpx_transport())

    def serve(
        self, host: str = "127.0.0.1", port: int = 0, *, tls: ServerTLS | None = None
    ) -> ServedBank:
        """Listen on loopback in a background thread; close the result (or use ``with``)."""
        served = ServedBank(self, host, port, tls)
        with self._lock:
            self._served.append(served)
        return served

    def close(self) -> None:
        """Stop every server started by :meth:`serve`."""
        with self._lock:
            served, self._served = self._served, []
        for one in served:
            one.close()

    def __enter__(self) -> MockBank:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- time, settlement, webhooks ----------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move the clock, run every settlement step due, then deliver queued webhooks."""
        self.clock.advance(seconds)
        self.settle()
        self.deliver_webhooks()

    def settle(self) -> list[BankTransferView]:
        """Apply the status changes due on the clock now; their webhooks are queued."""
        now = self.clock.now()
        changes = self.ledger.run_due(now)
        # A protocol's own timers (a bill the user never confirmed expires, say) run here.
        timers = getattr(self.server, "run_due", None)
        if callable(timers):
            changes += timers(now)
        for transfer in changes:
            self.notify(transfer)
        return changes

    def notify(self, transfer: BankTransferView) -> None:
        """Queue the webhooks for a transfer that changed status (protocol servers call
        this when a request, such as a cancel, changes a transfer)."""
        events = self.server.webhooks_for(transfer)
        with self._lock:
            self._queue.extend(events)

    def pending_webhooks(self) -> list[OutgoingWebhook]:
        with self._lock:
            return list(self._queue)

    def deliver_webhooks(self) -> int:
        """Deliver the queue (duplicates and shuffling per the fault plan); returns the count
        of deliveries that succeeded. Failed ones stay queued."""
        with self._lock:
            batch, self._queue = self._queue, []
        delivered = 0
        failed: list[OutgoingWebhook] = []
        for webhook in self._injector.reorder(batch):
            copies = 2 if self._injector.duplicate_webhook() else 1
            if copies == 2:
                self.count("webhooks_duplicated")
            for _ in range(copies):
                if self._deliver(webhook):
                    delivered += 1
                elif webhook not in failed:
                    failed.append(webhook)
        with self._lock:
            self._queue[:0] = failed
        return delivered

    def _deliver(self, webhook: OutgoingWebhook) -> bool:
        self.webhooks.append(webhook)
        target = self.webhook_target
        try:
            if callable(target):
                target(webhook.headers, webhook.body)
            elif isinstance(target, str):
                answer = requests.post(
                    target, data=webhook.body, headers=dict(webhook.headers), timeout=5
                )
                answer.close()
                answer.raise_for_status()
        except Exception as error:  # any failure of the receiver means "deliver again later"
            self.webhook_errors.append(error)
            self.count("webhooks_failed")
            return False
        self.count("webhooks_sent")
        return True

    # -- bookkeeping -------------------------------------------------------------------

    def count(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._stats[name] += by

    @property
    def stats(self) -> Mapping[str, int]:
        """Counters: ``requests``, ``fault.<kind>``, ``replays``, ``webhooks_sent``, …"""
        with self._lock:
            return MappingProxyType(dict(self._stats))

    def transfers(self) -> list[BankTransferView]:
        """Every transfer this bank created, oldest first."""
        return self.ledger.transfers()

    @property
    def duplicates_at_bank(self) -> int:
        """Transfers beyond the first for one logical transfer (same debtor, same
        end-to-end id): what a client that pays twice leaves behind."""
        seen = Counter((t.debtor_key, t.end_to_end_id) for t in self.transfers())
        return sum(count - 1 for count in seen.values())


class ServedBank:
    """A :class:`MockBank` listening on loopback; closes with ``close()`` or ``with``."""

    def __init__(self, bank: MockBank, host: str, port: int, tls: ServerTLS | None) -> None:
        self.bank = bank
        self._server = LoopbackServer((host, port), bank, tls.context() if tls else None)
        self.url = self._server.url
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"mockbank-{bank.bank_id}",
            daemon=True,
        )
        self._thread.start()
        self._closed = False

    @property
    def errors(self) -> list[BaseException]:
        """Connection-level errors the server swallowed (failed handshakes, hang-ups)."""
        return list(self._server.errors)

    def config(self, **overrides: Any) -> BankConfig:
        """The bank's :meth:`MockBank.config` with ``base_url`` set to this server."""
        return self.bank.config(**{"base_url": self.url, **overrides})

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._server.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ServedBank:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
