"""Signing overhead of JWS / UK OB, sorted-parameter RSA2 and webhooks against raw primitives.

Each case times walletlink's call and the bare ``cryptography`` (or ``hmac``) primitive over
the same key and the same bytes in the same run, and prints ops/s and the ratio
walletlink / raw (time per op). ``python benchmarks/bench_signing_jws_webhooks.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
import standardwebhooks
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from walletlink.signing.jws import OBJwsVerifier, sign_compact, sign_ob_detached, verify_compact
from walletlink.signing.params import notification_content, sign_params, verify_notification
from walletlink.signing.webhooks import StandardWebhook, StripeWebhook, WeChatPayVerifier

BODY = (
    b'{"Data":{"Initiation":{"InstructionIdentification":"ACME412","EndToEndIdentification":'
    b'"FRESCO.21302.GFX.20","InstructedAmount":{"Amount":"165.88","Currency":"GBP"}}},'
    b'"Risk":{"PaymentContextCode":"EcommerceGoods"}}'
) * 4  # ~680 bytes
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
PKCS1 = padding.PKCS1v15()
SHA256 = hashes.SHA256()
ISS = "0015800001041RHAAY/HQuZPIt3ipkh33Uxytox1E"


@attrs.frozen
class Case:
    name: str
    ours: Callable[[], object]
    raw: Callable[[], object]
    goal: float | None = None
    peer: Callable[[], object] | None = None


def _raw_pair(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, pad: padding.AsymmetricPadding | None
) -> tuple[Callable[[bytes], bytes], Callable[[bytes, bytes], None]]:
    """The bare sign and verify calls for one key and padding (None: ECDSA, DER)."""
    pub = key.public_key()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        ecdsa = ec.ECDSA(SHA256)
        return (lambda m: key.sign(m, ecdsa)), (lambda s, m: pub.verify(s, m, ecdsa))
    assert pad is not None
    assert isinstance(pub, rsa.RSAPublicKey)
    return (lambda m: key.sign(m, pad, SHA256)), (lambda s, m: pub.verify(s, m, pad, SHA256))


def _jws_case_pair(alg: str, key: Any, pad: padding.AsymmetricPadding | None) -> list[Case]:
    token = sign_compact(BODY, key, alg=alg, header={"kid": "k1"}, detached=True)
    head = token.split(".")[0]
    signing_input = f"{head}.{base64.urlsafe_b64encode(BODY).rstrip(b'=').decode()}".encode()
    raw_sign, raw_verify = _raw_pair(key, pad)
    raw_sig = raw_sign(signing_input)
    pub = key.public_key()
    return [
        Case(
            f"JWS {alg} sign",
            lambda: sign_compact(BODY, key, alg=alg, header={"kid": "k1"}, detached=True),
            lambda: raw_sign(signing_input),
            1.05,
        ),
        Case(
            f"JWS {alg} verify (detached)",
            lambda: verify_compact(token, pub, algorithms=[alg], payload=BODY),
            lambda: raw_verify(raw_sig, signing_input),
            1.05,
        ),
    ]


def _jws_cases(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> list[Case]:
    cases = [
        *_jws_case_pair("PS256", rsa_key, PSS),
        *_jws_case_pair("RS256", rsa_key, PKCS1),
        *_jws_case_pair("ES256", ec_key, None),
    ]
    now = datetime(2024, 5, 1, tzinfo=UTC)
    ob = sign_ob_detached(BODY, rsa_key, kid="k1", iss=ISS, now=now)
    head, _, _ = ob.split(".")
    ob_input = f"{head}.{base64.urlsafe_b64encode(BODY).rstrip(b'=').decode()}".encode()
    ob_sig = rsa_key.sign(ob_input, PSS, SHA256)
    verifier = OBJwsVerifier(keys={"k1": rsa_key.public_key()}, iss=ISS)
    cases.append(
        Case(
            "UK OB x-jws-signature verify",
            lambda: verifier.verify(ob, BODY, now),
            lambda: rsa_key.public_key().verify(ob_sig, ob_input, PSS, SHA256),
            1.05,
        )
    )
    return cases


def _params_cases(rsa_key: rsa.RSAPrivateKey) -> list[Case]:
    params = {
        "app_id": "2021000000000000",
        "notify_type": "trade_status_sync",
        "charset": "utf-8",
        "out_trade_no": "T-20240501-0001",
        "total_amount": "165.88",
        "trade_status": "TRADE_SUCCESS",
        "trade_no": "2024050122001400000000000001",
        "notify_time": "2024-05-01 12:00:00",
        "version": "1.0",
    }
    signed = sign_params(params, rsa_key)
    signed.pop("sign_type")
    content = notification_content(signed).encode()
    signed["sign"] = base64.b64encode(rsa_key.sign(content, PKCS1, SHA256)).decode()
    raw_sig = base64.b64decode(signed["sign"])
    request_items = sorted({**params, "sign_type": "RSA2"}.items())
    request_content = "&".join(f"{k}={v}" for k, v in request_items).encode()
    pub = rsa_key.public_key()
    return [
        Case(
            "params RSA2 sign",
            lambda: sign_params(params, rsa_key),
            lambda: rsa_key.sign(request_content, PKCS1, SHA256),
            1.05,
        ),
        Case(
            "params RSA2 notify verify",
            lambda: verify_notification(signed, pub),
            lambda: pub.verify(raw_sig, content, PKCS1, SHA256),
            1.05,
        ),
    ]


def _webhook_cases(rsa_key: rsa.RSAPrivateKey) -> list[Case]:
    secret_bytes = b"S" * 32
    secret = "whsec_" + base64.b64encode(secret_bytes).decode()
    now = datetime.now(tz=UTC)  # the peer library reads the real clock; we take the same instant
    hook = StandardWebhook([secret])
    headers = hook.sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now, BODY)
    content = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + BODY
    given = base64.b64decode(headers["webhook-signature"][3:])
    peer = standardwebhooks.Webhook(secret)

    stripe = StripeWebhook(["whsec_stripe_secret"])
    stripe_header = stripe.sign(now, BODY)
    stripe_content = f"{int(now.timestamp())}.".encode() + BODY
    stripe_given = stripe_header.split("v1=")[1].encode()

    wx_headers = {
        "Wechatpay-Timestamp": str(int(now.timestamp())),
        "Wechatpay-Nonce": "N" * 32,
        "Wechatpay-Serial": "D7CE59D1F522D701",
    }
    wx_message = f"{wx_headers['Wechatpay-Timestamp']}\n{'N' * 32}\n".encode() + BODY + b"\n"
    wx_sig = rsa_key.sign(wx_message, PKCS1, SHA256)
    wx_headers["Wechatpay-Signature"] = base64.b64encode(wx_sig).decode()
    wx = WeChatPayVerifier(platform_keys={"D7CE59D1F522D701": rsa_key.public_key()})
    pub = rsa_key.public_key()
    return [
        Case(
            "Standard Webhooks sign",
            lambda: hook.sign("msg_1", now, BODY),
            lambda: hmac.digest(secret_bytes, content, "sha256"),
        ),
        Case(
            "Standard Webhooks verify",
            lambda: hook.verify(headers, BODY, now),
            lambda: hmac.compare_digest(hmac.digest(secret_bytes, content, "sha256"), given),
            1.5,
            peer=lambda: peer.verify(BODY, headers, json_parse=False),
        ),
        Case(
            "Stripe-style verify",
            lambda: stripe.verify(stripe_header, BODY, now),
            lambda: hmac.compare_digest(
                hmac.new(b"whsec_stripe_secret", stripe_content, hashlib.sha256)
                .hexdigest()
                .encode(),
                stripe_given,
            ),
            1.5,
        ),
        Case(
            "WeChat Pay verify",
            lambda: wx.verify(wx_headers, BODY, now),
            lambda: pub.verify(wx_sig, wx_message, PKCS1, SHA256),
            1.05,
        ),
    ]


def all_cases() -> list[Case]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    return [*_jws_cases(rsa_key, ec_key), *_params_cases(rsa_key), *_webhook_cases(rsa_key)]


def _batch(fn: Callable[[], object], seconds: float) -> int:
    """How many calls of ``fn`` take about ``seconds``."""
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return max(n, 1)


def _timed(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def measure(cases: list[Case], seconds: float) -> list[tuple[Case, float, float, float | None]]:
    """Seconds per op, best of 7 rounds; ours and raw alternate so noise hits both alike."""
    results = []
    for case in cases:
        n_ours, n_raw = _batch(case.ours, seconds / 14), _batch(case.raw, seconds / 14)
        ours = raw = float("inf")
        for _ in range(7):
            ours = min(ours, _timed(case.ours, n_ours))
            raw = min(raw, _timed(case.raw, n_raw))
        peer = None
        if case.peer is not None:
            n_peer = _batch(case.peer, seconds / 14)
            peer = min(_timed(case.peer, n_peer) for _ in range(7))
        results.append((case, ours, raw, peer))
    return results


def report(results: list[tuple[Case, float, float, float | None]]) -> str:
    lines = [f"{'case':34} {'ours ops/s':>11} {'raw ops/s':>11} {'ratio':>6}  goal   peer"]
    for case, ours, raw, peer in results:
        goal = f"<={case.goal:.2f}" if case.goal else "  -  "
        peer_text = f"peer {peer / raw:.2f}x raw" if peer else ""
        rates = f"{1 / ours:11,.0f} {1 / raw:11,.0f} {ours / raw:6.2f}"
        lines.append(f"{case.name:34} {rates}  {goal}  {peer_text}")
    return "\n".join(lines)


def test_every_case_runs_and_is_correct() -> None:
    """Small run: each walletlink call and each raw primitive succeeds on the same bytes."""
    for case in all_cases():
        case.ours()
        case.raw()
        if case.peer:
            case.peer()


@pytest.mark.slow
def test_full_size_ratios() -> None:
    results = measure(all_cases(), seconds=1.0)
    print(report(results))
    for case, ours, raw, _ in results:
        if case.goal and "verify" in case.name and "Webhooks" in case.name:
            assert ours / raw <= case.goal * 1.2, case.name


def main() -> None:
    print(report(measure(all_cases(), seconds=2.0)))


if __name__ == "__main__":
    main()
