"""The transport's failure mapping decides what is safe to retry, so it is tested directly."""

from __future__ import annotations

import io
import logging
import re
import ssl
import tracemalloc
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
import requests
import requests.adapters
import trustme
import urllib3
import urllib3.exceptions

from walletlink._transport import Transport
from walletlink.config import BankConfig
from walletlink.errors import (
    ConnectError,
    ConnectionLostError,
    ProtocolError,
    TransportError,
    TransportTimeoutError,
)
from walletlink.http import PreparedRequest
from walletlink.testing import MockBank, ServerTLS

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


def reply(
    request: requests.PreparedRequest, body: bytes, headers: dict[str, str] | None = None
) -> requests.Response:
    """A response streaming ``body`` as a socket would, undecoded until it is read."""
    raw = urllib3.HTTPResponse(
        body=io.BytesIO(body),
        headers={"Content-Type": "application/json", **(headers or {})},
        status=200,
        preload_content=False,
        decode_content=False,
    )
    return requests.adapters.HTTPAdapter().build_response(request, raw)


def ok(request: requests.PreparedRequest) -> requests.Response:
    return reply(request, b'{"ok": true}')


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


# -- reply size cap -------------------------------------------------------------------------

SMALL_CAP = attrs.evolve(CONFIG, max_response_bytes=1024 * 1024)


def bomb(encoding: str, expanded: int) -> bytes:
    """``expanded`` zero bytes compressed as ``encoding``, built without holding them."""
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}[encoding]
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = bytes(1024 * 1024)
    parts = [packer.compress(block) for _ in range(expanded // len(block))]
    return b"".join(parts) + packer.flush()


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_compression_bomb_is_refused_in_bounded_memory(encoding: str) -> None:
    """64 MiB that travel as ~64 KiB: refused once the decoded bytes pass the cap, with a
    memory peak near the cap, not near the expanded size."""
    wire = bomb(encoding, 64 * 1024 * 1024)
    assert len(wire) < 100 * 1024
    transport, _ = transport_with(lambda r: reply(r, wire, {"Content-Encoding": encoding}))
    request = PreparedRequest(method="GET", path="/v1/statement")
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError, match="exceeds the 1048576-byte limit") as info:
            transport.send(SMALL_CAP, request, transport.url_for(SMALL_CAP, request))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.bank_id == "acme"
    assert peak < 8 * 1024 * 1024


def test_a_declared_length_over_the_cap_is_refused_unread() -> None:
    class Untouchable(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise AssertionError("the body was read")

        def read1(self, size: int = -1) -> bytes:
            raise AssertionError("the body was read")

    def huge(request: requests.PreparedRequest) -> requests.Response:
        response = reply(request, b"", {"Content-Length": str(2 * 1024 * 1024)})
        response.raw._fp = Untouchable()
        return response

    transport, _ = transport_with(huge)
    request = PreparedRequest(method="GET", path="/v1/x")
    with pytest.raises(ProtocolError, match="declares 2097152 bytes"):
        transport.send(SMALL_CAP, request, transport.url_for(SMALL_CAP, request))


def test_a_reply_at_the_cap_passes_and_one_byte_more_is_refused() -> None:
    cap = SMALL_CAP.max_response_bytes
    request = PreparedRequest(method="GET", path="/v1/x")
    exact, _ = transport_with(lambda r: reply(r, b"x" * cap))
    assert cap == len(exact.send(SMALL_CAP, request, exact.url_for(SMALL_CAP, request)).body)
    over, _ = transport_with(lambda r: reply(r, b"x" * (cap + 1)))
    with pytest.raises(ProtocolError, match="max_response_bytes"):
        over.send(SMALL_CAP, request, over.url_for(SMALL_CAP, request))


def test_a_compressed_reply_under_the_cap_is_decoded() -> None:
    transport, _ = transport_with(
        lambda r: reply(r, bomb("gzip", 1024 * 1024), {"Content-Encoding": "gzip"})
    )
    request = PreparedRequest(method="GET", path="/v1/x")
    response = transport.send(CONFIG, request, transport.url_for(CONFIG, request))
    assert bytes(1024 * 1024) == response.body


# -- TLS failures name their reason ---------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("pki")
    ca, stranger = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    stranger.cert_pem.write_to_path(str(directory / "stranger.pem"))
    client = stranger.issue_cert("wallet.example")
    client.private_key_and_cert_chain_pem.write_to_path(str(directory / "stranger-client.pem"))
    past = datetime(2020, 1, 1, tzinfo=UTC)
    return {
        "ca": ca,
        "ca.pem": str(directory / "ca.pem"),
        "stranger.pem": str(directory / "stranger.pem"),
        "stranger-client.pem": str(directory / "stranger-client.pem"),
        "expired": ca.issue_cert("127.0.0.1", not_before=past - timedelta(days=1), not_after=past),
    }


def server_tls(leaf: trustme.LeafCert, client_ca: trustme.CA | None = None) -> ServerTLS:
    return ServerTLS(
        cert_chain_pem=b"".join(blob.bytes() for blob in leaf.cert_chain_pems),
        key_pem=leaf.private_key_pem.bytes(),
        client_ca_pem=client_ca.cert_pem.bytes() if client_ca else None,
    )


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("untrusted_ca", r"not issued by a trusted CA \(unable to get local issuer"),
        ("expired", r"certificate expired \(certificate has expired\)"),
        ("wrong_host", r"for another host \(.*not valid for '127\.0\.0\.1'"),
        # A TLS 1.3 bank may hang up before its alert is read: a lost connection with a hint.
        ("no_client_cert", r"requires a client certificate|no client_cert is configured"),
        (
            "untrusted_client_cert",
            r"does not trust our client certificate's CA|refusing client_cert",
        ),
    ],
)
def test_tls_failures_name_their_reason(pki: dict[str, Any], case: str, reason: str) -> None:
    """Each failure reads differently; the message holds no URL, the ssl error is the cause."""
    ca: trustme.CA = pki["ca"]
    leaf = {"expired": pki["expired"], "wrong_host": ca.issue_cert("mock.bank.test")}.get(
        case, ca.issue_cert("127.0.0.1")
    )
    mutual = case in ("no_client_cert", "untrusted_client_cert")
    tls = server_tls(leaf, client_ca=ca if mutual else None)
    fields: dict[str, Any] = {
        "ca_bundle": pki["stranger.pem" if case == "untrusted_ca" else "ca.pem"]
    }
    if case == "untrusted_client_cert":
        fields["client_cert"] = pki["stranger-client.pem"]
    bank = MockBank("generic_rest", bank_id="acme")
    request = PreparedRequest(method="GET", path="/v1/accounts/12345678/balances")
    with bank.serve(tls=tls) as served:
        config = served.config(**fields)
        transport = Transport()
        try:
            with pytest.raises(TransportError) as info:
                transport.send(config, request, transport.url_for(config, request))
        finally:
            transport.close()
    assert re.search(reason, info.value.message), info.value.message
    if type(info.value) is not ConnectionLostError:
        assert type(info.value) is TransportError
        assert info.value.message.startswith("TLS handshake failed: ")
    assert "12345678" not in info.value.message
    assert isinstance(info.value.__cause__, requests.exceptions.RequestException)


def ssl_error(reason: str) -> ssl.SSLError:
    error = ssl.SSLError(1, f"[SSL: {reason}] alert")
    error.reason = reason  # type: ignore[misc]
    return error


def test_a_client_certificate_refusal_after_writing_is_still_a_tls_failure() -> None:
    """TLS 1.3 lets the client write before the bank judges its certificate: the bank's
    alert then arrives as a ConnectionError, yet the bank never served the request."""
    refusal = connection_error(
        urllib3.exceptions.ProtocolError(
            "Connection aborted.", ssl_error("TLSV13_ALERT_CERTIFICATE_REQUIRED")
        )
    )
    transport, _ = transport_with(raising(refusal))
    request = PreparedRequest(method="POST", path="/v1/payments")
    with pytest.raises(TransportError, match="requires a client certificate") as info:
        transport.send(CONFIG, request, transport.url_for(CONFIG, request))
    assert type(info.value) is TransportError


def test_other_ssl_errors_after_writing_stay_a_lost_connection() -> None:
    """A TLS record error mid-reply may follow a served request: its outcome is unknown."""
    broken = connection_error(
        urllib3.exceptions.ProtocolError("Connection aborted.", ssl_error("BAD_RECORD_MAC"))
    )
    transport, _ = transport_with(raising(broken))
    request = PreparedRequest(method="POST", path="/v1/payments")
    with pytest.raises(ConnectionLostError):
        transport.send(CONFIG, request, transport.url_for(CONFIG, request))


@pytest.mark.parametrize(
    ("with_cert", "hint"), [(False, "no client_cert"), (True, "refusing client_cert")]
)
def test_a_bank_hanging_up_mid_tls_is_a_lost_connection(
    pki: dict[str, Any], with_cert: bool, hint: str
) -> None:
    """It may have served the request first, so the outcome is unknown, never a clean fail."""
    eof = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
    hung_up = requests.exceptions.SSLError(
        urllib3.exceptions.MaxRetryError(None, "/", urllib3.exceptions.SSLError(eof))  # type: ignore[arg-type]
    )
    transport, _ = transport_with(raising(hung_up))
    config = attrs.evolve(CONFIG, client_cert=pki["stranger-client.pem"]) if with_cert else CONFIG
    request = PreparedRequest(method="POST", path="/v1/payments")
    with pytest.raises(ConnectionLostError, match=hint) as info:
        transport.send(config, request, transport.url_for(config, request))
    assert info.value.__cause__ is hung_up


def test_a_reply_cut_short_is_a_lost_connection() -> None:
    """The status line came, so the bank served the request: the reply is lost, not refused."""
    transport, _ = transport_with(lambda r: reply(r, b'{"id": "t', {"Content-Length": "200"}))
    request = PreparedRequest(method="POST", path="/v1/transfers")
    with pytest.raises(ConnectionLostError, match="while the reply was read") as info:
        transport.send(CONFIG, request, transport.url_for(CONFIG, request))
    assert info.value.http_status == 200


def test_a_reply_that_is_not_the_gzip_it_claims_is_a_protocol_error() -> None:
    transport, _ = transport_with(
        lambda r: reply(r, b"definitely not gzip", {"Content-Encoding": "gzip"})
    )
    request = PreparedRequest(method="GET", path="/v1/x")
    with pytest.raises(ProtocolError, match="not valid gzip"):
        transport.send(CONFIG, request, transport.url_for(CONFIG, request))


def test_the_callers_session_is_never_changed() -> None:
    """Client(session=...) reads the caller's session (its mounts, headers) and sends
    through a private one: no User-Agent forced on it, its trust_env left as it was."""
    shared = requests.Session()
    shared.headers["X-Wallet"] = "w1"
    mounted = requests.adapters.HTTPAdapter()
    shared.mount("https://bank.test/", mounted)
    before = (dict(shared.headers), shared.trust_env, dict(shared.adapters))
    transport = Transport(shared)
    assert (dict(shared.headers), shared.trust_env, dict(shared.adapters)) == before
    assert transport.session is not shared
    assert transport.session.adapters["https://bank.test/"] is mounted
    assert (transport.session.headers["X-Wallet"], transport.session.trust_env) == ("w1", False)
    assert transport.session.headers["User-Agent"].startswith("walletlink/")


def test_closing_leaves_the_callers_adapters_open() -> None:
    closed: list[str] = []

    class Recording(requests.adapters.HTTPAdapter):
        def close(self) -> None:
            closed.append("shared")
            super().close()

    shared = requests.Session()
    shared.mount("https://bank.test/", Recording())
    Transport(shared).close()
    assert closed == []
