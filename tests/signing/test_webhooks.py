"""Standard Webhooks, Stripe-style webhooks and WeChat Pay v3 signatures."""

from __future__ import annotations

import base64
import hmac
import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
import standardwebhooks
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from walletlink.errors import (
    AlgorithmNotAllowedError,
    CertificateMismatchError,
    ConfigurationError,
    KeyNotFoundError,
    SignatureError,
    SignatureExpiredError,
    SignatureMismatchError,
    SignatureMissingError,
    ValidationError,
)
from walletlink.http import PreparedRequest, RawResponse
from walletlink.signing.webhooks import (
    StandardWebhook,
    StripeWebhook,
    WeChatPaySigner,
    WeChatPayVerifier,
    decrypt_wechatpay_resource,
    encrypt_wechatpay_resource,
    verify_wechatpay_authorization,
    wechatpay_response_headers,
)

VECTORS = Path(__file__).parent.parent / "vectors"
SW = json.loads((VECTORS / "standard_webhooks" / "vectors.json").read_text())
WX = json.loads((VECTORS / "wechatpay" / "vectors.json").read_text(encoding="utf-8"))
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()


def _at(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, tz=UTC)


# ------------------------------------------------------------------------ Standard Webhooks


def test_standard_webhooks_vector_signs_exactly() -> None:
    hook = StandardWebhook(secrets=[SW["secret"]])

    headers = hook.sign(SW["msg_id"], SW["timestamp"], SW["body"].encode())

    expected = {
        "webhook-id": SW["msg_id"],
        "webhook-timestamp": str(SW["timestamp"]),
        "webhook-signature": SW["signature"],
    }
    assert expected == headers


def test_standard_webhooks_vector_verifies() -> None:
    hook = StandardWebhook(secrets=[SW["secret"]])
    headers = {
        "Webhook-Id": SW["msg_id"],
        "Webhook-Timestamp": str(SW["timestamp"]),
        "Webhook-Signature": SW["signature"],
    }

    hook.verify(headers, SW["body"].encode(), _at(SW["timestamp"]))


@pytest.mark.parametrize(("offset", "ok"), [(300, True), (-300, True), (301, False), (-301, False)])
def test_tolerance_applies_in_both_directions(offset: int, ok: bool) -> None:
    hook = StandardWebhook(secrets=[SECRET])
    headers = hook.sign("msg_1", NOW, b"{}")
    now = NOW + timedelta(seconds=offset)

    if ok:
        hook.verify(headers, b"{}", now)
    else:
        with pytest.raises(SignatureExpiredError):
            hook.verify(headers, b"{}", now)


def test_rotation_any_trusted_secret_wins_and_unknown_versions_are_skipped() -> None:
    old, new = SECRET, "whsec_" + base64.b64encode(b"n" * 32).decode()
    sender = StandardWebhook(secrets=[old])
    headers = sender.sign("msg_1", NOW, b"{}")
    headers["webhook-signature"] = "v9,abc v1,bm9wZQ== " + headers["webhook-signature"]

    StandardWebhook(secrets=[new, old]).verify(headers, b"{}", NOW)
    with pytest.raises(SignatureMismatchError):
        StandardWebhook(secrets=[new]).verify(headers, b"{}", NOW)


def test_signer_with_two_secrets_sends_two_signatures() -> None:
    other = "whsec_" + base64.b64encode(b"o" * 32).decode()
    headers = StandardWebhook(secrets=[SECRET, other]).sign("msg_1", NOW, b"{}")

    assert len(headers["webhook-signature"].split(" ")) == 2
    StandardWebhook(secrets=[other]).verify(headers, b"{}", NOW)


def test_ed25519_v1a_round_trip_with_whsk_and_whpk() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    whsk = "whsk_" + base64.b64encode(seed).decode()
    whpk = "whpk_" + base64.b64encode(private.public_key().public_bytes_raw()).decode()

    headers = StandardWebhook(secrets=[whsk]).sign("msg_1", NOW, b'{"a":1}')

    assert headers["webhook-signature"].startswith("v1a,")
    raw = base64.b64decode(headers["webhook-signature"][4:])
    private.public_key().verify(raw, b"msg_1." + str(int(NOW.timestamp())).encode() + b'.{"a":1}')
    StandardWebhook(secrets=[whpk]).verify(headers, b'{"a":1}', NOW)
    with pytest.raises(SignatureMismatchError):
        StandardWebhook(secrets=[whpk]).verify(headers, b'{"a":2}', NOW)


def test_whsk_in_libsodium_64_byte_form_is_accepted_and_checked() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    both = private.private_bytes_raw() + private.public_key().public_bytes_raw()
    StandardWebhook(secrets=["whsk_" + base64.b64encode(both).decode()])
    wrong = private.private_bytes_raw() + b"\x00" * 32

    with pytest.raises(ConfigurationError):
        StandardWebhook(secrets=["whsk_" + base64.b64encode(wrong).decode()])


def test_public_key_only_cannot_sign() -> None:
    whpk = "whpk_" + base64.b64encode(b"\x01" * 32).decode()
    with pytest.raises(ConfigurationError):
        StandardWebhook(secrets=[whpk]).sign("msg_1", NOW, b"{}")


@pytest.mark.parametrize(
    "secrets",
    [[], ["whsec_" + base64.b64encode(b"short").decode()], ["whsec_***"], [b"x" * 65]],
)
def test_bad_secrets_are_configuration_errors(secrets: list[str | bytes]) -> None:
    with pytest.raises(ConfigurationError):
        StandardWebhook(secrets=secrets)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_headers_are_reported(missing: str) -> None:
    hook = StandardWebhook(secrets=[SECRET])
    headers = hook.sign("msg_1", NOW, b"{}")
    del headers[missing]

    with pytest.raises(SignatureMissingError, match=missing):
        hook.verify(headers, b"{}", NOW)


@pytest.mark.parametrize("stamp", ["abc", "+1714564800", " 1714564800", "1_714_564_800", "١٢"])
def test_malformed_timestamps_are_refused(stamp: str) -> None:
    hook = StandardWebhook(secrets=[SECRET])
    headers = hook.sign("msg_1", NOW, b"{}") | {"webhook-timestamp": stamp}

    with pytest.raises(SignatureMismatchError):
        hook.verify(headers, b"{}", NOW)


def test_ids_with_dots_are_refused_when_signing() -> None:
    with pytest.raises(ValidationError):
        StandardWebhook(secrets=[SECRET]).sign("msg.1", NOW, b"{}")


def test_errors_and_repr_never_show_the_secret() -> None:
    hook = StandardWebhook(secrets=[SECRET])
    headers = hook.sign("msg_1", NOW, b"{}")
    with pytest.raises(SignatureMismatchError) as caught:
        hook.verify(headers, b"{ }", NOW)

    secret_text = SECRET.removeprefix("whsec_")
    assert secret_text not in str(caught.value)
    assert headers["webhook-signature"][3:] not in str(caught.value)
    assert secret_text not in repr(hook)


@settings(max_examples=40, deadline=None)
@given(msg_id=st.from_regex(r"msg_[A-Za-z0-9]{1,30}", fullmatch=True), body=st.text())
def test_round_trip_and_the_reference_library_agrees(msg_id: str, body: str) -> None:
    hook = StandardWebhook(secrets=[SECRET])
    headers = hook.sign(msg_id, NOW, body.encode())

    hook.verify(headers, body.encode(), NOW)
    assert standardwebhooks.Webhook(SECRET).sign(msg_id, NOW, body) == headers["webhook-signature"]


def test_we_verify_what_the_reference_library_signs() -> None:
    peer = standardwebhooks.Webhook(SECRET)
    signature = peer.sign("msg_1", NOW, '{"ok": true}')
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(NOW.timestamp()))}

    StandardWebhook(secrets=[SECRET]).verify(
        headers | {"webhook-signature": signature}, b'{"ok": true}', NOW
    )


def _flip(data: bytes, bit: int) -> bytes:
    raw = bytearray(data)
    raw[bit // 8] ^= 1 << (bit % 8)
    return bytes(raw)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_webhooks_are_never_accepted(data: st.DataObject) -> None:
    """One bit flipped anywhere in the body or the three headers: zero accepted."""
    hmac_hook = StandardWebhook(secrets=[SECRET])
    body = data.draw(st.binary(min_size=1, max_size=200))
    headers = hmac_hook.sign("msg_abc", NOW, body)
    target = data.draw(st.sampled_from(["body", *headers]))
    if target == "body":
        bit = data.draw(st.integers(0, len(body) * 8 - 1))
        body = _flip(body, bit)
    else:
        value = headers[target].encode()
        bit = data.draw(st.integers(0, len(value) * 8 - 1))
        headers[target] = _flip(value, bit).decode("latin-1")

    with pytest.raises(SignatureError):
        hmac_hook.verify(headers, body, NOW)


# ------------------------------------------------------------------------ Stripe-style


def test_stripe_round_trip_and_several_v1_entries() -> None:
    old, new = "whsec_old_secret", "whsec_new_secret"
    header = StripeWebhook(secrets=[old, new]).sign(NOW, b'{"id":"evt_1"}')

    assert header.count("v1=") == 2
    StripeWebhook(secrets=[new]).verify(header, b'{"id":"evt_1"}', NOW)
    StripeWebhook(secrets=["whsec_other", old]).verify(header, b'{"id":"evt_1"}', NOW)
    with pytest.raises(SignatureMismatchError):
        StripeWebhook(secrets=["whsec_other"]).verify(header, b'{"id":"evt_1"}', NOW)


def test_stripe_signature_is_hmac_hex_over_t_dot_body() -> None:
    import hashlib
    import hmac

    header = StripeWebhook(secrets=["whsec_test"]).sign(1700000000, b"{}")

    expected = hmac.new(b"whsec_test", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert f"t=1700000000,v1={expected}" == header


@pytest.mark.parametrize("offset", [301, -301])
def test_stripe_tolerance_both_directions(offset: int) -> None:
    hook = StripeWebhook(secrets=["whsec_test"])
    header = hook.sign(NOW, b"{}")

    with pytest.raises(SignatureExpiredError):
        hook.verify(header, b"{}", NOW + timedelta(seconds=offset))


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (None, SignatureMissingError),
        ("t=1714564800", SignatureMissingError),
        ("v1=abc", SignatureMismatchError),
        ("t=1,t=2,v1=abc", SignatureMismatchError),
        ("t=soon,v1=abc", SignatureMismatchError),
    ],
)
def test_stripe_malformed_headers(header: str | None, error: type[Exception]) -> None:
    with pytest.raises(error):
        StripeWebhook(secrets=["whsec_test"]).verify(header, b"{}", NOW)


def test_stripe_verify_headers_looks_up_case_insensitively() -> None:
    hook = StripeWebhook(secrets=["whsec_test"])
    hook.verify_headers({"Stripe-Signature": hook.sign(NOW, b"{}")}, b"{}", NOW)


# ------------------------------------------------------------------------ WeChat Pay


@cache
def _wx_key() -> rsa.RSAPrivateKey:
    pem = (VECTORS / "wechatpay" / "test_private_key.pem").read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@cache
def _wx_cert() -> x509.Certificate:
    return x509.load_pem_x509_certificate(
        (VECTORS / "wechatpay" / "platform_certificate.pem").read_bytes()
    )


def test_wechatpay_sha256withrsa_source_vector() -> None:
    """The request signer's primitive reproduces the SDK's deterministic vector."""
    from walletlink.signing.webhooks import _rsa_sign

    assert WX["sha256withrsa_source"]["signature"] == _rsa_sign(_wx_key(), b"source")


def test_wechatpay_callback_vector_verifies_and_decrypts() -> None:
    vector = WX["callback"]
    verifier = WeChatPayVerifier.from_certificates([_wx_cert()])
    body = vector["body"].encode()
    now = _at(int(vector["headers"]["Wechatpay-Timestamp"]))

    plaintext = verifier.verify_notification(vector["headers"], body, now, vector["api_v3_key"])

    assert json.loads(vector["plaintext"]) == plaintext


def test_wechatpay_callback_vector_outside_the_window_or_tampered() -> None:
    vector = WX["callback"]
    verifier = WeChatPayVerifier.from_certificates([_wx_cert()])
    body = vector["body"].encode()
    now = _at(int(vector["headers"]["Wechatpay-Timestamp"]))

    with pytest.raises(SignatureExpiredError):
        verifier.verify(vector["headers"], body, now + timedelta(seconds=301))
    with pytest.raises(SignatureExpiredError):
        verifier.verify(vector["headers"], body, now - timedelta(seconds=301))
    with pytest.raises(SignatureMismatchError):
        verifier.verify(vector["headers"], body.replace(b"payscore", b"PAYSCORE", 1), now)
    probe = vector["headers"] | {"Wechatpay-Signature": "WECHATPAY/SIGNTEST/abc"}
    with pytest.raises(SignatureMismatchError):
        verifier.verify(probe, body, now)
    other = vector["headers"] | {"Wechatpay-Serial": "ABCDEF"}
    with pytest.raises(KeyNotFoundError):
        verifier.verify(other, body, now)
    typed = vector["headers"] | {"Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"}
    with pytest.raises(AlgorithmNotAllowedError):
        verifier.verify(typed, body, now)


def test_wechatpay_expired_certificate_is_not_trusted() -> None:
    vector = WX["callback"]
    verifier = WeChatPayVerifier.from_certificates([_wx_cert()])
    headers = vector["headers"] | {"Wechatpay-Timestamp": "1958000000"}

    with pytest.raises(CertificateMismatchError):
        verifier.verify(headers, vector["body"].encode(), _at(1958000000))


def test_wechatpay_aes_gcm_vector() -> None:
    vector = WX["aes_gcm_hello"]
    resource = {k: vector[k] for k in ("ciphertext", "nonce", "associated_data")}

    assert decrypt_wechatpay_resource(resource, vector["key"]) == b"Hello World"
    with pytest.raises(SignatureMismatchError):
        decrypt_wechatpay_resource(resource | {"associated_data": "x"}, vector["key"])
    with pytest.raises(ConfigurationError):
        decrypt_wechatpay_resource(resource, "short")
    with pytest.raises(AlgorithmNotAllowedError):
        decrypt_wechatpay_resource(resource | {"algorithm": "AES_CBC"}, vector["key"])


@settings(max_examples=25, deadline=None)
@given(
    plaintext=st.binary(max_size=200),
    key=st.sampled_from([b"k" * 16, b"k" * 24, b"k" * 32]),
    aad=st.text(max_size=20),
)
def test_wechatpay_resource_round_trip(plaintext: bytes, key: bytes, aad: str) -> None:
    sealed = encrypt_wechatpay_resource(plaintext, key, nonce="abcdefghijkl", associated_data=aad)

    assert plaintext == decrypt_wechatpay_resource(sealed, key)


def test_wechatpay_platform_headers_round_trip_through_the_response_hook() -> None:
    body = b'{"code_url":"weixin://wxpay/bizpayurl?pr=x"}'
    headers = wechatpay_response_headers(
        body, key=_wx_key(), serial="D7CE59D1F522D701", now=_at(1624523846), nonce="N1"
    )
    verifier = WeChatPayVerifier(platform_keys={"d7ce59d1f522d701": _wx_key().public_key()})

    verifier(RawResponse(status=200, headers=headers, body=body), _at(1624523846))


def test_wechatpay_request_signer_and_server_side_check() -> None:
    signer = WeChatPaySigner(
        mchid="1900009191", serial_no="D7CE59D1F522D701", key=_wx_key(), nonce=lambda: "N0NCE"
    )
    request = PreparedRequest.json("POST", "/v3/pay/transactions/native", {"amount": 1})
    url = "https://api.mch.weixin.qq.com/v3/pay/transactions/native?x=1"

    signed = signer(request, url, _at(1624523846))

    auth = signed.headers["Authorization"]
    assert auth.startswith(
        'WECHATPAY2-SHA256-RSA2048 mchid="1900009191",nonce_str="N0NCE",timestamp="1624523846",'
        'serial_no="D7CE59D1F522D701",signature="'
    )
    keys = {"D7CE59D1F522D701": _wx_cert()}
    kwargs = {"method": "POST", "url": url, "merchant_keys": keys, "now": _at(1624523846)}
    assert verify_wechatpay_authorization(auth, body=signed.body or b"", **kwargs) == "1900009191"
    with pytest.raises(SignatureMismatchError):
        verify_wechatpay_authorization(auth, body=b'{"amount":2}', **kwargs)
    with pytest.raises(SignatureMissingError):
        verify_wechatpay_authorization(None, body=b"", **kwargs)
    with pytest.raises(AlgorithmNotAllowedError):
        verify_wechatpay_authorization("Bearer x", body=b"", **kwargs)


def test_wechatpay_get_request_message_ends_with_an_empty_body_line() -> None:
    from walletlink.signing.webhooks import _request_message

    message = _request_message("get", "https://h/v3/certificates", "1", "N", b"")

    assert message == b"GET\n/v3/certificates\n1\nN\n\n"


def test_wechatpay_request_message_signs_the_origin_form_target() -> None:
    """An empty path is "/" and userinfo/fragment are not signed (RFC 9110 §4.2.3, §7.1)."""
    from walletlink.signing.webhooks import _request_message

    message = _request_message("get", "https://u:p@H?a=%41#f", "1", "N", b"")

    assert message == b"GET\n/?a=%41\n1\nN\n\n"
    assert message == _request_message("get", "/?a=%41", "1", "N", b"")


@given(st.binary(max_size=200), st.binary(max_size=2000))
def test_keyed_hmac_equals_the_standard_library(secret: bytes, message: bytes) -> None:
    from walletlink.signing.webhooks import _KeyedSha256

    expected = hmac.digest(secret, message, "sha256")
    assert _KeyedSha256.of(secret).mac(message) == expected
