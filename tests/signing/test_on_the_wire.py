"""Every request signer signs exactly what the client's transport puts on the wire.

Each signer runs inside a real :class:`~walletlink.Client` whose ``requests`` session has a
capturing adapter mounted (no network). The request carries ``params`` on a path that
already has a query, and a body, so a signer that rebuilds the URL or the body its own way
would sign something other than what is sent; the matching verifier then checks the
captured wire request, as the bank would.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Generator
from typing import Any
from urllib.parse import parse_qsl

import attrs
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from walletlink import BankConfig, Client
from walletlink.adapters.base import Adapter, RequestSigner
from walletlink.adapters.registry import register_adapter
from walletlink.errors import ValidationError
from walletlink.http import PreparedRequest, RawResponse, wire_url
from walletlink.protocols.cn_openapi.adapter import CnOpenApiAdapter
from walletlink.protocols.cn_openapi.mock import CnOpenApiServer, cn_openapi_config
from walletlink.signing import (
    BerlinGroupSigner,
    BerlinGroupVerifier,
    CavageSigner,
    CavageVerifier,
    HttpMessage,
    KeyRing,
    OBJwsSigner,
    OBJwsVerifier,
    Rfc9421Signer,
    Rfc9421Verifier,
    TestCA,
    WeChatPaySigner,
    generate_ed25519_key,
    generate_rsa_key,
    sign_content,
    verify_content,
    verify_wechatpay_authorization,
)
from walletlink.testing import MockBank

NOW = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
BASE = "https://bank.example/api"
PATH = "/v1/pay ments/é?page=2"  # a space and a non-ASCII character the transport quotes
PARAMS = (("q", "a b&c"), ("tag", "é/ü"), ("q", "2"))
BODY = b"app_id=2021&method=alipay.fund.trans.uni.transfer&biz_content=%7B%22amount%22%3A1%7D"


@attrs.define
class _Capture(requests.adapters.BaseAdapter):
    """A requests transport adapter that records what would go on the wire, and answers 200."""

    sent: list[requests.PreparedRequest] = attrs.field(factory=list)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        response = requests.Response()
        response.status_code = 200
        response.raw = io.BytesIO(b"{}")
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def _flow() -> Generator[PreparedRequest, RawResponse, RawResponse]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    request = PreparedRequest(
        method="POST", path=PATH, params=PARAMS, body=BODY, headers=headers, operation="wire"
    )
    return (yield request)


def _send(signer: RequestSigner) -> requests.PreparedRequest:
    """Run one request through a Client that signs with ``signer``; return the wire request."""

    class WireAdapter(Adapter):
        protocol = "signed_on_the_wire_for_tests"

        def signer(self) -> RequestSigner:
            return signer

    register_adapter(WireAdapter.protocol, WireAdapter, replace=True)
    config = BankConfig(bank_id="wire", protocol=WireAdapter.protocol, base_url=BASE)
    capture = _Capture()
    with Client([config], clock=lambda: NOW) as client:
        client.session.mount("https://", capture)
        client.run_flow("wire", _flow())
    (sent,) = capture.sent
    return sent


def _received(sent: requests.PreparedRequest) -> HttpMessage:
    """The request as the bank sees it: the wire URL, headers and body bytes."""
    assert isinstance(sent.body, bytes)
    assert sent.method is not None
    assert sent.url is not None
    return HttpMessage(method=sent.method, url=sent.url, headers=dict(sent.headers), body=sent.body)


ED = generate_ed25519_key("ed-1")
RSA = generate_rsa_key("rsa-1")
QSEAL = TestCA.create(now=NOW).issue("qseal", now=NOW, key=generate_rsa_key("qseal"), client=True)


def _rsa_private(key: Any) -> rsa.RSAPrivateKey:
    private = key.require_private()
    assert isinstance(private, rsa.RSAPrivateKey)
    return private


def _rfc9421() -> tuple[RequestSigner, Callable[[requests.PreparedRequest], None]]:
    covered = ("@method", "@target-uri", "@authority", "@path", "@query", "@request-target")
    signer = Rfc9421Signer(keys=ED, components=covered)

    def verify(sent: requests.PreparedRequest) -> None:
        (verified,) = Rfc9421Verifier(keys=ED.public()).verify(_received(sent), NOW)
        assert '"content-digest"' in verified.components

    return signer, verify


def _cavage() -> tuple[RequestSigner, Callable[[requests.PreparedRequest], None]]:
    signer = CavageSigner(key=RSA, headers=("(request-target)", "host", "date"))

    def verify(sent: requests.PreparedRequest) -> None:
        CavageVerifier(keys=KeyRing.of(RSA.public())).verify(_received(sent), NOW)

    return signer, verify


def _berlin_group() -> tuple[RequestSigner, Callable[[requests.PreparedRequest], None]]:
    signer = BerlinGroupSigner(key=QSEAL, extra_headers=("date", "(request-target)"))

    def verify(sent: requests.PreparedRequest) -> None:
        verifier = BerlinGroupVerifier(extra_required=("(request-target)",))
        verifier.verify(_received(sent))

    return signer, verify


def _ob_jws() -> tuple[RequestSigner, Callable[[requests.PreparedRequest], None]]:
    signer = OBJwsSigner(key=RSA, kid="rsa-1", iss="0015800001041RHAAY/HQuZPIt3ipkh33Uxytox1E")

    def verify(sent: requests.PreparedRequest) -> None:
        verifier = OBJwsVerifier(keys={"rsa-1": RSA.public()}, iss=signer.iss)
        received = _received(sent)
        verifier.verify(received.header("x-jws-signature"), received.body or b"", NOW)

    return signer, verify


def _wechatpay() -> tuple[RequestSigner, Callable[[requests.PreparedRequest], None]]:
    signer = WeChatPaySigner(mchid="1900009191", serial_no="AB12", key=_rsa_private(RSA))

    def verify(sent: requests.PreparedRequest) -> None:
        received = _received(sent)
        assert received.method is not None
        assert received.url is not None
        verify_wechatpay_authorization(
            received.header("Authorization"),
            method=received.method,
            url=received.url,
            body=received.body or b"",
            merchant_keys={"AB12": _rsa_private(RSA).public_key()},
            now=NOW,
        )

    return signer, verify


def _params_rsa2() -> tuple[RequestSigner, Callable[[requests.PreparedRequest], None]]:
    """The sorted-parameter RSA2 signer, as the cn_openapi adapter signs each attempt."""
    bank = MockBank("cn_openapi")
    signer = CnOpenApiAdapter(cn_openapi_config(bank, encrypt=False)).signer()
    server = bank.server
    assert isinstance(server, CnOpenApiServer)

    def verify(sent: requests.PreparedRequest) -> None:
        params = dict(parse_qsl((_received(sent).body or b"").decode("ascii")))
        verify_content(sign_content(params), params["sign"], server.app_public_key)

    return signer, verify


@pytest.mark.parametrize(
    "scheme", [_rfc9421, _cavage, _berlin_group, _ob_jws, _wechatpay, _params_rsa2]
)
def test_each_signer_signs_the_request_the_transport_sends(
    scheme: Callable[[], tuple[RequestSigner, Callable[[requests.PreparedRequest], None]]],
) -> None:
    signer, verify = scheme()
    sent = _send(signer)
    assert wire_url(f"{BASE}{PATH}", PARAMS) == sent.url
    verify(sent)


@pytest.mark.parametrize(
    ("url", "params", "expected"),
    [
        ("https://b.example", (), "https://b.example/"),
        (
            "https://b.example/p?a=1",
            (("b", "x y"), ("a", "2")),
            "https://b.example/p?a=1&b=x+y&a=2",
        ),
        ("https://B.example/p q#f", (("é", "&"),), "https://b.example/p%20q?%C3%A9=%26#f"),
    ],
)
def test_wire_url_is_what_requests_sends(
    url: str, params: tuple[tuple[str, str], ...], expected: str
) -> None:
    assert expected == wire_url(url, params)


@pytest.mark.parametrize("url", ["bank.example/p", "https://", "https://b.example:x/"])
def test_wire_url_refuses_what_cannot_be_sent(url: str) -> None:
    with pytest.raises(ValidationError):
        wire_url(url, (("a", "1"),))
