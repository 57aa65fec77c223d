"""RFC 9530 Content-Digest / Repr-Digest and RFC 3230 Digest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walletlink.errors import (
    AlgorithmNotAllowedError,
    DigestMismatchError,
    SignatureError,
    SignatureMissingError,
)
from walletlink.signing.digest import (
    content_digest,
    legacy_digest,
    parse_want_digest,
    repr_digest,
    verify_content_digest,
    verify_legacy_digest,
    verify_repr_digest,
)

CASES = json.loads((Path(__file__).parent.parent / "vectors/rfc9530/digests.json").read_text())[
    "cases"
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["source"][:30])
def test_rfc9530_vectors(case: dict[str, str]) -> None:
    body = case["body"].encode()
    assert content_digest(body, ["sha-256"]) == f"sha-256=:{case['sha-256']}:"
    assert repr_digest(body, ["sha-512"]) == f"sha-512=:{case['sha-512']}:"
    both = content_digest(body, ["sha-256", "sha-512"])
    assert both == f"sha-256=:{case['sha-256']}:, sha-512=:{case['sha-512']}:"
    verify_content_digest(both, body)
    verify_repr_digest(both, body)
    assert legacy_digest(body, "SHA-256") == f"SHA-256={case['sha-256']}"
    assert legacy_digest(body, "sha-512") == f"SHA-512={case['sha-512']}"


def test_mismatch_raises() -> None:
    with pytest.raises(DigestMismatchError):
        verify_content_digest(content_digest(b"a"), b"b")
    with pytest.raises(DigestMismatchError):
        verify_legacy_digest(legacy_digest(b"a"), b"b")


def test_one_bad_digest_among_good_ones_fails() -> None:
    good = content_digest(b"a", ["sha-256"])
    bad = content_digest(b"b", ["sha-512"])
    with pytest.raises(DigestMismatchError):
        verify_content_digest(f"{good}, {bad}", b"a")


def test_unknown_algorithms_are_ignored_but_one_known_is_required() -> None:
    verify_content_digest(f"md5=:AAAA:, {content_digest(b'x')}", b"x")
    with pytest.raises(SignatureMissingError):
        verify_content_digest("md5=:AAAA:, unixsum=:AAAA:", b"x")
    with pytest.raises(SignatureMissingError):
        verify_content_digest(None, b"x")
    with pytest.raises(SignatureMissingError):
        verify_legacy_digest("MD5=AAAA", b"x")
    with pytest.raises(SignatureMissingError):
        verify_legacy_digest(None, b"x")


def test_legacy_digest_token_is_case_insensitive() -> None:
    verify_legacy_digest("sha-256=" + legacy_digest(b"x").split("=", 1)[1], b"x")


def test_malformed_fields() -> None:
    with pytest.raises(SignatureError):
        verify_content_digest("sha-256=not base64", b"")
    with pytest.raises(SignatureError):
        verify_content_digest('sha-256="a string"', b"")
    with pytest.raises(SignatureError):
        verify_legacy_digest("SHA-256=!!!", b"")
    with pytest.raises(AlgorithmNotAllowedError):
        content_digest(b"", ["md5"])
    with pytest.raises(AlgorithmNotAllowedError):
        legacy_digest(b"", "MD5")


def test_want_digest() -> None:
    assert parse_want_digest("sha-256=10, sha-512=3") == {"sha-256": 10, "sha-512": 3}
    with pytest.raises(SignatureError):
        parse_want_digest("sha-256=11")


@given(st.binary(max_size=500))
def test_property_generate_then_verify(body: bytes) -> None:
    verify_content_digest(content_digest(body, ["sha-256", "sha-512"]), body)
    verify_legacy_digest(legacy_digest(body), body)
