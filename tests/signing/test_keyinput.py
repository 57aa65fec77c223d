"""One key type everywhere: every signing entry point takes walletlink's ``SigningKey``.

Each entry point signs and verifies with a :class:`SigningKey` (the private one to sign, its
``public()`` half to verify) and, where it took them before, with raw ``cryptography`` keys;
anything that is not a key is a ``ConfigurationError`` before it is used.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from walletlink.errors import AlgorithmNotAllowedError, CertificateMismatchError, ConfigurationError
from walletlink.signing import (
    BerlinGroupSigner,
    BerlinGroupVerifier,
    CavageSigner,
    CavageVerifier,
    HttpMessage,
    OBJwsSigner,
    OBJwsVerifier,
    Rfc9421Signer,
    Rfc9421Verifier,
    StandardWebhook,
    TestCA,
    WeChatPaySigner,
    WeChatPayVerifier,
    alipay_request_params,
    generate_ec_key,
    generate_ed25519_key,
    generate_rsa_key,
    hmac_key,
    sign_compact,
    sign_content,
    sign_ob_detached,
    sign_params,
    verify_compact,
    verify_content,
    verify_notification,
    verify_notification_form,
    verify_ob_detached,
    verify_sync_response,
    verify_wechatpay_authorization,
    wechatpay_response_headers,
)
from walletlink.signing._b64 import b64encode
from walletlink.signing._keyinput import rsa_private
from walletlink.signing.cavage import sign_cavage

NOW = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
RSA = generate_rsa_key("rsa-1")
ED = generate_ed25519_key("ed-1")
QSEAL = TestCA.create(now=NOW).issue("qseal", now=NOW, key=generate_rsa_key("qseal"), client=True)
URL = "https://bank.example/v1/pay?x=1"
BODY = b'{"amount":"1.00"}'
ISS = "0015800001041RHAAY/HQuZPIt3ipkh33Uxytox1E"
NOT_KEYS = ["-----BEGIN PRIVATE KEY-----", b"\x00" * 32, None, {"kty": "RSA"}]

Case = Callable[[Any, Any], None]


def _message() -> HttpMessage:
    return HttpMessage(method="POST", url=URL, headers={"Content-Type": "x/y"}, body=BODY)


def _sign_params(private: Any, public: Any) -> None:
    signed = sign_params({"app_id": "1", "method": "m"}, private)
    verify_content(sign_content(signed), signed["sign"], public)


def _alipay_request_params(private: Any, public: Any) -> None:
    signed = alipay_request_params(
        app_id="1", method="m", biz_content={"a": 1}, now=NOW, key=private
    )
    verify_content(sign_content(signed), signed["sign"], public)


def _notification(private: Any, public: Any) -> None:
    params = {"notify_id": "n1", "trade_status": "TRADE_SUCCESS"}
    notified = params | {"sign_type": "RSA2", "sign": _rsa2_over(private, sign_content(params))}
    verify_notification(notified, public)
    verify_notification_form(urlencode(notified).encode("ascii"), public)


def _rsa2_over(private: Any, content: str) -> str:
    """An RSA2 ``sign`` over exactly ``content`` (sign_params always adds sign_type)."""

    key = rsa_private(private, "test")
    return b64encode(key.sign(content.encode(), padding.PKCS1v15(), hashes.SHA256()))


def _sync_response(private: Any, public: Any) -> None:
    inner = '{"code":"10000","msg":"Success"}'
    raw = json.dumps({"alipay_trade_query_response": "X", "sign": _rsa2_over(private, inner)})
    raw = raw.replace('"X"', inner)
    assert verify_sync_response(raw, "alipay.trade.query", public).signed


def _wechatpay_request(private: Any, public: Any) -> None:
    signer = WeChatPaySigner(mchid="1900009191", serial_no="AB12", key=private)
    auth = signer.authorization("POST", URL, BODY, NOW)
    merchant = {"AB12": public}
    verify_wechatpay_authorization(
        auth, method="POST", url=URL, body=BODY, merchant_keys=merchant, now=NOW
    )


def _wechatpay_response(private: Any, public: Any) -> None:
    headers = wechatpay_response_headers(BODY, key=private, serial="CD34", now=NOW)
    WeChatPayVerifier(platform_keys={"CD34": public}).verify(headers, BODY, NOW)


def _ob_jws(private: Any, public: Any) -> None:
    signature = OBJwsSigner(key=private, kid="rsa-1", iss=ISS).sign(BODY, NOW)
    OBJwsVerifier(keys={"rsa-1": public}, iss=ISS).verify(signature, BODY, NOW)


def _ob_detached(private: Any, public: Any) -> None:
    signature = sign_ob_detached(BODY, private, kid="rsa-1", iss=ISS, now=NOW)
    verify_ob_detached(signature, BODY, keys={"rsa-1": public}, iss=ISS, now=NOW)


def _compact(private: Any, public: Any) -> None:
    token = sign_compact(BODY, private, alg="PS256")
    assert verify_compact(token, public, algorithms=("PS256",)).payload == BODY


def _rfc9421(private: Any, public: Any) -> None:
    signed = Rfc9421Signer(keys=private).sign_message(_message(), NOW)
    Rfc9421Verifier(keys=public).verify(signed, NOW)


def _cavage(private: Any, public: Any) -> None:
    signer = CavageSigner(key=private, headers=("(request-target)", "date"))
    signed = _message().with_headers(signer.signature_headers(_message(), NOW))
    CavageVerifier(keys=public).verify(signed, NOW)


def _sign_cavage(private: Any, public: Any) -> None:
    signed = sign_cavage(_message(), private, headers=("content-type",))
    message = _message().with_headers({"Signature": signed.to_header()})
    CavageVerifier(keys=public).verify(message, NOW)


def _berlin_group(private: Any, public: Any) -> None:
    signed = _message().with_headers(
        BerlinGroupSigner(key=private).signature_headers(_message(), NOW)
    )
    BerlinGroupVerifier(trusted=public).verify(signed)


def _standard_webhook(private: Any, public: Any) -> None:
    headers = StandardWebhook([private]).sign("msg_1", NOW, BODY)
    StandardWebhook([public]).verify(headers, BODY, NOW)


# Entry points that took raw cryptography keys before, and still do.
RAW_TOO: list[Case] = [
    _sign_params,
    _alipay_request_params,
    _notification,
    _sync_response,
    _wechatpay_request,
    _wechatpay_response,
    _ob_jws,
    _ob_detached,
    _compact,
]
# Entry points built on SigningKey/KeyRing only.
WALLETLINK_ONLY: list[Case] = [_rfc9421, _cavage, _sign_cavage]


@pytest.mark.parametrize("case", RAW_TOO + WALLETLINK_ONLY, ids=lambda c: c.__name__)
def test_every_entry_point_takes_a_signing_key(case: Case) -> None:
    case(RSA, RSA.public())


@pytest.mark.parametrize("case", RAW_TOO, ids=lambda c: c.__name__)
def test_entry_points_that_took_raw_keys_still_do(case: Case) -> None:
    case(RSA.private_key, RSA.public_key)


@pytest.mark.parametrize("case", WALLETLINK_ONLY, ids=lambda c: c.__name__)
def test_signing_key_only_entry_points_refuse_raw_keys(case: Case) -> None:
    with pytest.raises(ConfigurationError, match="SigningKey"):
        case(RSA.private_key, RSA.public())
    with pytest.raises(ConfigurationError, match="SigningKey"):
        case(RSA, RSA.public_key)


def test_berlin_group_and_standard_webhooks_take_signing_keys() -> None:
    _berlin_group(QSEAL, QSEAL.public())
    _standard_webhook(ED, ED.public())
    _standard_webhook(ED.private_key, ED.public_key)
    secret = hmac_key(b"0123456789abcdef0123456789abcdef", kid="h")
    _standard_webhook(secret, secret)


@pytest.mark.parametrize("junk", NOT_KEYS, ids=lambda j: type(j).__name__)
@pytest.mark.parametrize("case", RAW_TOO + WALLETLINK_ONLY, ids=lambda c: c.__name__)
def test_anything_but_a_key_is_a_configuration_error(case: Case, junk: object) -> None:
    with pytest.raises(ConfigurationError):
        case(junk, RSA.public())
    with pytest.raises(ConfigurationError):
        case(RSA, junk)


@pytest.mark.parametrize(
    "build",
    [
        lambda junk: WeChatPaySigner(mchid="1", serial_no="A", key=junk),
        lambda junk: WeChatPayVerifier(platform_keys={"A": junk}),
        lambda junk: OBJwsSigner(key=junk, kid="k", iss=ISS),
        lambda junk: OBJwsVerifier(keys={"k": junk}, iss=ISS),
        lambda junk: Rfc9421Signer(keys=junk),
        lambda junk: Rfc9421Verifier(keys=junk),
        lambda junk: CavageSigner(key=junk),
        lambda junk: CavageVerifier(keys=junk),
        lambda junk: BerlinGroupSigner(key=junk),
        lambda junk: BerlinGroupVerifier(trusted=junk or "x"),
    ],
)
@pytest.mark.parametrize("junk", NOT_KEYS, ids=lambda j: type(j).__name__)
def test_signers_and_verifiers_refuse_a_non_key_at_construction(
    build: Callable[[object], object], junk: object
) -> None:
    """Refused when configured, not with an AttributeError on the first request."""
    with pytest.raises(ConfigurationError):
        build(junk)


def test_a_key_of_the_wrong_family_is_an_algorithm_error() -> None:
    ec_key = generate_ec_key("ec-1")
    with pytest.raises(AlgorithmNotAllowedError):
        WeChatPaySigner(mchid="1", serial_no="A", key=ec_key)
    with pytest.raises(AlgorithmNotAllowedError):
        sign_params({"a": "1"}, ec_key)
    with pytest.raises(AlgorithmNotAllowedError):
        StandardWebhook([RSA])
    for junk in (None, {"kty": "oct"}, 12):
        with pytest.raises(ConfigurationError):
            StandardWebhook([junk])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="private"):
        WeChatPaySigner(mchid="1", serial_no="A", key=RSA.public())


def test_a_signing_key_with_a_certificate_is_trusted_only_while_it_is_valid() -> None:
    """WeChat Pay checks a platform certificate's validity; a SigningKey carrying one too."""
    later = NOW + dt.timedelta(days=60)
    verifier = WeChatPayVerifier(platform_keys={"CD34": QSEAL.public()})
    verifier.verify(wechatpay_response_headers(BODY, key=QSEAL, serial="CD34", now=NOW), BODY, NOW)
    headers = wechatpay_response_headers(BODY, key=QSEAL, serial="CD34", now=later)
    with pytest.raises(CertificateMismatchError):
        verifier.verify(headers, BODY, later)
