"""The adapter interface: adapters translate, the client does the I/O.

An adapter never opens a socket. Each operation is a *flow*: a generator that yields the
:class:`PreparedRequest` it needs sent, receives the :class:`RawResponse`, and finally
returns the parsed result. The client drives the flow: it signs each request, sends it
through its session with retries, journals it and logs it with secrets redacted. Multi-step
protocols (consent → authorise → payment) and pagination are just longer flows::

    def get_transfer(self, ref):
        response = yield PreparedRequest("GET", f"/transfers/{ref.bank_transfer_id}")
        return self._parse_transfer(response)

Capabilities are data: an adapter lists them in ``capabilities`` and the client refuses any
call outside the list before sending anything. Likewise :meth:`Adapter.validate` refuses a
transfer the protocol cannot carry before the client journals it, so a refusal never leaves
a journal row behind.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from datetime import date, datetime
from typing import ClassVar, Generic, Protocol, TypeAlias, TypeVar, runtime_checkable

import attrs

from walletlink.accounts import AccountId
from walletlink.config import BankConfig
from walletlink.http import PreparedRequest, RawResponse
from walletlink.models import (
    Balance,
    Capability,
    Event,
    Transaction,
    Transfer,
    TransferRequest,
)

__all__ = [
    "AccountInformation",
    "Adapter",
    "BatchPayments",
    "Cancellation",
    "Flow",
    "Notifications",
    "Page",
    "Payments",
    "RequestSigner",
    "ResponseVerifier",
    "Statements",
    "TransferRef",
]

T = TypeVar("T")


Flow: TypeAlias = Generator[PreparedRequest, RawResponse, T]


@attrs.frozen(kw_only=True)
class TransferRef:
    """How to find a transfer at the bank: by its bank id, or by our own references."""

    transfer_id: str
    bank_transfer_id: str | None = None
    idempotency_key: str | None = None
    end_to_end_id: str | None = None


@attrs.frozen(kw_only=True)
class Page(Generic[T]):
    """One page of results and the cursor (or URL) of the next, ``None`` on the last page."""

    items: tuple[T, ...]
    next_cursor: str | None = None


class RequestSigner(Protocol):
    """Adds signature headers to a request just before it is sent (once per attempt)."""

    def __call__(self, request: PreparedRequest, url: str, now: datetime) -> PreparedRequest: ...


class ResponseVerifier(Protocol):
    """Raises a :class:`SignatureError` subclass if a reply's signature does not verify."""

    def __call__(self, response: RawResponse, now: datetime) -> None: ...


@runtime_checkable
class Payments(Protocol):
    def create_transfer(self, request: TransferRequest, transfer_id: str) -> Flow[Transfer]: ...

    def get_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer]: ...

    def find_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer | None]:
        """Look a transfer up by idempotency key or end-to-end id after an unknown outcome."""
        ...


@runtime_checkable
class BatchPayments(Protocol):
    def create_transfers(
        self,
        requests: Sequence[TransferRequest],
        transfer_ids: Sequence[str],
        created_at: datetime,
    ) -> Flow[list[Transfer]]:
        """Send several transfers as one write (one bank file), in the order given.

        ``created_at`` is when the intents were journalled: the adapter writes it instead of
        "now" so that re-sending the same intents sends the same bytes.
        """
        ...


@runtime_checkable
class Cancellation(Protocol):
    def cancel_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer]: ...


@runtime_checkable
class AccountInformation(Protocol):
    def balances(self, account: AccountId) -> Flow[list[Balance]]: ...

    def transactions_page(
        self, account: AccountId, date_from: date, date_to: date, cursor: str | None
    ) -> Flow[Page[Transaction]]: ...


@runtime_checkable
class Notifications(Protocol):
    def parse_notification(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Event:
        """Verify the notification's signature over the raw bytes, then parse it."""
        ...

    def notification_ack(self, event: Event) -> tuple[int, Mapping[str, str], bytes]: ...


@runtime_checkable
class Statements(Protocol):
    def statement(self, account: AccountId, day: date, **options: str) -> Flow[bytes]:
        """The raw statement file of ``account`` for ``day``; ``options`` are protocol
        specific (``kind="camt.054"`` for ISO 20022 host-to-host)."""
        ...


class Adapter:
    """Base class of every adapter. Subclasses set ``protocol`` and ``capabilities``.

    The constructor receives the validated :class:`BankConfig`; an adapter reads its
    credentials and options from it and raises :class:`ConfigurationError` for what is
    missing, so a misconfigured bank fails when the client starts, not on the first payment.
    """

    protocol: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    #: Reply headers that carry the bank's id of an exchange, first found wins. The client
    #: puts it on errors (``request_id``) so support at the bank can find the call.
    request_id_headers: ClassVar[tuple[str, ...]] = ("X-Request-ID", "Request-Id")

    def __init__(self, config: BankConfig) -> None:
        self.config = config

    def signer(self) -> RequestSigner | None:
        """The hook that signs outgoing requests, or ``None`` when the protocol has none.

        The client asks once, when it starts, and calls the hook on every attempt."""
        return None

    def response_verifier(self) -> ResponseVerifier | None:
        """The hook that verifies signed replies, or ``None`` when replies are not signed.

        Like :meth:`signer`, asked once when the client starts."""
        return None

    def error_for(self, response: RawResponse) -> Exception | None:
        """Map a non-2xx reply onto the error tree; ``None`` lets the client use defaults."""
        return None

    def request_id(self, response: RawResponse) -> str | None:
        """The bank's id of this exchange (see :attr:`request_id_headers`), if it sent one."""
        for name in self.request_id_headers:
            value = response.header(name)
            if value:
                return value[:128]
        return None

    def validate(self, request: TransferRequest) -> None:
        """Refuse, before anything is journalled or sent, a transfer this bank cannot carry.

        Pure: no I/O, no state, the same answer every time for the same request. The client
        calls it for every request of :meth:`Client.transfer` and
        :meth:`Client.transfer_batch` before the first journal write, so a refused request
        leaves no journal row. Raise a :class:`~walletlink.errors.ValidationError` naming
        the problem. Subclasses call ``super().validate(request)`` and then check what
        their wire needs, preferably by building the request body as a dry run so the
        check and the builder can never drift apart.

        The base class accepts everything: what every protocol refuses (control characters,
        lone surrogates, over-long text, keys that cannot travel in a header) is refused by
        :class:`~walletlink.TransferRequest` itself, through :mod:`walletlink.text`.
        """

    def validate_batch(self, requests: Sequence[TransferRequest]) -> None:
        """:meth:`validate` for one batch write: each request, then what the batch as a
        whole must satisfy (a file-based adapter builds the file as a dry run)."""
        for request in requests:
            self.validate(request)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} bank={self.config.bank_id!r}>"
