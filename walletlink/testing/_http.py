"""HTTP plumbing for mock banks: the request/response values, an in-process ``requests``
transport adapter, and a loopback ``ThreadingHTTPServer`` with optional (mutual) TLS.

Both transports run the same exchange: decide the request's fault, execute (or not) at the
bank, and then either answer or break the connection. The in-process adapter breaks it by
raising the exact exceptions ``requests`` raises for a real socket, so the client's error
mapping is exercised without a network; the loopback server breaks a real socket.
"""

from __future__ import annotations

import contextlib
import enum
import io
import json
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import attrs
import requests
from cryptography import x509
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPResponse
from urllib3.connection import HTTPConnection
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError
from urllib3.util import Timeout

from walletlink.testing.clock import FakeClock
from walletlink.testing.faults import FaultDecision, FaultKind

__all__ = [
    "Broken",
    "Exchange",
    "Headers",
    "InProcessAdapter",
    "LoopbackServer",
    "MockRequest",
    "MockResponse",
    "ServerTLS",
    "exchange",
    "respond",
]

#: Loopback latency is real time, so it is capped: tests stay fast and still interleave.
LOOPBACK_LATENCY_CAP = 0.05


class Headers(Mapping[str, str]):
    """Read-only headers with case-insensitive lookup; iteration keeps the original names."""

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            self._items[name.lower()] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


def _headers(value: Mapping[str, str] | Iterable[tuple[str, str]]) -> Headers:
    return value if isinstance(value, Headers) else Headers(value)


def _query(value: Mapping[str, Iterable[str]]) -> Mapping[str, tuple[str, ...]]:
    return {name: tuple(values) for name, values in value.items()}


def _upper(value: str) -> str:
    return value.upper()


@attrs.frozen(kw_only=True)
class MockRequest:
    """One request as a mock bank sees it. ``path`` is still percent-encoded."""

    method: str = attrs.field(converter=_upper)
    path: str
    query: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, converter=_query)
    headers: Headers = attrs.field(factory=Headers, converter=_headers)
    body: bytes = b""
    url: str
    client_cert: x509.Certificate | None = None

    @classmethod
    def build(
        cls,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        client_cert: x509.Certificate | None = None,
    ) -> MockRequest:
        parts = urlsplit(url)
        return cls(
            method=method,
            path=parts.path or "/",
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=Headers(headers),
            body=body,
            url=url,
            client_cert=client_cert,
        )

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else None


@attrs.frozen(kw_only=True)
class MockResponse:
    status: int
    headers: Headers = attrs.field(factory=Headers, converter=_headers)
    body: bytes = b""

    @classmethod
    def json(
        cls, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> MockResponse:
        """A JSON response; the same payload always serialises to the same bytes."""
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return cls(
            status=status,
            headers={"Content-Type": "application/json", **(headers or {})},
            body=body,
        )

    def with_headers(self, **extra: str) -> MockResponse:
        """A copy with headers added (``Idempotent_Replayed`` → ``Idempotent-Replayed``)."""
        merged = dict(self.headers.items())
        merged.update({name.replace("_", "-"): value for name, value in extra.items()})
        return attrs.evolve(self, headers=merged)


class Exchange(Protocol):
    """What a transport needs from a mock bank."""

    @property
    def clock(self) -> FakeClock: ...

    def decide(self, method: str) -> FaultDecision:
        """Draw the next request's fault (and count it)."""
        ...

    def handle(self, request: MockRequest) -> MockResponse:
        """Execute one request at the bank, without faults."""
        ...

    def fault_response(self, kind: FaultKind) -> MockResponse:
        """The protocol's answer for an injected 429, 500 or 503."""
        ...


_ERROR_STATUS_FAULTS = frozenset(
    {FaultKind.RATE_LIMIT, FaultKind.SERVER_ERROR, FaultKind.UNAVAILABLE}
)


def respond(bank: Exchange, decision: FaultDecision, request: MockRequest) -> MockResponse | None:
    """Run one request through its fault; ``None`` means no reply reaches the client.

    ``connect_refused`` is the transport's business (nothing reaches the bank), so it is not
    handled here.
    """
    kind = decision.kind
    if kind is FaultKind.RESET_BEFORE_COMMIT:
        return None
    if kind in _ERROR_STATUS_FAULTS:
        assert kind is not None
        return bank.fault_response(kind)
    response = bank.handle(request)
    if kind is FaultKind.RESET_AFTER_COMMIT or kind is FaultKind.DROP_RESPONSE_AFTER_COMMIT:
        return None
    if kind is FaultKind.MALFORMED_BODY and 200 <= response.status < 300:
        # Cut the JSON in half but keep HTTP framing valid: the client gets a complete
        # 2xx whose body does not parse, the "executed but unreadable" case.
        return attrs.evolve(response, body=response.body[: len(response.body) // 2])
    return response


# -- in process ---------------------------------------------------------------------------


class Broken(enum.Enum):
    """How an in-process exchange failed, for each transport to raise its own error."""

    REFUSED = "refused"  # nothing reached the bank
    TIMED_OUT = "timed_out"  # sent; no reply within the read timeout
    RESET = "reset"  # sent; the connection dropped


def exchange(
    bank: Exchange, mock: MockRequest, read_timeout: float | None
) -> MockResponse | Broken:
    """One in-process request through its fault: the reply, or how the connection broke.

    Latency advances the bank's fake clock; latency beyond the read timeout executes the
    request and then times out, as a slow bank would.
    """
    decision = bank.decide(mock.method)
    if decision.kind is FaultKind.CONNECT_REFUSED:
        return Broken.REFUSED
    bank.clock.advance(decision.latency)
    response = respond(bank, decision, mock)
    if read_timeout is not None and decision.latency > read_timeout:
        return Broken.TIMED_OUT
    if response is None:
        if decision.kind is FaultKind.DROP_RESPONSE_AFTER_COMMIT:
            return Broken.TIMED_OUT
        return Broken.RESET
    return response


def _read_timeout(timeout: object) -> float | None:
    if isinstance(timeout, tuple):
        timeout = timeout[1]
    if isinstance(timeout, Timeout):
        timeout = timeout.read_timeout
    return float(timeout) if isinstance(timeout, int | float) else None


def _pool(url: str) -> HTTPConnectionPool:
    parts = urlsplit(url)
    return HTTPConnectionPool(parts.hostname or "localhost", parts.port)


class InProcessAdapter(HTTPAdapter):
    """A ``requests`` transport that hands requests to a mock bank in the same process.

    Faults become the exceptions ``requests`` raises for a real socket: a refused connection
    is a ``ConnectionError`` around ``MaxRetryError(NewConnectionError)``, a reset is a
    ``ConnectionError`` around ``ProtocolError("Connection aborted.", ConnectionResetError)``,
    a lost reply is a ``ReadTimeout``. Latency advances the bank's fake clock; latency beyond
    the read timeout executes the request and then times out.
    """

    def __init__(self, bank: Exchange) -> None:
        super().__init__(max_retries=0)
        self.bank = bank

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        url = request.url or ""
        body = request.body or b""
        mock = MockRequest.build(
            request.method or "GET",
            url,
            headers=request.headers,
            body=body.encode() if isinstance(body, str) else bytes(body),
            client_cert=_configured_cert(cert),
        )
        read_timeout = _read_timeout(timeout)
        answer = exchange(self.bank, mock, read_timeout)
        if answer is Broken.REFUSED:
            raise _connect_refused(request)
        if answer is Broken.TIMED_OUT:
            raise _read_timed_out(request, read_timeout)
        if answer is Broken.RESET:
            raise _connection_reset(request)
        return self._build(request, answer)

    def _build(
        self, request: requests.PreparedRequest, response: MockResponse
    ) -> requests.Response:
        headers = dict(response.headers.items())
        headers.setdefault("Content-Length", str(len(response.body)))
        raw = HTTPResponse(
            body=io.BytesIO(response.body),
            headers=headers,
            status=response.status,
            preload_content=False,
            decode_content=False,
            request_url=request.url,
        )
        return self.build_response(request, raw)


def _configured_cert(
    cert: bytes | str | tuple[bytes | str, bytes | str] | None,
) -> x509.Certificate | None:
    """The client certificate the session was given, so an in-process bank sees the same
    identity as a loopback one behind mutual TLS (no handshake proves possession here)."""
    path = cert[0] if isinstance(cert, tuple) else cert
    if path is None:
        return None
    pem = Path(path.decode() if isinstance(path, bytes) else path).read_bytes()
    return x509.load_pem_x509_certificate(pem)


def _connect_refused(request: requests.PreparedRequest) -> requests.ConnectionError:
    url = request.url or ""
    pool = _pool(url)
    try:
        reason = NewConnectionError(
            HTTPConnection(pool.host, pool.port),
            "Failed to establish a new connection: [Errno 111] Connection refused",
        )
        return requests.ConnectionError(MaxRetryError(pool, url, reason), request=request)
    finally:
        pool.close()


def _connection_reset(request: requests.PreparedRequest) -> requests.ConnectionError:
    reset = ConnectionResetError(104, "Connection reset by peer")
    return requests.ConnectionError(ProtocolError("Connection aborted.", reset), request=request)


def _read_timed_out(
    request: requests.PreparedRequest, read_timeout: float | None
) -> requests.ReadTimeout:
    url = request.url or ""
    pool = _pool(url)
    try:
        error = ReadTimeoutError(pool, url, f"Read timed out. (read timeout={read_timeout})")
        return requests.ReadTimeout(error, request=request)
    finally:
        pool.close()


# -- loopback -----------------------------------------------------------------------------


def _pem(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


@attrs.frozen(kw_only=True)
class ServerTLS:
    """TLS for a loopback mock bank; with ``client_ca_pem`` every client must present a
    certificate issued by that CA (mutual TLS, as Open Banking and PSD2 banks require)."""

    cert_chain_pem: bytes = attrs.field(converter=_pem)
    key_pem: bytes = attrs.field(converter=_pem, repr=False)
    client_ca_pem: bytes | None = attrs.field(
        default=None, converter=attrs.converters.optional(_pem)
    )

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # load_cert_chain reads files only; the key lives on disk for the blink of a load.
        with tempfile.TemporaryDirectory() as directory:
            chain, key = Path(directory, "chain.pem"), Path(directory, "key.pem")
            chain.write_bytes(self.cert_chain_pem)
            key.write_bytes(self.key_pem)
            context.load_cert_chain(chain, key)
        if self.client_ca_pem is not None:
            context.load_verify_locations(cadata=self.client_ca_pem.decode())
            context.verify_mode = ssl.CERT_REQUIRED
        return context


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the client's connection pool is exercised
    # Headers and body go out in separate writes: with Nagle on, the client's delayed ACK
    # stalls every reply by ~40 ms on loopback.
    disable_nagle_algorithm = True
    timeout = 30  # an idle keep-alive connection is dropped after this long
    server: LoopbackServer

    def setup(self) -> None:
        self.client_cert: x509.Certificate | None = None
        if isinstance(self.request, ssl.SSLSocket):
            # The handshake runs here, in the connection's own thread, so one slow or bad
            # client cannot stall the accept loop.
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
            der = self.request.getpeercert(binary_form=True)
            if der:
                self.client_cert = x509.load_der_x509_certificate(der)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a test's output is no place for an access log."""

    def _dispatch(self) -> None:
        bank = self.server.bank
        decision = bank.decide(self.command)
        if decision.kind is FaultKind.CONNECT_REFUSED:
            # A socket cannot be refused after accept(); dropping it unread is the closest.
            self._abort(reset=True)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        time.sleep(min(decision.latency, LOOPBACK_LATENCY_CAP))
        request = MockRequest.build(
            self.command,
            self.server.url + self.path,
            headers=list(self.headers.items()),
            body=body,
            client_cert=self.client_cert,
        )
        response = respond(bank, decision, request)
        if response is None:
            self._abort(reset=decision.kind is not FaultKind.DROP_RESPONSE_AFTER_COMMIT)
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def _abort(self, *, reset: bool) -> None:
        """Close without answering; with ``reset`` the peer gets an RST instead of a FIN."""
        self.close_connection = True
        if reset:
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class LoopbackServer(ThreadingHTTPServer):
    """A threaded HTTP/1.1 server for one mock bank, optionally behind (mutual) TLS."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 resets a burst of concurrent connects (an asyncio
    # client opening its pool at once); real front ends queue far more.
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], bank: Exchange, tls: ssl.SSLContext | None = None
    ) -> None:
        self.bank = bank
        self.tls = tls
        self._connections: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        self._tracking = threading.Lock()
        self.errors: list[BaseException] = []
        super().__init__(address, _Handler)
        host, port = self.server_address[:2]
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://{host!s}:{port}"

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._tracking:
            self._connections.add(request)
            self._workers.add(threading.current_thread())
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._tracking:
                self._connections.discard(request)
                self._workers.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Handshake failures and clients that hang up are part of the tests, not noise for
        # stderr; keep them for inspection instead.
        error = sys.exc_info()[1]
        if error is not None:
            self.errors.append(error)

    def close(self) -> None:
        """Stop accepting, cut open keep-alive connections, and wait for their threads."""
        self.shutdown()
        with self._tracking:
            connections = list(self._connections)
            workers = list(self._workers)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)
        for worker in workers:
            worker.join(timeout=5)
        self.server_close()
