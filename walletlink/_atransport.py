"""One HTTP exchange over httpx, for :class:`~walletlink.AsyncClient`.

The same contract as :mod:`walletlink._transport` (read it first): one attempt, the error
tree decides what is safe to retry, TLS verification has no off switch, replies are
streamed and capped at ``BankConfig.max_response_bytes`` *decoded* bytes, redirects are
never followed, nothing is taken from the environment. httpx fixes TLS settings per client,
so there is one ``httpx.AsyncClient`` per (CA bundle, client certificate) pair, and one per
mounted transport (a mock bank's, in tests).

The URL on the wire is :func:`walletlink.http.wire_url` of the request, the very string the
signers signed, handed to httpx whole.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from typing import Any

import httpx

from walletlink._redact import redact_headers, redact_url
from walletlink._tls import describe_tls_failure, find_ssl_error
from walletlink._transport import _USER_AGENT, CHUNK, CappedBody, logger
from walletlink.config import BankConfig, Timeout
from walletlink.errors import (
    ConnectError,
    ConnectionLostError,
    ProtocolError,
    TransportError,
    TransportTimeoutError,
    WalletLinkError,
)
from walletlink.http import PreparedRequest, RawResponse, wire_url

__all__ = ["AsyncTransport"]

_CLIENT_CERT_EXTENSION = "walletlink.client_cert"


def _ssl_context(config: BankConfig) -> ssl.SSLContext:
    bundle = config.ca_bundle
    if bundle is not None and os.path.isdir(bundle):
        context = ssl.create_default_context(capath=bundle)
    else:
        context = ssl.create_default_context(cafile=bundle)
    cert = config.client_cert
    if isinstance(cert, tuple):
        context.load_cert_chain(cert[0], cert[1])
    elif cert is not None:
        context.load_cert_chain(cert)
    return context


def _error(exc: httpx.HTTPError, config: BankConfig) -> WalletLinkError:
    """The error-tree member for an httpx failure (see :mod:`walletlink._transport`)."""
    bank_id = config.bank_id
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return ConnectError("could not connect to the bank", bank_id=bank_id)
    if isinstance(exc, httpx.TimeoutException):
        return TransportTimeoutError("sent, but the bank did not answer in time", bank_id=bank_id)
    if isinstance(exc, httpx.ConnectError):
        if find_ssl_error(exc) is not None:
            return TransportError(
                f"TLS handshake failed: {describe_tls_failure(exc)}", bank_id=bank_id
            )
        return ConnectError("could not connect to the bank", bank_id=bank_id)
    if isinstance(exc, httpx.DecodingError):
        return ProtocolError("the bank's reply is not validly encoded data", bank_id=bank_id)
    if isinstance(exc, httpx.TransportError):
        return ConnectionLostError(
            "sent, but the connection dropped before the reply", bank_id=bank_id
        )
    return TransportError(f"HTTP request failed: {type(exc).__name__}", bank_id=bank_id)


def _headers(reply: httpx.Response) -> dict[str, str]:
    # The names as the bank sent them (httpx lower-cases its own view), repeated fields
    # joined as ``requests`` joins them.
    headers: dict[str, str] = {}
    for raw_name, raw_value in reply.headers.raw:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


async def _read_capped(reply: httpx.Response, config: BankConfig) -> bytes:
    capped = CappedBody(config, reply.status_code, reply.headers.get("Content-Length"))
    async for chunk in reply.aiter_bytes(CHUNK):
        capped.add(chunk)
    return capped.body()


class AsyncTransport:
    """Sends prepared requests for one :class:`~walletlink.AsyncClient`."""

    def __init__(self, max_connections: int = 100) -> None:
        self._limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._max_connections = max_connections
        self._mounts: dict[str, httpx.AsyncBaseTransport] = {}
        self._clients: dict[Any, tuple[httpx.AsyncClient, asyncio.Semaphore]] = {}

    def mount(self, prefix: str, transport: httpx.AsyncBaseTransport) -> None:
        """Send requests whose URL starts with ``prefix`` through ``transport``."""
        self._mounts[prefix] = transport

    def _client(self, config: BankConfig, url: str) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        prefixes = [prefix for prefix in self._mounts if url.startswith(prefix)]
        key: Any = max(prefixes, key=len) if prefixes else (config.ca_bundle, config.client_cert)
        found = self._clients.get(key)
        if found is None:
            options: dict[str, Any] = {
                "trust_env": False,
                "follow_redirects": False,
                "limits": self._limits,
            }
            if prefixes:
                options["transport"] = self._mounts[key]
            else:
                # As urllib3 does: without TCP_NODELAY, a request written in two segments
                # (headers, then body) waits out the bank's delayed ACK, ~40 ms a call.
                options["transport"] = httpx.AsyncHTTPTransport(
                    verify=_ssl_context(config),
                    limits=self._limits,
                    trust_env=False,
                    socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
                )
            # Requests beyond the pool wait here, not in httpcore's queue, whose hand-out
            # costs time quadratic in the number of waiters.
            gate = asyncio.Semaphore(self._max_connections)
            found = self._clients[key] = (httpx.AsyncClient(**options), gate)
        return found

    async def send(
        self, config: BankConfig, request: PreparedRequest, url: str, timeout: Timeout
    ) -> RawResponse:
        """Perform exactly one attempt; the caller owns retries."""
        target = wire_url(url, request.params)
        shown = redact_url(target, request.sensitive) if logger.isEnabledFor(logging.DEBUG) else ""
        logger.debug(
            "→ %s %s %s headers=%s",
            config.bank_id,
            request.method,
            shown,
            redact_headers(request.headers),
        )
        client, gate = self._client(config, target)
        outgoing = client.build_request(
            request.method,
            target,
            content=request.body,
            headers={"User-Agent": _USER_AGENT, **dict(request.headers)},
            timeout=httpx.Timeout(timeout.read, connect=timeout.connect, pool=timeout.connect),
            extensions={_CLIENT_CERT_EXTENSION: config.client_cert},
        )
        try:
            async with gate:
                reply = await client.send(outgoing, stream=True)
                try:
                    body = await _read_capped(reply, config)
                finally:
                    await reply.aclose()
        except httpx.HTTPError as exc:
            error = _error(exc, config)
            if type(error) is TransportError and find_ssl_error(exc) is not None:
                raise error from exc  # the ssl error is the operator's full diagnosis
            raise error from None
        response = RawResponse(
            status=reply.status_code, headers=_headers(reply), body=body, url=url, request=request
        )
        logger.debug(
            "← %s %s %s headers=%s",
            config.bank_id,
            response.status,
            shown,
            redact_headers(response.headers),
        )
        return response

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client, _ in clients:
            await client.aclose()
