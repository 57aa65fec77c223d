"""The strict base64 decoder: one accepted spelling per value."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st

from walletlink.errors import SignatureError
from walletlink.signing import (
    CavageSigner,
    CavageVerifier,
    HttpMessage,
    KeyRing,
    Rfc9421Signer,
    Rfc9421Verifier,
    StandardWebhook,
    WeChatPayVerifier,
    decrypt_wechatpay_resource,
    encrypt_wechatpay_resource,
    generate_rsa_key,
    hmac_key,
    sign_content,
    sign_params,
    verify_content,
    wechatpay_response_headers,
)
from walletlink.signing._b64 import b64decode, b64url_decode, b64url_encode
from walletlink.signing.digest import (
    content_digest,
    legacy_digest,
    verify_content_digest,
    verify_legacy_digest,
)

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _flip_unused_bits(text: str, bits: int) -> str:
    """``text`` with the unused low bits of its last data character set to ``bits``."""
    data = text.rstrip("=")
    pad = len(text) - len(data)
    last = _ALPHABET.index(data[-1]) | bits
    return data[:-1] + _ALPHABET[last] + "=" * pad


@given(st.binary(min_size=1, max_size=64).filter(lambda b: len(b) % 3), st.integers(1, 15))
def test_set_unused_bits_are_refused(data: bytes, bits: int) -> None:
    text = base64.b64encode(data).decode()
    unused = 0b1111 if len(data) % 3 == 1 else 0b11
    respelt = _flip_unused_bits(text, bits & unused or 1)
    assert base64.b64decode(respelt) == data  # the lenient decoder says "same value"
    with pytest.raises(ValueError, match="non-canonical"):
        b64decode(respelt)
    with pytest.raises(ValueError, match="non-canonical"):
        b64decode(respelt.rstrip("="), padding_optional=True)


@given(st.binary(max_size=64))
def test_canonical_spellings_decode(data: bytes) -> None:
    text = base64.b64encode(data).decode()
    assert data == b64decode(text)
    assert data == b64decode(text.rstrip("="), padding_optional=True)
    assert data == b64url_decode(b64url_encode(data))


@pytest.mark.parametrize("text", ["YQ", "YQ=", "Y Q==", "YQ==\n", "YQ==YQ==", "é"])
def test_malformed_padded_base64_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="base64"):
        b64decode(text)


def test_url_form_refuses_padding_and_set_bits() -> None:
    assert b64url_decode("YQ") == b"a"
    for text in ("YQ==", "YR", "Y+", "Y"):
        with pytest.raises(ValueError, match="base64"):
            b64url_decode(text)


# ---- every scheme refuses a signature re-spelt with its unused bits set -------------------

_NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
_URL = "https://bank.example/v1/payments?x=1"
_BODY = b'{"amount":"1.00"}'
_RSA = generate_rsa_key("rsa-1")
_HMAC = hmac_key(b"0123456789abcdef0123456789abcdef", kid="h1")


def _respell(value: str, start: int, end: int) -> str:
    """``value`` with the base64 text at ``start:end`` re-spelt (unused bits set)."""
    encoded = value[start:end]
    data = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
    assert len(data) % 3, "the value must have unused bits"
    respelt = _flip_unused_bits(encoded, 1)
    return value[:start] + respelt + value[end:]


def _request() -> HttpMessage:
    return HttpMessage(
        method="POST", url=_URL, headers={"Content-Type": "application/json"}, body=_BODY
    )


def _rfc9421() -> None:
    signed = _request().with_headers(Rfc9421Signer(keys=_HMAC).signature_headers(_request(), _NOW))
    value = signed.header("Signature") or ""
    start = value.index(":") + 1
    bad = signed.with_headers({"Signature": _respell(value, start, value.index(":", start))})
    Rfc9421Verifier(keys=_HMAC).verify(bad, _NOW)


def _content_digest() -> None:
    value = content_digest(_BODY)
    start = value.index(":") + 1
    verify_content_digest(_respell(value, start, value.index(":", start)), _BODY)


def _legacy_digest() -> None:
    value = legacy_digest(_BODY)
    verify_legacy_digest(_respell(value, value.index("=") + 1, len(value)), _BODY)


def _cavage() -> None:
    signer = CavageSigner(key=_RSA, headers=("(request-target)", "date"))
    signed = _request().with_headers(signer.signature_headers(_request(), _NOW))
    value = signed.header("Signature") or ""
    start = value.index('signature="') + len('signature="')
    bad = signed.with_headers({"Signature": _respell(value, start, value.index('"', start))})
    CavageVerifier(keys=KeyRing.of(_RSA.public())).verify(bad, _NOW)


def _params() -> None:
    private = _RSA.require_private()
    assert isinstance(private, rsa.RSAPrivateKey)
    signed = sign_params({"app_id": "1", "method": "x"}, private)
    sign = signed["sign"]
    verify_content(
        sign_content(signed), _respell(sign, 0, len(sign.rstrip("="))), private.public_key()
    )


def _wechatpay() -> None:
    private = _RSA.require_private()
    assert isinstance(private, rsa.RSAPrivateKey)
    headers = wechatpay_response_headers(_BODY, key=private, serial="AB", now=_NOW)
    sign = headers["Wechatpay-Signature"]
    headers["Wechatpay-Signature"] = _respell(sign, 0, len(sign.rstrip("=")))
    WeChatPayVerifier(platform_keys={"AB": _RSA.require_public()}).verify(headers, _BODY, _NOW)


def _wechatpay_ciphertext() -> None:
    key = b"0123456789abcdef0123456789abcdef"
    sealed = encrypt_wechatpay_resource(b"{}!", key, nonce="nonce0123456")
    text = sealed["ciphertext"]
    sealed["ciphertext"] = _respell(text, 0, len(text.rstrip("=")))
    decrypt_wechatpay_resource(sealed, key)


def _standard_webhook() -> None:
    hook = StandardWebhook([ed25519.Ed25519PrivateKey.generate()])
    headers = hook.sign("msg_1", _NOW, _BODY)
    value = headers["webhook-signature"]
    headers["webhook-signature"] = _respell(value, 4, len(value.rstrip("=")))
    hook.verify(headers, _BODY, _NOW)


@pytest.mark.parametrize(
    "scheme",
    [
        _rfc9421,
        _content_digest,
        _legacy_digest,
        _cavage,
        _params,
        _wechatpay,
        _wechatpay_ciphertext,
        _standard_webhook,
    ],
)
def test_respelt_signatures_are_refused(scheme: Callable[[], None]) -> None:
    """Setting a signature's unused base64 bits must not leave it valid (one spelling each)."""
    with pytest.raises(SignatureError):
        scheme()


@pytest.mark.parametrize("value", [25_275_976_712, None, 1.5, ["QQ=="]])
def test_only_text_is_decoded(value: object) -> None:
    """A JSON number once reached bytes(value): 25 GB of zeros instead of an error."""
    with pytest.raises(ValueError, match="must be text"):
        b64decode(value)  # type: ignore[arg-type]
