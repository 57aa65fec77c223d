"""Cross-check RFC 9421 against the independent `http-message-signatures` implementation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests
from http_message_signatures import HTTPMessageSigner, HTTPMessageVerifier, algorithms
from http_message_signatures.resolvers import MappingKeyResolver

from walletlink.signing import (
    HttpMessage,
    Rfc9421Signer,
    Rfc9421Verifier,
    SigningKey,
    generate_ed25519_key,
    generate_rsa_key,
    hmac_key,
)

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
URL = "https://bank.example/v1/transfers?x=1&Pet=dog"
BODY = b'{"amount":"12.30"}'
COMPONENTS = ("@method", "@authority", "@path", "@query", "@target-uri", "content-type", "date")


def keys() -> list[tuple[SigningKey, Any, Any, Any]]:
    secret = hmac_key(b"0123456789abcdef0123456789abcdef", kid="h")
    ed = generate_ed25519_key("e")
    rsa = generate_rsa_key("r", alg="rsa-pss-sha512")
    return [
        (secret, algorithms.HMAC_SHA256, secret.secret, secret.secret),
        (ed, algorithms.ED25519, ed.public_key, ed.private_key),
        (rsa, algorithms.RSA_PSS_SHA512, rsa.public_key, rsa.private_key),
    ]


def their_request() -> requests.PreparedRequest:
    headers = {"Content-Type": "application/json", "Date": "Wed, 01 May 2024 12:00:00 GMT"}
    return requests.Request("POST", URL, headers=headers, data=BODY).prepare()


def as_message(prepared: requests.PreparedRequest) -> HttpMessage:
    body = prepared.body if isinstance(prepared.body, bytes) else None
    return HttpMessage(
        method=prepared.method, url=prepared.url, headers=dict(prepared.headers), body=body
    )


@pytest.mark.parametrize("case", keys(), ids=lambda c: c[0].kid)
def test_theirs_signs_ours_verifies(case: tuple[SigningKey, Any, Any, Any]) -> None:
    key, algorithm, public, private = case
    resolver = MappingKeyResolver(public_keys={key.kid: public}, private_keys={key.kid: private})
    prepared = their_request()
    HTTPMessageSigner(signature_algorithm=algorithm, key_resolver=resolver).sign(
        prepared,
        key_id=key.kid,
        created=NOW,
        label="sig1",
        covered_component_ids=(*COMPONENTS, '"@query-param";name="Pet"'),
        body=BODY,
    )
    verifier_key = key if key.secret is not None else key.public()
    (verified,) = Rfc9421Verifier(keys=verifier_key).verify(as_message(prepared), now=NOW)
    assert '"content-digest"' in verified.components


@pytest.mark.parametrize("case", keys(), ids=lambda c: c[0].kid)
def test_ours_signs_theirs_verifies(case: tuple[SigningKey, Any, Any, Any]) -> None:
    key, algorithm, public, private = case
    resolver = MappingKeyResolver(public_keys={key.kid: public}, private_keys={key.kid: private})
    prepared = their_request()
    signer = Rfc9421Signer(
        keys=key, components=(*COMPONENTS, '"@query-param";name="Pet"'), include_alg=True
    )
    prepared.headers.update(signer.signature_headers(as_message(prepared), NOW))
    results = HTTPMessageVerifier(signature_algorithm=algorithm, key_resolver=resolver).verify(
        prepared, body=BODY
    )
    assert [r.label for r in results] == ["sig1"]


DERIVED = ("@method", "@authority", "@scheme", "@path", "@query", "@request-target")


@pytest.mark.parametrize(
    ("url", "covered"),
    [
        # Userinfo and fragment are never part of the target; an empty path is "/".
        ("https://alice:pw@bank.example?x=1#frag", (*DERIVED, "@target-uri")),
        ("https://bank.example", (*DERIVED, "@target-uri")),
        ("https://bank.example:8443/a%2Fb?q=%41&r", (*DERIVED, "@target-uri")),
        # The peer keeps the as-sent case and port in @target-uri (RFC 9110 §4.2.3 lets both
        # be normalised, and we do); every other derived component agrees.
        ("https://Bank.EXAMPLE:443/p?x=1", DERIVED),
        ("http://bank.example:80", DERIVED),
    ],
)
def test_both_derive_the_same_target_from_unnormalised_urls(
    url: str, covered: tuple[str, ...]
) -> None:
    """Both directions over a raw URL, so neither side's URL parsing is bypassed."""
    key, algorithm, secret, _ = keys()[0]
    resolver = MappingKeyResolver(public_keys={key.kid: secret}, private_keys={key.kid: secret})
    theirs = requests.Request("GET", "https://placeholder.invalid/").prepare()
    theirs.url = url
    HTTPMessageSigner(signature_algorithm=algorithm, key_resolver=resolver).sign(
        theirs, key_id=key.kid, created=NOW, label="sig1", covered_component_ids=covered
    )
    Rfc9421Verifier(keys=key).verify(as_message(theirs), now=NOW)

    ours = requests.Request("GET", "https://placeholder.invalid/").prepare()
    ours.url = url
    signer = Rfc9421Signer(keys=key, components=covered, optional_components=())
    ours.headers.update(signer.signature_headers(as_message(ours), NOW))
    results = HTTPMessageVerifier(signature_algorithm=algorithm, key_resolver=resolver).verify(ours)
    assert [r.label for r in results] == ["sig1"]
