"""draft-cavage-12 Appendix C vectors and the Berlin Group signing profile."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from walletlink.errors import (
    AlgorithmNotAllowedError,
    CertificateMismatchError,
    DigestMismatchError,
    KeyNotFoundError,
    SignatureError,
    SignatureMismatchError,
    SignatureMissingError,
)
from walletlink.http import PreparedRequest
from walletlink.signing import (
    BerlinGroupSigner,
    BerlinGroupVerifier,
    CavageSigner,
    CavageVerifier,
    HttpMessage,
    KeyRing,
    TestCA,
    berlin_group_key_id,
    check_key_id,
    generate_rsa_key,
    hmac_key,
    load_pem,
)
from walletlink.signing.cavage import parse_signature_header, sign_cavage, signing_string

VECTORS = Path(__file__).parent.parent / "vectors" / "cavage"
DATA: dict[str, Any] = json.loads((VECTORS / "appendix_c.json").read_text())
KEY = load_pem((VECTORS / "test-key.pem").read_text(), kid="Test")
NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def vector_request() -> HttpMessage:
    req = DATA["request"]
    return HttpMessage(
        method=req["method"], url=req["url"], headers=req["headers"], body=req["body"].encode()
    )


@pytest.mark.parametrize("case", DATA["cases"], ids=lambda c: c["section"])
def test_appendix_c_reproduced_and_verified(case: dict[str, Any]) -> None:
    headers = tuple(case["headers"].split()) if case["headers"] else ("date",)
    message = vector_request()
    assert signing_string(message, headers).decode() == case["signing_string"]
    signed = sign_cavage(message, KEY, headers=headers)
    assert base64.b64encode(signed.signature).decode() == case["signature"]
    header = f'keyId="Test",algorithm="rsa-sha256",signature="{case["signature"]}"'
    if case["headers"]:
        header = header.replace(",signature", f',headers="{case["headers"]}",signature')
    verified = CavageVerifier(keys=KeyRing.of(KEY.public()), clock=lambda: NOW).verify(
        message.with_headers({"Signature": header})
    )
    assert verified.headers == headers


def test_parse_is_lenient_on_spaces_and_accepts_authorization() -> None:
    parsed = parse_signature_header(
        'Signature keyId="a", algorithm="rsa-sha256" , headers="Digest X-Request-ID", '
        'signature="AAAA", unknown="x"'
    )
    assert (parsed.key_id, parsed.headers) == ("a", ("digest", "x-request-id"))


@pytest.mark.parametrize(
    "value",
    [
        'keyId="a",keyId="b",signature="AAAA"',
        'algorithm="rsa-sha256",signature="AAAA"',
        'keyId="a",signature="!!"',
        'keyId="a",headers="",signature="AAAA"',
        'keyId="a" signature="AAAA"',
    ],
)
def test_malformed_signature_headers(value: str) -> None:
    with pytest.raises(SignatureError):
        parse_signature_header(value)


def test_created_with_rsa_is_an_error() -> None:
    with pytest.raises(SignatureError):
        signing_string(vector_request(), ("(created)",), algorithm_name="rsa-sha256", created=1)
    line = signing_string(vector_request(), ("(created)",), algorithm_name="hs2019", created=1)
    assert line == b"(created): 1"


def test_generic_signer_hook_and_algorithm_binding() -> None:
    key = generate_rsa_key("tpp", alg="rsa-v1_5-sha256")
    request = PreparedRequest.json("POST", "/pay", {"a": 1})
    sent = CavageSigner(key=key)(request, "https://bank.example/pay", NOW)
    message = HttpMessage.from_request(sent, "https://bank.example/pay")
    verifier = CavageVerifier(keys=KeyRing.of(key.public()), required_headers=("digest",))
    assert "digest" in verifier.verify(message, NOW).headers
    pss = attrs.evolve(key.public(), alg="rsa-pss-sha512")
    with pytest.raises(AlgorithmNotAllowedError):
        CavageVerifier(keys=KeyRing.of(pss)).verify(message, NOW)
    with pytest.raises(KeyNotFoundError):
        CavageVerifier(keys=KeyRing.of(attrs.evolve(pss, kid="x"))).verify(message, NOW)


def test_hmac_key_cannot_take_an_rsa_algorithm() -> None:
    secret = hmac_key(b"s" * 32, kid="Test")
    header = f'keyId="Test",algorithm="rsa-sha256",signature="{DATA["cases"][0]["signature"]}"'
    with pytest.raises(AlgorithmNotAllowedError):
        CavageVerifier(keys=KeyRing.of(secret)).verify(
            vector_request().with_headers({"Signature": header}), NOW
        )


# ----------------------------------------------------------------------- Berlin Group

CA = TestCA.create(now=NOW, subject="D-TRUST CA 2-1 2015")
TPP = CA.issue(
    "tpp",
    now=NOW,
    serial=0x9FA1,
    client=True,
    key=generate_rsa_key("tpp"),
    subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example TPP")]),
)


def xs2a_request(**headers: str) -> PreparedRequest:
    return PreparedRequest.json(
        "POST",
        "/v1/payments/sepa-credit-transfers",
        {"instructedAmount": {"currency": "EUR", "amount": "123.50"}},
        headers={"X-Request-ID": "99391c7e-ad88-49ec-a2ad-99ddcb1f7721", **headers},
    )


def signed_xs2a(**headers: str) -> HttpMessage:
    url = "https://aspsp.example/v1/payments/sepa-credit-transfers"
    sent = BerlinGroupSigner(key=TPP)(xs2a_request(**headers), url, NOW)
    return HttpMessage.from_request(sent, url)


def test_key_id_from_the_certificate() -> None:
    assert TPP.certificate is not None
    assert berlin_group_key_id(TPP.certificate) == "SN=9fa1,CA=CN=D-TRUST%20CA%202-1%202015"
    check_key_id("SN=9FA1,CA=cn=D-TRUST CA 2-1 2015", TPP.certificate)
    for wrong in ("SN=9FA2,CA=CN=D-TRUST%20CA%202-1%202015", "SN=9FA1,CA=CN=Other", "9FA1"):
        with pytest.raises(CertificateMismatchError):
            check_key_id(wrong, TPP.certificate)


def test_berlin_group_signature_verifies_and_covers_conditional_headers() -> None:
    message = signed_xs2a(**{"PSU-ID": "PSU-1234", "TPP-Redirect-URI": "https://tpp/cb"})
    verified = BerlinGroupVerifier().verify(message)
    assert verified.signature.headers == (
        "digest",
        "x-request-id",
        "psu-id",
        "tpp-redirect-uri",
        "date",
    )
    header = message.header("TPP-Signature-Certificate") or ""
    assert x509.load_der_x509_certificate(base64.b64decode(header)) == TPP.certificate
    BerlinGroupVerifier(trusted=KeyRing.of(TPP.public())).verify(message)


def test_berlin_group_verification_order() -> None:
    message = signed_xs2a()
    for name in ("Digest", "Signature", "TPP-Signature-Certificate"):
        stripped = attrs.evolve(message, headers=[(n, v) for n, v in message.headers if n != name])
        with pytest.raises(SignatureMissingError):
            BerlinGroupVerifier().verify(stripped)
    with pytest.raises(DigestMismatchError):
        BerlinGroupVerifier().verify(attrs.evolve(message, body=b"{}"))
    with pytest.raises(SignatureError):
        BerlinGroupVerifier().verify(message.with_headers({"TPP-Signature-Certificate": "AAAA"}))
    other = CA.issue("other", now=NOW, client=True, key=generate_rsa_key("o"), serial=0x9FA2)
    assert other.certificate is not None
    from walletlink.signing.cavage import _certificate_header

    swapped = message.with_headers(
        {"TPP-Signature-Certificate": _certificate_header(other.certificate)}
    )
    with pytest.raises(CertificateMismatchError):
        BerlinGroupVerifier().verify(swapped)
    with pytest.raises(SignatureMismatchError):
        BerlinGroupVerifier().verify(message.with_headers({"X-Request-ID": "tampered"}))
    with pytest.raises(KeyNotFoundError):
        BerlinGroupVerifier(trusted=KeyRing.of(other.public())).verify(message)


def test_psu_id_sent_but_not_signed_is_refused() -> None:
    message = signed_xs2a().with_headers({"PSU-ID": "added-later"})
    with pytest.raises(SignatureMissingError):
        BerlinGroupVerifier().verify(message)


def test_pem_certificate_header_is_accepted() -> None:
    message = signed_xs2a()
    assert TPP.certificate is not None
    pem = TPP.certificate.public_bytes(Encoding.PEM)
    BerlinGroupVerifier().verify(message.with_headers({"TPP-Signature-Certificate": pem.decode()}))


def test_berlin_group_signer_needs_a_certificate() -> None:
    with pytest.raises(SignatureError):
        BerlinGroupSigner(key=generate_rsa_key("no-cert"))


def test_host_and_request_target_leave_out_userinfo_and_default_port() -> None:
    """The Host a signer adds is the one sent (RFC 9110 §7.2): no credentials, no :443."""
    key = hmac_key(b"0123456789abcdef0123456789abcdef", kid="h", alg="hmac-sha256")
    signer = CavageSigner(key=key, algorithm="hmac-sha256", headers=("(request-target)", "host"))
    message = HttpMessage(method="GET", url="https://alice:pw@Bank.Example:443?x=1#frag")

    added = signer.signature_headers(message, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))

    assert added["Host"] == "bank.example"
    sent = HttpMessage(method="GET", url="https://bank.example/?x=1", headers=added)
    CavageVerifier(keys=KeyRing.of(key)).verify(sent, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
