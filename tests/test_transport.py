"""The transport's failure mapping decides what is safe to retry, so it is tested directly."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
import requests
import requests.adapters
import urllib3.exceptions

from walletlink._transport import Transport
from walletlink.config import BankConfig
from walletlink.errors import (
    ConnectError,
    ConnectionLostError,
    TransportError,
    TransportTimeoutError,
)
from walletlink.http import PreparedRequest

CONFIG = BankConfig(bank_id="acme", protocol="generic_rest", base_url="https://bank.example/api")


class Scripted(requests.adapters.BaseAdapter):
    def __init__(self, action: Callable[[requests.PreparedRequest], requests.Response]) -> None:
        super().__init__()
        self.action = action
        self.seen: list[dict[str, Any]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.seen.append({"request": request, **kwargs})
        return self.action(request)

    def close(self) -> None:
        pass


def ok(request: requests.PreparedRequest) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = b'{"ok": true}'
    response.headers["Content-Type"] = "application/json"
    response.url = request.url or ""
    return response


def raising(exc: BaseException) -> Callable[[requests.PreparedRequest], requests.Response]:
    def action(request: requests.PreparedRequest) -> requests.Response:
        raise exc

    return action


def transport_with(
    action: Callable[[requests.PreparedRequest], requests.Response],
) -> tuple[Transport, Scripted]:
    transport = Transport()
    adapter = Scripted(action)
    transport.session.mount("https://bank.example", adapter)
    return transport, adapter


def test_sends_exact_bytes_with_verification_on() -> None:
    transport, adapter = transport_with(ok)
    request = PreparedRequest(method="POST", path="/v1/x", body=b'{"a":1}', params=(("p", "1"),))
    response = transport.send(CONFIG, request, transport.url_for(CONFIG, request))
    sent = adapter.seen[0]
    assert response.status == 200
    assert sent["request"].body == b'{"a":1}'
    assert sent["request"].url == "https://bank.example/api/v1/x?p=1"
    assert sent["verify"] is True
    assert sent["timeout"] == (5.0, 30.0)


def connection_error(reason: BaseException) -> requests.exceptions.ConnectionError:
    pool_error = urllib3.exceptions.MaxRetryError(None, "/", reason)  # type: ignore[arg-type]
    return requests.exceptions.ConnectionError(pool_error)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            connection_error(urllib3.exceptions.NewConnectionError(None, "refused")),  # type: ignore[arg-type]
            ConnectError,
        ),
        (requests.exceptions.ConnectTimeout(), ConnectError),
        (
            connection_error(
                urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError())
            ),
            ConnectionLostError,
        ),
        (requests.exceptions.ReadTimeout(), TransportTimeoutError),
        (requests.exceptions.SSLError("bad certificate"), TransportError),
    ],
)
def test_failures_map_onto_the_error_tree(exc: BaseException, expected: type[Exception]) -> None:
    transport, _ = transport_with(raising(exc))
    request = PreparedRequest(method="GET", path="/v1/x")
    with pytest.raises(expected) as info:
        transport.send(CONFIG, request, transport.url_for(CONFIG, request))
    assert type(info.value) is expected
    assert info.value.bank_id == "acme"


def test_links_to_other_hosts_are_refused() -> None:
    request = PreparedRequest(method="GET", path="https://evil.example/steal")
    with pytest.raises(TransportError, match="another host"):
        Transport.url_for(CONFIG, request)
    same = PreparedRequest(method="GET", path="https://bank.example/api/v1/next?c=2")
    assert Transport.url_for(CONFIG, same) == "https://bank.example/api/v1/next?c=2"


def test_debug_logs_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    transport, _ = transport_with(ok)
    request = PreparedRequest(
        method="GET",
        path="/v1/accounts/GB33BUKB20201555555555",
        headers={"Authorization": "Bearer sk_live_topsecret"},
    )
    with caplog.at_level(logging.DEBUG, logger="walletlink"):
        transport.send(CONFIG, request, transport.url_for(CONFIG, request))
    assert "topsecret" not in caplog.text
    assert "GB33BUKB20201555555555" not in caplog.text
    assert "…5555" in caplog.text
