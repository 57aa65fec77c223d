"""One HTTP exchange: a PreparedRequest in, a RawResponse (or a typed error) out.

The transport owns the ``requests`` Session (connection pooling), per-bank timeouts and
client certificates, and maps every ``requests``/``urllib3`` failure onto the error tree,
because that mapping decides what is safe to retry:

* the connection could not be opened → :class:`ConnectError` (the bank never saw it);
* sent, then no reply in time → :class:`TransportTimeoutError`;
* sent, then the connection dropped → :class:`ConnectionLostError`;
* TLS failures → :class:`TransportError` (never retried: a bad certificate stays bad).

TLS verification has no off switch: ``verify`` is ``True`` or a CA bundle path.
"""

from __future__ import annotations

import logging
from urllib.parse import urljoin

import requests
import urllib3.exceptions

from walletlink._redact import RedactingFilter, redact_headers
from walletlink.config import BankConfig
from walletlink.errors import (
    ConnectError,
    ConnectionLostError,
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
# Connect fast, read patiently: a slow connect means the bank is unreachable, while a slow
# read may be a payment being executed.
_CONNECT_TIMEOUT = 5.0


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


class Transport:
    """Sends prepared requests for one client. Thread-safe as ``requests.Session`` is."""

    def __init__(self, session: requests.Session | None = None) -> None:
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = _USER_AGENT
        # Never pick up proxies or CA overrides from the environment behind the user's back.
        self.session.trust_env = False

    def send(self, config: BankConfig, request: PreparedRequest, url: str) -> RawResponse:
        """Perform exactly one attempt; the caller owns retries."""
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "→ %s %s %s headers=%s",
                config.bank_id,
                request.method,
                url,
                redact_headers(request.headers),
            )
        try:
            reply = self.session.request(
                request.method,
                url,
                params=list(request.params) or None,
                data=request.body,
                headers=dict(request.headers),
                timeout=(_CONNECT_TIMEOUT, config.timeout),
                verify=config.ca_bundle or True,
                cert=config.client_cert,
                allow_redirects=False,
            )
        except requests.exceptions.SSLError as exc:
            raise TransportError(
                f"TLS handshake failed: {type(exc).__name__}", bank_id=config.bank_id
            ) from None
        except requests.exceptions.ReadTimeout:
            raise TransportTimeoutError(
                "sent, but the bank did not answer in time", bank_id=config.bank_id
            ) from None
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                raise ConnectError(
                    "could not connect to the bank", bank_id=config.bank_id
                ) from None
            raise ConnectionLostError(
                "sent, but the connection dropped before the reply", bank_id=config.bank_id
            ) from None
        except requests.exceptions.RequestException as exc:
            raise TransportError(
                f"HTTP request failed: {type(exc).__name__}", bank_id=config.bank_id
            ) from None
        response = RawResponse(
            status=reply.status_code,
            headers=dict(reply.headers),
            body=reply.content,
            url=url,
            request=request,
        )
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "← %s %s %s headers=%s",
                config.bank_id,
                response.status,
                url,
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
        self.session.close()
