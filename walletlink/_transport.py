"""One HTTP exchange: a PreparedRequest in, a RawResponse (or a typed error) out.

The transport owns the ``requests`` Session (connection pooling), per-bank timeouts and
client certificates, and maps every ``requests``/``urllib3`` failure onto the error tree,
because that mapping decides what is safe to retry:

* the connection could not be opened → :class:`ConnectError` (the bank never saw it);
* sent, then no reply in time → :class:`TransportTimeoutError`;
* sent, then the connection dropped → :class:`ConnectionLostError`;
* TLS failures → :class:`TransportError` (never retried: a bad certificate stays bad), whose
  message names the reason (untrusted CA, expired, wrong host, client certificate wanted)
  and whose ``__cause__`` is the ``requests`` error holding the ``ssl`` one; a bank that
  hangs up mid-TLS without saying why is a :class:`ConnectionLostError`, because that may
  happen after it served the request.

TLS verification has no off switch: ``verify`` is ``True`` or a CA bundle path.

Replies are streamed and their *decoded* bytes counted: a body beyond
``BankConfig.max_response_bytes`` (or a ``Content-Length`` declaring one) is refused with
:class:`ProtocolError` before it is held in memory, so a gzip bomb costs a few chunks, not
its expanded size. urllib3 (>= 2.6) bounds each decompression step to the chunk asked for.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode, urljoin

import requests
import urllib3.exceptions

from walletlink._redact import RedactingFilter, redact_headers, redact_url
from walletlink._tls import (
    abrupt_close_hint,
    describe_tls_failure,
    find_ssl_error,
    is_abrupt_close,
    is_handshake_refusal,
)
from walletlink.config import BankConfig, Timeout
from walletlink.errors import (
    ConnectError,
    ConnectionLostError,
    ProtocolError,
    TransportError,
    TransportTimeoutError,
)
from walletlink.http import PreparedRequest, RawResponse

__all__ = ["Transport", "logger"]

logger = logging.getLogger("walletlink")
if not any(isinstance(f, RedactingFilter) for f in logger.filters):
    logger.addFilter(RedactingFilter())
    # A library leaves output to the application: without its own handler, Python would
    # print warnings to stderr through its last-resort handler.
    logger.addHandler(logging.NullHandler())

_USER_AGENT = "walletlink/0.1"
# Decoded bytes taken per read: the most a single step of a hostile reply can cost.
CHUNK = 64 * 1024


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """Whether the failure happened before the request could have reached the bank."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
            return True
        if isinstance(current, urllib3.exceptions.MaxRetryError):
            stack.append(current.reason)
        stack.extend(arg for arg in current.args if isinstance(arg, BaseException))
        stack.append(current.__cause__)
        stack.append(current.__context__)
    return False


class CappedBody:
    """A reply body gathered chunk by chunk, refused once it passes
    ``config.max_response_bytes`` (or as soon as its ``Content-Length`` declares more)."""

    def __init__(self, config: BankConfig, status: int, declared: str | None) -> None:
        self.config, self.status = config, status
        self.cap = config.max_response_bytes
        self.chunks: list[bytes] = []
        self.size = 0
        declared = declared or ""
        if declared.strip().isdigit() and int(declared) > self.cap:
            self._refuse(f"declares {int(declared)} bytes, over the {self.cap}-byte limit")

    def add(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.size += len(chunk)
        if self.size > self.cap:
            self._refuse(f"exceeds the {self.cap}-byte limit (max_response_bytes)")

    def body(self) -> bytes:
        return self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)

    def _refuse(self, why: str) -> None:
        raise ProtocolError(
            f"the bank's reply {why}", bank_id=self.config.bank_id, http_status=self.status
        )


def _read_capped(reply: requests.Response, config: BankConfig) -> bytes:
    """The decoded body, refused once it passes ``config.max_response_bytes``."""
    capped = CappedBody(config, reply.status_code, reply.headers.get("Content-Length"))
    try:
        for chunk in reply.iter_content(chunk_size=CHUNK):
            capped.add(chunk)
    except requests.exceptions.ContentDecodingError:
        encoding = reply.headers.get("Content-Encoding", "")
        raise ProtocolError(
            f"the bank's reply is not valid {encoding or 'encoded'} data",
            bank_id=config.bank_id,
            http_status=reply.status_code,
        ) from None
    except requests.exceptions.RequestException:
        # The bank answered (the status line is in), so it served the request: whatever
        # broke the body (a reset, a short read, a TLS record error, a stall) loses a reply.
        raise ConnectionLostError(
            "the connection dropped while the reply was read",
            bank_id=config.bank_id,
            http_status=reply.status_code,
        ) from None
    return capped.body()


def _tls_error(
    exc: requests.exceptions.RequestException, config: BankConfig
) -> TransportError | None:
    """A TLS failure with its reason, or None when ``exc`` is not about TLS."""
    found = find_ssl_error(exc)
    with_cert = config.client_cert is not None
    # A TLS 1.3 client writes its request before the bank has judged its certificate, so
    # the bank's refusal can surface as a ConnectionError: such a refusal proves that the
    # request was never served. Any other ssl error there may follow a served request.
    if not isinstance(exc, requests.exceptions.SSLError) and not is_handshake_refusal(found):
        return None
    if is_abrupt_close(found):
        hint = abrupt_close_hint(client_cert_configured=with_cert)
        return ConnectionLostError(
            f"the bank closed the TLS connection before the reply ({hint})",
            bank_id=config.bank_id,
        )
    reason = describe_tls_failure(exc)
    return TransportError(f"TLS handshake failed: {reason}", bank_id=config.bank_id)


def _transport_error(
    exc: requests.exceptions.RequestException, config: BankConfig
) -> TransportError:
    """The error-tree member for a non-TLS ``requests`` failure."""
    bank_id = config.bank_id
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return TransportTimeoutError("sent, but the bank did not answer in time", bank_id=bank_id)
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _never_connected(exc):
            return ConnectError("could not connect to the bank", bank_id=bank_id)
        return ConnectionLostError(
            "sent, but the connection dropped before the reply", bank_id=bank_id
        )
    return TransportError(f"HTTP request failed: {type(exc).__name__}", bank_id=bank_id)


def _private_session(shared: requests.Session | None) -> requests.Session:
    """The client's own session: the caller's is read, never changed.

    It uses the caller's transport adapters (mounted mock banks, pool settings), default
    headers, auth and cookies; it never picks up proxies or CA overrides from the
    environment behind the user's back (``trust_env`` off), whatever the caller's says.
    """
    session = requests.Session()
    if shared is not None:
        for prefix, adapter in shared.adapters.items():
            session.mount(prefix, adapter)
        session.headers.update(shared.headers)
        session.auth = shared.auth
        session.cookies = shared.cookies
    session.headers["User-Agent"] = _USER_AGENT
    session.trust_env = False
    return session


class Transport:
    """Sends prepared requests for one client. Thread-safe as ``requests.Session`` is.

    ``close()`` closes the client's session only: adapters shared with a caller's session
    are the caller's to close."""

    def __init__(self, session: requests.Session | None = None) -> None:
        self.session = _private_session(session)
        self._borrowed = {id(a) for a in session.adapters.values()} if session else set()

    def send(
        self,
        config: BankConfig,
        request: PreparedRequest,
        url: str,
        timeout: Timeout | None = None,
    ) -> RawResponse:
        """Perform exactly one attempt; the caller owns retries. ``timeout`` defaults to the
        bank's."""
        timeout = timeout or config.timeout
        shown = ""
        if logger.isEnabledFor(logging.DEBUG):
            query = f"?{urlencode(request.params)}" if request.params else ""
            shown = redact_url(url + query, request.sensitive)
            logger.debug(
                "→ %s %s %s headers=%s",
                config.bank_id,
                request.method,
                shown,
                redact_headers(request.headers),
            )
        try:
            reply = self.session.request(
                request.method,
                url,
                params=list(request.params) or None,
                data=request.body,
                headers=dict(request.headers),
                timeout=(timeout.connect, timeout.read),
                verify=config.ca_bundle or True,
                cert=config.client_cert,
                allow_redirects=False,
                stream=True,
            )
            try:
                body = _read_capped(reply, config)
            finally:
                reply.close()
        except requests.exceptions.RequestException as exc:
            tls = _tls_error(exc, config)
            if tls is not None:
                raise tls from exc  # the ssl error is the operator's full diagnosis
            # Other requests errors would add nothing but the URL, which may hold an account.
            raise _transport_error(exc, config) from None
        response = RawResponse(
            status=reply.status_code,
            headers=dict(reply.headers),
            body=body,
            url=url,
            request=request,
        )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "← %s %s %s headers=%s",
                config.bank_id,
                response.status,
                shown,
                redact_headers(response.headers),
            )
        return response

    @staticmethod
    def url_for(config: BankConfig, request: PreparedRequest) -> str:
        """The absolute URL: ``path`` joins ``base_url``; an absolute next-link stays on host."""
        if request.path.startswith(("https://", "http://")):
            base = config.base_url + "/"
            if not request.path.startswith(base):
                # A paginating link that points elsewhere would leak our credentials to it.
                raise TransportError(
                    "refusing to follow a link to another host", bank_id=config.bank_id
                )
            return request.path
        return urljoin(config.base_url + "/", request.path.lstrip("/"))

    def close(self) -> None:
        for adapter in self.session.adapters.values():
            if id(adapter) not in self._borrowed:
                adapter.close()
