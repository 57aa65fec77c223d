"""An in-process httpx transport for mock banks: :class:`~walletlink.AsyncClient` tests.

It runs the same exchange as the ``requests`` adapter in :mod:`walletlink.testing._http`
(:func:`~walletlink.testing._http.exchange`) and breaks the connection by raising the
errors httpx raises for a real socket: a refused connection is ``httpx.ConnectError``, a
reset ``httpx.ReadError``, a lost reply ``httpx.ReadTimeout``.
"""

from __future__ import annotations

from typing import Any

import httpx

from walletlink.testing._http import Broken, Exchange, MockRequest, _configured_cert, exchange

__all__ = ["CLIENT_CERT_EXTENSION", "InProcessAsyncTransport"]

#: The request extension where the async transport names the client certificate it was
#: configured with, so an in-process bank sees the same identity as a loopback one.
CLIENT_CERT_EXTENSION = "walletlink.client_cert"


def _read_timeout(request: httpx.Request) -> float | None:
    timeout: Any = request.extensions.get("timeout", {})
    value = timeout.get("read") if isinstance(timeout, dict) else None
    return float(value) if isinstance(value, int | float) else None


class InProcessAsyncTransport(httpx.AsyncBaseTransport):
    """Hands each request to a mock bank in the same process (see the module docstring)."""

    def __init__(self, bank: Exchange) -> None:
        self.bank = bank

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        mock = MockRequest.build(
            request.method,
            str(request.url),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
            body=body,
            client_cert=_configured_cert(request.extensions.get(CLIENT_CERT_EXTENSION)),
        )
        read_timeout = _read_timeout(request)
        answer = exchange(self.bank, mock, read_timeout)
        if answer is Broken.REFUSED:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if answer is Broken.TIMED_OUT:
            raise httpx.ReadTimeout(f"timed out (read timeout={read_timeout})", request=request)
        if answer is Broken.RESET:
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        headers = dict(answer.headers.items())
        headers.setdefault("Content-Length", str(len(answer.body)))
        return httpx.Response(
            answer.status,
            headers=list(headers.items()),
            stream=httpx.ByteStream(answer.body),
            request=request,
        )
