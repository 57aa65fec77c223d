"""Signature-header parsers and verifiers, fed mutated headers: only walletlink errors.

Each verifier gets a message it would accept, with one header (or the body) mutated; the
parsers get mutated header values. ``SignatureError``, ``ParseError`` and the other
``walletlink.errors`` types are the answers; a ``ValueError``, ``IndexError``,
``binascii.Error`` or ``UnicodeError`` from inside is a bug.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import strategies as st

from walletlink.errors import ClaimError, ParseError, SignatureError, WalletLinkError
from walletlink.http import PreparedRequest
from walletlink.signing import (
    BerlinGroupSigner,
    BerlinGroupVerifier,
    CavageSigner,
    CavageVerifier,
    HttpMessage,
    KeyRing,
    Rfc9421Signer,
    Rfc9421Verifier,
    StandardWebhook,
    StripeWebhook,
    TestCA,
    WeChatPayVerifier,
    content_digest,
    decrypt_content,
    decrypt_wechatpay_resource,
    encrypt_content,
    generate_ed25519_key,
    generate_hmac_key,
    generate_rsa_key,
    legacy_digest,
    notification_content,
    parse_china_timestamp,
    parse_want_digest,
    sign_compact,
    sign_ob_detached,
    verify_compact,
    verify_content_digest,
    verify_legacy_digest,
    verify_notification_form,
    verify_ob_detached,
    verify_repr_digest,
    verify_sync_response,
    verify_wechatpay_authorization,
)
from walletlink.signing._sf import parse_dictionary, parse_item, parse_list
from walletlink.signing.cavage import parse_signature_header

from ._mutations import fuzz_tests, mutated, mutated_text

VECTORS = Path(__file__).parent.parent / "vectors"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
BODY = b'{"amount":"1.00","currency":"EUR"}'
ED = generate_ed25519_key("ed")
HMAC = generate_hmac_key("h")
ISS = "0015800001041RHAAY/HQuZPIt3ipkh33Uxytox1E"
ALGORITHMS = ("HS256", "PS256", "ES256", "RS256")
_EC = ec.generate_private_key(ec.SECP256R1())
_ANY = (WalletLinkError,)


@cache
def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _request() -> HttpMessage:
    return HttpMessage(
        method="POST",
        url="https://bank.example/v1/transfers?x=1",
        headers={"Date": "Wed, 01 May 2024 12:00:00 GMT", "X-Id": "abc"},
        body=BODY,
    )


def _header_mutations(valid: Mapping[str, str]) -> st.SearchStrategy[dict[str, str]]:
    """The headers with one of them mutated, or dropped."""

    @st.composite
    def one(draw: st.DrawFn) -> dict[str, str]:
        name = draw(st.sampled_from(sorted(valid)))
        headers = dict(valid)
        if draw(st.integers(0, 9)) == 0:
            del headers[name]
        else:
            headers[name] = draw(mutated_text([valid[name]]))
        return headers

    return one()


# --------------------------------------------------------------------------- RFC 8941

SF_SEEDS = [
    'sig1=("@method" "@authority" "@path" "content-digest");created=1618884473;'
    'keyid="test-key-rsa-pss";alg="rsa-pss-sha512"',
    "sig1=:K2qGT5srn2OGbOIDzQ6kYT+ruaycnDAAUpKv+ePFfD0RAxn/1BUeZx/Kdrq32DrfakQ6bPsvB9aqZqo=:",
    'a=1, b=?0, c=:cHJldGVuZCB0aGlzIGlzIGJpbmFyeSBjb250ZW50Lg==:, d=(1 2.5 "x");q=-0.5',
    "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, sha-512=:AAAA:",
    '1.5, "x";a=?1, (1 2);q=0.5, tok*en/x:y, @ls=99999999999999',
]
test_sf_dictionary, test_sf_dictionary_long = fuzz_tests(
    mutated_text(SF_SEEDS), parse_dictionary, _ANY
)
test_sf_list, test_sf_list_long = fuzz_tests(mutated_text(SF_SEEDS), parse_list, _ANY)
test_sf_item, test_sf_item_long = fuzz_tests(
    mutated_text(['"hello";a=1', "-999999999999.999", ":AQID:;x", "?1", "@1659578233"]),
    parse_item,
    _ANY,
)

# ------------------------------------------------------------------------ draft-cavage

_CAVAGE_KEY = generate_rsa_key("tpp", alg="rsa-v1_5-sha256")
_CAVAGE_SIGNED = CavageSigner(key=_CAVAGE_KEY).signature_headers(_request(), NOW)
test_cavage_header, test_cavage_header_long = fuzz_tests(
    mutated_text(
        [
            _CAVAGE_SIGNED["Signature"],
            'Signature keyId="Test",algorithm="rsa-sha256",created=1402170695,'
            'expires=1402170699,headers="(request-target) (created) host",signature="AAAA"',
        ]
    ),
    parse_signature_header,
    _ANY,
)


def _cavage_verify(headers: dict[str, str]) -> None:
    message = HttpMessage(method="POST", url=_request().url, headers=headers, body=BODY)
    CavageVerifier(keys=KeyRing.of(_CAVAGE_KEY.public()), clock=lambda: NOW).verify(message)


test_cavage_verify, test_cavage_verify_long = fuzz_tests(
    _header_mutations(dict(_request().headers) | _CAVAGE_SIGNED), _cavage_verify, _ANY
)

_CA = TestCA.create(now=NOW, subject="Fuzz CA")
_TPP = _CA.issue("tpp", now=NOW, serial=0x9FA1, client=True, key=generate_rsa_key("tpp"))
_XS2A_URL = "https://aspsp.example/v1/payments/sepa-credit-transfers"
_XS2A = HttpMessage.from_request(
    BerlinGroupSigner(key=_TPP)(
        PreparedRequest.json(
            "POST",
            "/v1/payments/sepa-credit-transfers",
            {"instructedAmount": {"currency": "EUR", "amount": "123.50"}},
            headers={"X-Request-ID": "99391c7e-ad88-49ec-a2ad-99ddcb1f7721"},
        ),
        _XS2A_URL,
        NOW,
    ),
    _XS2A_URL,
)


def _berlin_group_verify(headers: dict[str, str]) -> None:
    message = HttpMessage(method="POST", url=_XS2A_URL, headers=headers, body=_XS2A.body)
    BerlinGroupVerifier().verify(message)


test_berlin_group_verify, test_berlin_group_verify_long = fuzz_tests(
    _header_mutations(dict(_XS2A.headers)), _berlin_group_verify, _ANY
)

# ---------------------------------------------------------------------------- RFC 9421

_RFC9421_SIGNED = Rfc9421Signer(
    keys=ED, components=("@method", "@authority", "@path", "@query", "date", "x-id")
).sign_message(_request(), NOW)


def _rfc9421_verify(headers: dict[str, str]) -> None:
    message = HttpMessage(method="POST", url=_request().url, headers=headers, body=BODY)
    Rfc9421Verifier(keys=ED.public(), clock=lambda: NOW).verify(message)


test_rfc9421_verify, test_rfc9421_verify_long = fuzz_tests(
    _header_mutations(dict(_RFC9421_SIGNED.headers)), _rfc9421_verify, _ANY
)

# --------------------------------------------------------------------------------- JWS

_COMPACT = [
    sign_compact(BODY, HMAC, alg="HS256"),
    sign_compact(BODY, _EC, alg="ES256", detached=True),
    sign_compact(BODY, HMAC, alg="HS256", b64=False, detached=True),
]


def _verify_compact(token: str) -> None:
    for keys in (HMAC, _EC.public_key()):
        try:
            verify_compact(token, keys, algorithms=ALGORITHMS)
        except WalletLinkError:
            verify_compact(token, keys, algorithms=ALGORITHMS, payload=BODY)


test_jws_compact, test_jws_compact_long = fuzz_tests(mutated_text(_COMPACT), _verify_compact, _ANY)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _with_header(header: bytes) -> str:
    """A token whose protected header is ``header`` (the mutations hit its JSON, not base64)."""
    _, payload, signature = _COMPACT[0].split(".")
    return f"{_b64url(header)}.{payload}.{signature}"


_JWS_HEADERS = [
    b'{"alg":"HS256"}',
    b'{"alg":"HS256","b64":false,"crit":["b64"],"kid":"k1","iat":1714564800}',
    b'{"alg":"PS256","kid":"k1","http://openbanking.org.uk/iat":1714564800,'
    b'"http://openbanking.org.uk/iss":"x","http://openbanking.org.uk/tan":"openbanking.org.uk",'
    b'"crit":["http://openbanking.org.uk/iat","http://openbanking.org.uk/iss",'
    b'"http://openbanking.org.uk/tan"]}',
]
test_jws_header_json, test_jws_header_json_long = fuzz_tests(
    mutated(_JWS_HEADERS).map(_with_header), _verify_compact, _ANY
)


@cache
def _ob_signature() -> str:
    return sign_ob_detached(BODY, _rsa(), kid="k1", iss=ISS, now=NOW)


def _verify_ob(signature: str) -> None:
    verify_ob_detached(signature, BODY, keys={"k1": _rsa().public_key()}, iss=ISS, now=NOW)


test_jws_ob_detached, test_jws_ob_detached_long = fuzz_tests(
    st.deferred(lambda: mutated_text([_ob_signature()])), _verify_ob, _ANY
)

# --------------------------------------------------------------------- RFC 9530 digests

_DIGESTS = [content_digest(BODY, ("sha-256", "sha-512")), content_digest(BODY)]
test_content_digest, test_content_digest_long = fuzz_tests(
    mutated_text(_DIGESTS), lambda value: verify_content_digest(value, BODY), _ANY
)
test_repr_digest, test_repr_digest_long = fuzz_tests(
    mutated_text(_DIGESTS), lambda value: verify_repr_digest(value, BODY), _ANY
)
test_want_digest, test_want_digest_long = fuzz_tests(
    mutated_text(["sha-256=10, sha-512=3", "sha-256=0"]), parse_want_digest, _ANY
)
test_legacy_digest, test_legacy_digest_long = fuzz_tests(
    mutated_text([legacy_digest(BODY), "SHA-256=abc,SHA-512=def"]),
    lambda value: verify_legacy_digest(value, BODY),
    _ANY,
)

# ------------------------------------------------------------------------------ webhooks

_SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
_STANDARD = StandardWebhook(secrets=[_SECRET])
_STANDARD_HEADERS = _STANDARD.sign("msg_1", NOW, BODY)
test_standard_webhook, test_standard_webhook_long = fuzz_tests(
    _header_mutations(_STANDARD_HEADERS), lambda h: _STANDARD.verify(h, BODY, NOW), _ANY
)
test_standard_webhook_body, test_standard_webhook_body_long = fuzz_tests(
    mutated([BODY]), lambda body: _STANDARD.verify(_STANDARD_HEADERS, body, NOW), _ANY
)
_STRIPE = StripeWebhook(secrets=[_SECRET])
test_stripe_webhook, test_stripe_webhook_long = fuzz_tests(
    mutated_text([_STRIPE.sign(NOW, BODY), "t=1714564800,v1=00,v0=11,v1=zz"]),
    lambda header: _STRIPE.verify(header, BODY, NOW),
    _ANY,
)

_WX: dict[str, Any] = json.loads((VECTORS / "wechatpay" / "vectors.json").read_text("utf-8"))


@cache
def _wechat() -> WeChatPayVerifier:
    pem = (VECTORS / "wechatpay" / "platform_certificate.pem").read_bytes()
    return WeChatPayVerifier.from_certificates([x509.load_pem_x509_certificate(pem)])


def _wechat_verify(headers: dict[str, str]) -> None:
    callback = _WX["callback"]
    now = datetime.fromtimestamp(int(callback["headers"]["Wechatpay-Timestamp"]), tz=UTC)
    _wechat().verify_notification(headers, callback["body"].encode(), now, callback["api_v3_key"])


test_wechatpay_notification, test_wechatpay_notification_long = fuzz_tests(
    _header_mutations(_WX["callback"]["headers"]), _wechat_verify, _ANY
)


def _wechat_authorization(header: str) -> None:
    verify_wechatpay_authorization(
        header,
        method="POST",
        url="https://api.mch.weixin.qq.com/v3/pay/transactions/jsapi",
        body=BODY,
        merchant_keys={"4A5B": _rsa().public_key()},
        now=NOW,
    )


test_wechatpay_authorization, test_wechatpay_authorization_long = fuzz_tests(
    mutated_text(
        [
            'WECHATPAY2-SHA256-RSA2048 mchid="1900009191",nonce_str="593BEC0C930BF1AFEB40B4A0'
            '8C8FB242",signature="AAAA",timestamp="1714564800",serial_no="4A5B"'
        ]
    ),
    _wechat_authorization,
    _ANY,
)

_GCM = _WX["aes_gcm_hello"]


@st.composite
def _resources(draw: st.DrawFn) -> dict[str, Any]:
    resource: dict[str, Any] = {k: _GCM[k] for k in ("ciphertext", "nonce", "associated_data")}
    name = draw(st.sampled_from(sorted(resource)))
    resource[name] = draw(mutated_text([resource[name]]) | st.none() | st.integers())
    return resource


test_wechatpay_resource, test_wechatpay_resource_long = fuzz_tests(
    _resources(), lambda resource: decrypt_wechatpay_resource(resource, _GCM["key"]), _ANY
)


# ------------------------------------------------------------- what the fuzzers found


def test_a_non_ascii_cavage_signature_is_a_signature_error() -> None:
    """binascii raised ValueError for a non-ASCII character in ``signature="…"``."""
    with pytest.raises(SignatureError, match="not base64"):
        parse_signature_header('keyId="k",signature="\x80AAAA"')


@pytest.mark.parametrize("field", ["ciphertext", "nonce"])
def test_a_wechatpay_resource_with_null_fields_is_a_signature_error(field: str) -> None:
    """A JSON null ciphertext raised TypeError from base64."""
    resource = {k: _GCM[k] for k in ("ciphertext", "nonce", "associated_data")} | {field: None}
    with pytest.raises(SignatureError):
        decrypt_wechatpay_resource(resource, _GCM["key"])


# ------------------------------------------------------- Alipay-style parameter signing


def _rsa2(text: str) -> str:
    raw = _rsa().sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode()


@cache
def _notification_form() -> bytes:
    params = {
        "app_id": "2014072300007148",
        "notify_id": "ac05099524730693a8b330c5ecf72da9786",
        "out_trade_no": "6823789339978248",
        "total_amount": "20.00",
        "trade_status": "TRADE_SUCCESS",
        "gmt_payment": "2024-05-01 20:00:00",
        "charset": "utf-8",
        "sign_type": "RSA2",
    }
    params["sign"] = _rsa2(notification_content(params))
    return urlencode(params).encode()


@cache
def _sync_response() -> bytes:
    inner = '{"code":"10000", "msg":"Success","trade_no":"2013\\/1","buyer":"\\u5f20"}'
    return f'{{"alipay_trade_query_response":{inner},"sign":"{_rsa2(inner)}"}}'.encode()


test_notification_form, test_notification_form_long = fuzz_tests(
    st.deferred(lambda: mutated([_notification_form()])),
    lambda body: verify_notification_form(body, _rsa().public_key()),
    _ANY,
)
test_sync_response, test_sync_response_long = fuzz_tests(
    st.deferred(lambda: mutated([_sync_response()])),
    lambda raw: verify_sync_response(raw, "alipay.trade.query", _rsa().public_key()),
    _ANY,
)
_AES_KEY = base64.b64encode(b"k" * 16).decode()
test_decrypt_content, test_decrypt_content_long = fuzz_tests(
    mutated_text([encrypt_content('{"amount":"1.00"}', _AES_KEY)]),
    lambda text: decrypt_content(text, _AES_KEY),
    _ANY,
)
test_china_timestamp, test_china_timestamp_long = fuzz_tests(
    mutated_text(["2024-05-01 20:00:00"]), parse_china_timestamp, _ANY
)


def test_a_deeply_nested_jws_header_is_a_claim_error() -> None:
    """The protected header's JSON decoder raised RecursionError."""
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","x":' + b"[" * 5000 + b"]" * 5000 + b"}")
    token = header.rstrip(b"=").decode() + ".cA.cw"
    with pytest.raises(ClaimError, match="not base64url JSON"):
        verify_compact(token, HMAC, algorithms=ALGORITHMS)


def test_a_deeply_nested_sync_response_is_a_parse_error() -> None:
    """The member decoder raised RecursionError."""
    raw = '{"alipay_trade_query_response":' + "[" * 5000 + "]" * 5000 + ',"sign":"x"}'
    with pytest.raises(ParseError, match="malformed JSON"):
        verify_sync_response(raw, "alipay.trade.query", _rsa().public_key())


def test_a_certificate_with_an_unknown_key_algorithm_is_a_signature_error() -> None:
    """cryptography reads the key lazily: UnsupportedAlgorithm escaped from the key loader."""
    assert _TPP.certificate is not None
    der = _TPP.certificate.public_bytes(Encoding.DER)
    rsa_encryption = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"  # 1.2.840.113549.1.1.1
    assert rsa_encryption in der
    mangled = der.replace(rsa_encryption, b"\x06\x09\x1a" + rsa_encryption[3:])  # 0.26.840…
    message = _XS2A.with_headers({"TPP-Signature-Certificate": base64.b64encode(mangled).decode()})
    with pytest.raises(SignatureError, match="not a certificate"):
        BerlinGroupVerifier().verify(message)
