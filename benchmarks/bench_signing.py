"""Signing throughput: each scheme against the raw `cryptography` primitive, same key and bytes.

Run ``.venv/bin/python benchmarks/bench_signing.py`` for the table. Every case pairs our
operation with the bare primitive over the same signature base; the ratio is ours / raw time
(1.00 = no overhead). ``CASES`` is a plain list: other schemes append their own ``Case``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import time
from collections.abc import Callable
from typing import Any

import attrs
import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

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
from walletlink.signing.rfc9421 import parse_signatures, signature_base

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
BODY = (
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
    body=BODY,
)


@attrs.frozen
class Case:
    """One measured operation and the raw primitive it is compared with."""

    name: str
    ours: Callable[[], Any]
    raw: Callable[[], Any]
    goal: float | None = None  # maximum ours/raw time ratio, None = informational


@attrs.frozen
class Result:
    name: str
    ours_per_s: float
    raw_per_s: float
    goal: float | None

    @property
    def ratio(self) -> float:
        return self.raw_per_s / self.ours_per_s

    @property
    def meets_goal(self) -> bool:
        return self.goal is None or self.ratio <= self.goal


def _rfc9421_cases(
    name: str,
    key: SigningKey,
    raw_sign: Callable[[bytes], bytes],
    raw_verify: Callable[[bytes, bytes], None],
    goal: float | None,
) -> list[Case]:
    signer = Rfc9421Signer(keys=key)
    signed = signer.sign_message(MESSAGE, NOW)
    public = key if key.secret is not None else key.public()
    verifier = Rfc9421Verifier(keys=public, clock=lambda: NOW)
    ((si, signature),) = parse_signatures(signed).values()
    base = signature_base(signed, si)
    return [
        Case(
            f"rfc9421 {name} sign (+Content-Digest)",
            lambda: signer.signature_headers(MESSAGE, NOW),
            lambda: raw_sign(base),
            goal,
        ),
        Case(
            f"rfc9421 {name} verify (+Content-Digest)",
            lambda: verifier.verify(signed),
            lambda: raw_verify(signature, base),
            goal,
        ),
    ]


def _ed25519() -> list[Case]:
    key = generate_ed25519_key("ed")
    private = key.private_key
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    public = private.public_key()
    return _rfc9421_cases("ed25519", key, private.sign, public.verify, 2.0)


def _hmac() -> list[Case]:
    key = hmac_key(b"0123456789abcdef0123456789abcdef", kid="h")
    secret = key.require_secret()

    def verify(signature: bytes, data: bytes) -> None:
        hmac.compare_digest(hmac.new(secret, data, "sha256").digest(), signature)

    return _rfc9421_cases(
        "hmac-sha256", key, lambda data: hmac.new(secret, data, "sha256").digest(), verify, None
    )


def _ecdsa() -> list[Case]:
    key = generate_ec_key("ec")
    private = key.private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    scheme = ec.ECDSA(hashes.SHA256())
    cases = _rfc9421_cases(
        "ecdsa-p256", key, lambda d: private.sign(d, scheme), lambda _s, _d: None, None
    )
    return cases[:1]  # raw verify would need the DER form; the sign ratio is what we report


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
    pkcs = padding.PKCS1v15()
    return [
        Case(
            "cavage rsa-sha256 sign",
            lambda: sign_cavage(MESSAGE, key, headers=headers),
            lambda: private.sign(base, pkcs, hashes.SHA256()),
            1.05,
        ),
        Case(
            "cavage rsa-sha256 verify",
            lambda: verifier.verify(message),
            lambda: public.verify(signed.signature, base, pkcs, hashes.SHA256()),
            1.05,
        ),
    ]


def _peer() -> list[Case]:
    """http-message-signatures on the same Ed25519 key and a like-for-like request."""
    from http_message_signatures import HTTPMessageSigner, algorithms
    from http_message_signatures.resolvers import MappingKeyResolver

    key = generate_ed25519_key("ed")
    private = key.private_key
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    resolver = MappingKeyResolver(public_keys={}, private_keys={"ed": private})
    peer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=resolver)
    prepared = requests.Request(
        "POST", MESSAGE.url, headers=dict(MESSAGE.headers), data=BODY
    ).prepare()

    def sign() -> None:
        prepared.headers.pop("Content-Digest", None)  # the peer refuses to overwrite its own
        peer.sign(
            prepared,
            key_id="ed",
            created=NOW,
            label="sig1",
            body=BODY,
            covered_component_ids=("@method", "@authority", "@path", "@query", "content-type"),
        )

    base = b"x" * 300
    return [Case("peer http-message-signatures ed25519 sign", sign, lambda: private.sign(base))]


CASE_FACTORIES: list[Callable[[], list[Case]]] = [_ed25519, _hmac, _ecdsa, _rsa_pss, _cavage, _peer]


def build_cases() -> list[Case]:
    return [case for factory in CASE_FACTORIES for case in factory()]


def _rate(fn: Callable[[], Any], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(20):
            fn()
        count += 20
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def run(seconds: float = 1.0) -> list[Result]:
    results = []
    for case in build_cases():
        # Interleave raw and ours twice so drift in CPU frequency hits both alike.
        raw = max(_rate(case.raw, seconds / 2), _rate(case.raw, seconds / 2))
        ours = max(_rate(case.ours, seconds / 2), _rate(case.ours, seconds / 2))
        results.append(Result(case.name, ours, raw, case.goal))
    return results


def main() -> None:
    print(f"{'case':48} {'ours ops/s':>12} {'raw ops/s':>12} {'ratio':>7}  goal")
    for r in run():
        goal = "" if r.goal is None else f"≤{r.goal:.2f} {'ok' if r.meets_goal else 'MISSED'}"
        print(f"{r.name:48} {r.ours_per_s:12,.0f} {r.raw_per_s:12,.0f} {r.ratio:7.2f}  {goal}")


def test_every_case_runs_and_is_correct() -> None:
    """Each measured pair runs once; the verify cases raise if our signatures were wrong."""
    for case in build_cases():
        case.ours()
        case.raw()


@pytest.mark.slow
def test_full_run_meets_goals() -> None:
    missed = [r.name for r in run(2.0) if not r.meets_goal]
    assert missed == []


if __name__ == "__main__":
    main()
