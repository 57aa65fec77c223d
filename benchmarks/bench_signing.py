"""Signing throughput: every scheme against the raw primitive, same key and bytes, same run.

``.venv/bin/python benchmarks/bench_signing.py`` prints the table (``--markdown`` for the
docs, ``--seconds`` and ``--rounds`` to change the effort, ``--only`` to pick cases by
substring). Each :class:`Case` pairs one walletlink call with the bare ``cryptography`` (or
``hmac``) primitive over the same key and the same signature input; where a peer library
does the same job it is timed alongside.

Verify cases build a fresh :class:`HttpMessage` per call, as a server does per request, so
nothing parsed from one call is reused by the next.

Timing: ours, raw and peer run in interleaved rounds (ours, raw, peer, ours, raw, peer…)
so CPU-frequency drift and other jobs on the machine hit all sides alike. The reported ratio
is best ours ÷ best raw time per op (the least-disturbed round of each); the spread column
gives the lowest and highest per-round ratio, i.e. how noisy the run was.

Performance is measured, never asserted: the slow test prints the table and only checks
that every case ran. Goals are printed next to the ratio for the reader.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hmac
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import pytest
import requests
import standardwebhooks
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from walletlink.signing import (
    CavageVerifier,
    HttpMessage,
    KeyRing,
    Rfc9421Signer,
    Rfc9421Verifier,
    SigningKey,
    generate_ec_key,
    generate_ed25519_key,
    generate_rsa_key,
    hmac_key,
)
from walletlink.signing.cavage import sign_cavage, signing_string
from walletlink.signing.jws import OBJwsVerifier, sign_compact, sign_ob_detached, verify_compact
from walletlink.signing.params import notification_content, sign_params, verify_notification
from walletlink.signing.rfc9421 import parse_signatures, signature_base
from walletlink.signing.webhooks import StandardWebhook, StripeWebhook, WeChatPayVerifier

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
HTTP_BODY = (
    b'{"amount":{"currency":"EUR","value":"123.50"},"creditor":{"iban":"DE02100100109307118603"}}'
)
MESSAGE = HttpMessage(
    method="POST",
    url="https://bank.example/v1/payments/sepa-credit-transfers?x=1",
    headers={
        "Content-Type": "application/json",
        "Date": "Wed, 01 May 2024 12:00:00 GMT",
        "X-Request-ID": "99391c7e-ad88-49ec-a2ad-99ddcb1f7721",
    },
    body=HTTP_BODY,
)
JSON_BODY = (
    b'{"Data":{"Initiation":{"InstructionIdentification":"ACME412","EndToEndIdentification":'
    b'"FRESCO.21302.GFX.20","InstructedAmount":{"Amount":"165.88","Currency":"GBP"}}},'
    b'"Risk":{"PaymentContextCode":"EcommerceGoods"}}'
) * 4  # 852 bytes, the size of a typical payment or webhook body
SHA256 = hashes.SHA256()
PKCS1 = padding.PKCS1v15()
PSS256 = padding.PSS(mgf=padding.MGF1(SHA256), salt_length=32)
OB_ISS = "0015800001041RHAAY/HQuZPIt3ipkh33Uxytox1E"


@attrs.frozen
class Case:
    """One walletlink operation, the raw primitive it is compared with, and maybe a peer."""

    name: str
    ours: Callable[[], Any]
    raw: Callable[[], Any]
    goal: float | None = None  # maximum ours/raw time ratio; None = informational
    peer: Callable[[], Any] | None = None
    peer_name: str = ""


@attrs.frozen
class Result:
    """Seconds per op for each side: the best round and the median round."""

    name: str
    goal: float | None
    ours: float
    raw: float
    ours_median: float
    raw_median: float
    round_ratios: tuple[float, ...]
    peer: float | None = None
    peer_name: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.raw

    @property
    def median_ratio(self) -> float:
        return self.ours_median / self.raw_median

    @property
    def overhead_us(self) -> float:
        """The fixed cost walletlink adds per message, in microseconds (best rounds)."""
        return (self.ours - self.raw) * 1e6

    @property
    def verdict(self) -> str:
        if self.goal is None:
            return "–"
        return f"≤ {self.goal:g} {'met' if self.ratio <= self.goal else '**missed**'}"


# --------------------------------------------------------------------------- RFC 9421


def _received(message: HttpMessage) -> HttpMessage:
    """A fresh copy, as a server builds one per request: nothing parsed is carried over."""
    return HttpMessage(
        method=message.method, url=message.url, headers=message.headers, body=message.body
    )


def _rfc9421_cases(
    name: str,
    key: SigningKey,
    raw_sign: Callable[[bytes], bytes],
    raw_verify: Callable[[bytes, bytes], None],
    goal: float,
    *,
    to_raw_signature: Callable[[bytes], bytes] = lambda s: s,
) -> list[Case]:
    signer = Rfc9421Signer(keys=key)
    signed = signer.sign_message(MESSAGE, NOW)
    public = key if key.secret is not None else key.public()
    verifier = Rfc9421Verifier(keys=public, clock=lambda: NOW)
    ((si, signature),) = parse_signatures(signed).values()
    base = signature_base(signed, si)
    raw_signature = to_raw_signature(signature)
    return [
        Case(
            f"rfc9421 {name} sign (+Content-Digest)",
            lambda: signer.signature_headers(MESSAGE, NOW),
            lambda: raw_sign(base),
            goal,
        ),
        Case(
            f"rfc9421 {name} verify (+Content-Digest)",
            lambda: verifier.verify(_received(signed)),
            lambda: raw_verify(raw_signature, base),
            goal,
        ),
    ]


def _peer_http_message_signatures(key: SigningKey) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """http-message-signatures sign and verify on the same Ed25519 key and a like request."""
    from http_message_signatures import HTTPMessageSigner, HTTPMessageVerifier, algorithms
    from http_message_signatures.resolvers import MappingKeyResolver

    private = key.private_key
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    resolver = MappingKeyResolver(
        public_keys={key.kid: private.public_key()}, private_keys={key.kid: private}
    )
    signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=resolver)
    verifier = HTTPMessageVerifier(signature_algorithm=algorithms.ED25519, key_resolver=resolver)
    covered = ("@method", "@authority", "@path", "@query", "content-type")
    prepared = requests.Request(
        "POST", MESSAGE.url, headers=dict(MESSAGE.headers), data=HTTP_BODY
    ).prepare()

    def sign() -> None:
        prepared.headers.pop("Content-Digest", None)  # the peer refuses to overwrite its own
        prepared.headers.pop("Signature", None)
        prepared.headers.pop("Signature-Input", None)
        signer.sign(
            prepared,
            key_id=key.kid,
            created=NOW,
            label="sig1",
            body=HTTP_BODY,
            covered_component_ids=covered,
        )

    sign()
    signed = prepared.copy()

    def verify() -> None:
        verifier.verify(signed, max_age=None, body=HTTP_BODY)

    return sign, verify


def _ed25519() -> list[Case]:
    key = generate_ed25519_key("ed")
    private = key.private_key
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    public = private.public_key()
    sign, verify = _rfc9421_cases("ed25519", key, private.sign, public.verify, 2.0)
    peer_sign, peer_verify = _peer_http_message_signatures(key)
    peer = "http-message-signatures"
    return [
        attrs.evolve(sign, peer=peer_sign, peer_name=peer),
        attrs.evolve(verify, peer=peer_verify, peer_name=peer),
    ]


def _hmac() -> list[Case]:
    key = hmac_key(b"0123456789abcdef0123456789abcdef", kid="h")
    secret = key.require_secret()

    def verify(signature: bytes, data: bytes) -> None:
        if not hmac.compare_digest(hmac.digest(secret, data, "sha256"), signature):
            raise AssertionError("raw HMAC does not verify")

    return _rfc9421_cases(
        "hmac-sha256", key, lambda data: hmac.digest(secret, data, "sha256"), verify, 2.0
    )


def _ecdsa() -> list[Case]:
    key = generate_ec_key("ec")
    private = key.private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    public = private.public_key()
    scheme = ec.ECDSA(SHA256)

    def to_der(signature: bytes) -> bytes:  # RFC 9421 carries r||s; the primitive wants DER
        return encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )

    return _rfc9421_cases(
        "ecdsa-p256",
        key,
        lambda d: private.sign(d, scheme),
        lambda s, d: public.verify(s, d, scheme),
        1.05,
        to_raw_signature=to_der,
    )


def _rsa_pss() -> list[Case]:
    key = generate_rsa_key("rsa", alg="rsa-pss-sha512")
    private = key.private_key
    assert isinstance(private, rsa.RSAPrivateKey)
    public = private.public_key()
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
    return _rfc9421_cases(
        "rsa-pss-sha512",
        key,
        lambda d: private.sign(d, pss, hashes.SHA512()),
        lambda s, d: public.verify(s, d, pss, hashes.SHA512()),
        1.05,
    )


def _cavage() -> list[Case]:
    key = generate_rsa_key("tpp", alg="rsa-v1_5-sha256")
    private = key.private_key
    assert isinstance(private, rsa.RSAPrivateKey)
    public = private.public_key()
    headers = ("(request-target)", "date", "x-request-id", "content-type")
    signed = sign_cavage(MESSAGE, key, headers=headers)
    message = MESSAGE.with_headers({"Signature": signed.to_header()})
    base = signing_string(MESSAGE, headers)
    verifier = CavageVerifier(keys=KeyRing.of(key.public()), clock=lambda: NOW)
    return [
        Case(
            "cavage rsa-sha256 sign",
            lambda: sign_cavage(MESSAGE, key, headers=headers),
            lambda: private.sign(base, PKCS1, SHA256),
            1.05,
        ),
        Case(
            "cavage rsa-sha256 verify",
            lambda: verifier.verify(_received(message)),
            lambda: public.verify(signed.signature, base, PKCS1, SHA256),
            1.05,
        ),
    ]


# --------------------------------------------------------------------------- JWS / UK OB


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw_pair(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, pad: padding.AsymmetricPadding | None
) -> tuple[Callable[[bytes], bytes], Callable[[bytes, bytes], None]]:
    """The bare sign and verify calls for one key and padding (None: ECDSA, DER)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        ec_public = key.public_key()
        ecdsa = ec.ECDSA(SHA256)
        return (lambda m: key.sign(m, ecdsa)), (lambda s, m: ec_public.verify(s, m, ecdsa))
    assert pad is not None
    rsa_public = key.public_key()
    return (lambda m: key.sign(m, pad, SHA256)), (lambda s, m: rsa_public.verify(s, m, pad, SHA256))


def _jws_pair(
    alg: str,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    pad: padding.AsymmetricPadding | None,
) -> list[Case]:
    token = sign_compact(JSON_BODY, key, alg=alg, header={"kid": "k1"}, detached=True)
    signing_input = f"{token.split('.')[0]}.{_b64url(JSON_BODY)}".encode()
    raw_sign, raw_verify = _raw_pair(key, pad)
    raw_signature = raw_sign(signing_input)
    public = key.public_key()
    return [
        Case(
            f"JWS {alg} sign (detached)",
            lambda: sign_compact(JSON_BODY, key, alg=alg, header={"kid": "k1"}, detached=True),
            lambda: raw_sign(signing_input),
            1.05,
        ),
        Case(
            f"JWS {alg} verify (detached)",
            lambda: verify_compact(token, public, algorithms=[alg], payload=JSON_BODY),
            lambda: raw_verify(raw_signature, signing_input),
            1.05,
        ),
    ]


def _jws() -> list[Case]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    cases = [
        *_jws_pair("PS256", rsa_key, PSS256),
        *_jws_pair("RS256", rsa_key, PKCS1),
        *_jws_pair("ES256", ec_key, None),
    ]
    ob = sign_ob_detached(JSON_BODY, rsa_key, kid="k1", iss=OB_ISS, now=NOW)
    ob_input = f"{ob.split('.')[0]}.{_b64url(JSON_BODY)}".encode()
    ob_signature = rsa_key.sign(ob_input, PSS256, SHA256)
    public = rsa_key.public_key()
    verifier = OBJwsVerifier(keys={"k1": public}, iss=OB_ISS)
    cases.append(
        Case(
            "UK OB x-jws-signature verify",
            lambda: verifier.verify(ob, JSON_BODY, NOW),
            lambda: public.verify(ob_signature, ob_input, PSS256, SHA256),
            1.05,
        )
    )
    return cases


# --------------------------------------------------------------------------- sorted params


def _params() -> list[Case]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key()
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
    notification = sign_params(params, key)
    notification.pop("sign_type")
    content = notification_content(notification).encode()
    notification["sign"] = base64.b64encode(key.sign(content, PKCS1, SHA256)).decode()
    raw_signature = base64.b64decode(notification["sign"])
    request_items = sorted({**params, "sign_type": "RSA2"}.items())
    request_content = "&".join(f"{k}={v}" for k, v in request_items).encode()
    return [
        Case(
            "params RSA2 sign",
            lambda: sign_params(params, key),
            lambda: key.sign(request_content, PKCS1, SHA256),
            1.05,
        ),
        Case(
            "params RSA2 notify verify",
            lambda: verify_notification(notification, public),
            lambda: public.verify(raw_signature, content, PKCS1, SHA256),
            1.05,
        ),
    ]


# --------------------------------------------------------------------------- webhooks


def _standard_webhooks() -> list[Case]:
    secret_bytes = b"S" * 32
    secret = "whsec_" + base64.b64encode(secret_bytes).decode()
    # The peer reads the real clock, so the message is signed at the real current instant.
    now = dt.datetime.now(tz=dt.UTC)
    hook = StandardWebhook([secret])
    headers = hook.sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now, JSON_BODY)
    content = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + JSON_BODY
    given = base64.b64decode(headers["webhook-signature"][3:])
    peer = standardwebhooks.Webhook(secret)

    def raw_verify() -> None:
        if not hmac.compare_digest(hmac.digest(secret_bytes, content, "sha256"), given):
            raise AssertionError("raw HMAC does not verify")

    return [
        Case(
            "Standard Webhooks sign",
            lambda: hook.sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now, JSON_BODY),
            lambda: hmac.digest(secret_bytes, content, "sha256"),
        ),
        Case(
            "Standard Webhooks verify",
            lambda: hook.verify(headers, JSON_BODY, now),
            raw_verify,
            1.5,
            peer=lambda: peer.verify(JSON_BODY, headers, json_parse=False),
            peer_name="standardwebhooks",
        ),
    ]


def _stripe() -> list[Case]:
    secret = "whsec_stripe_secret"  # noqa: S105 - a throw-away benchmark secret
    stripe = StripeWebhook([secret])
    header = stripe.sign(NOW, JSON_BODY)
    content = f"{int(NOW.timestamp())}.".encode() + JSON_BODY
    given = header.split("v1=")[1].encode()
    key = secret.encode()

    def raw_verify() -> None:
        if not hmac.compare_digest(hmac.digest(key, content, "sha256").hex().encode(), given):
            raise AssertionError("raw HMAC does not verify")

    return [
        Case(
            "Stripe-style verify",
            lambda: stripe.verify(header, JSON_BODY, NOW),
            raw_verify,
            1.5,
        )
    ]


def _wechat() -> list[Case]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key()
    stamp = str(int(NOW.timestamp()))
    headers = {
        "Wechatpay-Timestamp": stamp,
        "Wechatpay-Nonce": "N" * 32,
        "Wechatpay-Serial": "D7CE59D1F522D701",
    }
    message = f"{stamp}\n{'N' * 32}\n".encode() + JSON_BODY + b"\n"
    signature = key.sign(message, PKCS1, SHA256)
    headers["Wechatpay-Signature"] = base64.b64encode(signature).decode()
    verifier = WeChatPayVerifier(platform_keys={"D7CE59D1F522D701": public})
    return [
        Case(
            "WeChat Pay verify",
            lambda: verifier.verify(headers, JSON_BODY, NOW),
            lambda: public.verify(signature, message, PKCS1, SHA256),
            1.05,
        )
    ]


CASE_FACTORIES: list[Callable[[], list[Case]]] = [
    _ed25519,
    _hmac,
    _ecdsa,
    _rsa_pss,
    _cavage,
    _jws,
    _params,
    _standard_webhooks,
    _stripe,
    _wechat,
]


def build_cases(only: Sequence[str] = ()) -> list[Case]:
    cases = [case for factory in CASE_FACTORIES for case in factory()]
    return [c for c in cases if not only or any(word in c.name for word in only)]


# --------------------------------------------------------------------------- timing


def _batch_size(fn: Callable[[], Any], seconds: float) -> int:
    """How many calls of ``fn`` take about ``seconds`` (after one warm-up call)."""
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return max(n, 1)


def _per_op(fn: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def measure_case(case: Case, seconds: float, rounds: int) -> Result:
    """Time ``case`` in ``rounds`` interleaved rounds taking ``seconds`` in all per side."""
    slice_ = seconds / rounds
    sides = [case.ours, case.raw] + ([case.peer] if case.peer is not None else [])
    sizes = [_batch_size(fn, slice_) for fn in sides]
    times: list[list[float]] = [[] for _ in sides]
    for _ in range(rounds):
        for fn, n, out in zip(sides, sizes, times, strict=True):
            out.append(_per_op(fn, n))
    ours, raw = times[0], times[1]
    return Result(
        name=case.name,
        goal=case.goal,
        ours=min(ours),
        raw=min(raw),
        ours_median=statistics.median(ours),
        raw_median=statistics.median(raw),
        round_ratios=tuple(o / r for o, r in zip(ours, raw, strict=True)),
        peer=min(times[2]) if case.peer is not None else None,
        peer_name=case.peer_name,
    )


def run(seconds: float = 1.4, rounds: int = 7, only: Sequence[str] = ()) -> list[Result]:
    return [measure_case(case, seconds, rounds) for case in build_cases(only)]


def _peer_text(r: Result) -> str:
    return "" if r.peer is None else f"{r.peer_name} {r.peer / r.raw:.2f}× raw"


def report(results: Sequence[Result]) -> str:
    """A plain-text table for the terminal."""
    head = f"{'case':48} {'ours/s':>9} {'raw/s':>9} {'ratio':>6} {'median':>6} {'spread':>11}"
    lines = [f"{head} {'+µs':>6}  goal"]
    for r in results:
        spread = f"{min(r.round_ratios):.2f}–{max(r.round_ratios):.2f}"
        lines.append(
            f"{r.name:48} {1 / r.ours:9,.0f} {1 / r.raw:9,.0f} {r.ratio:6.2f} "
            f"{r.median_ratio:6.2f} {spread:>11} {r.overhead_us:6.1f}  {r.verdict} {_peer_text(r)}"
        )
    return "\n".join(lines)


def markdown(results: Sequence[Result]) -> str:
    """The same figures as the table in docs/performance.md."""
    lines = [
        "| case | ours ops/s | raw ops/s | ratio (best) | ratio (median) | spread "
        "| + µs/msg | goal | peer |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        spread = f"{min(r.round_ratios):.2f}–{max(r.round_ratios):.2f}"
        lines.append(
            f"| {r.name} | {1 / r.ours:,.0f} | {1 / r.raw:,.0f} | {r.ratio:.2f} | "
            f"{r.median_ratio:.2f} | {spread} | {r.overhead_us:.1f} | {r.verdict} "
            f"| {_peer_text(r)} |"
        )
    return "\n".join(lines)


def test_every_case_runs_and_is_correct() -> None:
    """Each side of each case runs once; verify cases raise if a signature were wrong."""
    cases = build_cases()
    assert len({c.name for c in cases}) == len(cases)
    for case in cases:
        case.ours()
        case.raw()
        if case.peer is not None:
            case.peer()


def test_measure_reports_every_side() -> None:
    """A tiny timing run fills every column, including the peer's."""
    (result,) = run(seconds=0.002, rounds=2, only=["Standard Webhooks verify"])
    assert result.ours > 0
    assert result.raw > 0
    assert result.peer is not None
    assert len(result.round_ratios) == 2
    assert "Standard Webhooks verify" in report([result])
    assert "standardwebhooks" in markdown([result])


@pytest.mark.slow
def test_full_run_prints_the_table() -> None:
    """The full benchmark: prints the figures; ratios are measured, never asserted."""
    results = run()
    print()
    print(report(results))
    assert len(results) == len(build_cases())
    assert all(r.ours > 0 for r in results)
    assert all(r.raw > 0 for r in results)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="walletlink signing vs raw primitives")
    parser.add_argument("--seconds", type=float, default=1.4, help="per side per case")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--only", nargs="*", default=(), help="case-name substrings")
    parser.add_argument("--markdown", action="store_true", help="a table for the docs")
    args = parser.parse_args(argv)
    results = run(args.seconds, args.rounds, args.only)
    print(markdown(results) if args.markdown else report(results))


if __name__ == "__main__":
    main()
