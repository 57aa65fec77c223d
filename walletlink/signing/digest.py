"""Body digests: RFC 9530 ``Content-Digest`` / ``Repr-Digest`` and legacy RFC 3230 ``Digest``.

RFC 9530 fields are Structured Field dictionaries, ``sha-256=:<base64>:``; verification
ignores algorithms it does not know, needs at least one it does, and checks every one it
knows. Berlin Group still uses the RFC 3230 form ``Digest: SHA-256=<base64>`` (no colons).
A digest that does not match raises :class:`~walletlink.errors.DigestMismatchError`; a
missing one raises :class:`~walletlink.errors.SignatureMissingError`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Final

from walletlink.errors import (
    AlgorithmNotAllowedError,
    DigestMismatchError,
    ParseError,
    SignatureError,
    SignatureMissingError,
)
from walletlink.signing import _sf
from walletlink.signing._b64 import b64decode

__all__ = [
    "DIGEST_ALGORITHMS",
    "content_digest",
    "legacy_digest",
    "parse_want_digest",
    "repr_digest",
    "verify_content_digest",
    "verify_digest_field",
    "verify_legacy_digest",
    "verify_repr_digest",
]

# Only the algorithms RFC 9530 lists as Active: the deprecated ones (md5, sha, crc32c…)
# must not be trusted where an attacker chooses the body.
DIGEST_ALGORITHMS: Final[dict[str, Callable[[bytes], bytes]]] = {
    "sha-256": lambda data: hashlib.sha256(data).digest(),
    "sha-512": lambda data: hashlib.sha512(data).digest(),
}


def _digest(algorithm: str, body: bytes) -> bytes:
    try:
        return DIGEST_ALGORITHMS[algorithm](body)
    except KeyError:
        raise AlgorithmNotAllowedError(f"digest algorithm {algorithm[:20]!r} unsupported") from None


def content_digest(body: bytes | None, algorithms: Iterable[str] = ("sha-256",)) -> str:
    """The ``Content-Digest`` value for ``body`` (``None`` counts as empty content)."""
    data = body or b""
    digests = {alg: _digest(alg, data) for alg in algorithms}
    # What serialize_dictionary writes for byte-sequence items, without building them.
    return ", ".join(
        f"{_sf.check_key(alg)}=:{base64.b64encode(value).decode()}:"
        for alg, value in digests.items()
    )


repr_digest = content_digest
"""The ``Repr-Digest`` value: same format, over the selected representation's bytes."""


# The shape every producer writes, ``sha-256=:<base64>:[, sha-512=:<base64>:]``, is taken
# by one pattern; anything else goes through the Structured Field parser.
_BYTES_MEMBER = re.compile(rf"({_sf.KEY_PATTERN})=:({_sf.B64_PATTERN}):(, |\Z)")


_ONE_BYTES_MEMBER = re.compile(rf"({_sf.KEY_PATTERN})=:({_sf.B64_PATTERN}):")


def _byte_members(value: str) -> dict[str, bytes] | None:
    try:
        one = _ONE_BYTES_MEMBER.fullmatch(value)
        if one is not None:
            return {one.group(1): _sf.decode_byte_sequence(one.group(2))}
        matches = _sf.match_members(_BYTES_MEMBER, value)
        if matches is None:
            return None
        return {m.group(1): _sf.decode_byte_sequence(m.group(2)) for m in matches}
    except ValueError:
        return None


def _digest_members(value: str, field: str) -> Mapping[str, _sf.Member | bytes]:
    fast = _byte_members(value)
    if fast is not None:
        return fast
    try:
        return _sf.parse_dictionary(value)
    except ParseError as exc:
        raise SignatureError(f"{field} is not a structured field dictionary: {exc}") from None


def verify_digest_field(value: str | None, body: bytes | None, *, field: str) -> None:
    """Check an RFC 9530 digest field named ``field`` against ``body``; raise if it fails."""
    if value is None:
        raise SignatureMissingError(f"{field} header is missing")
    members = _digest_members(value, field)
    data = body or b""
    checked = 0
    for algorithm, member in members.items():
        if algorithm not in DIGEST_ALGORITHMS:
            continue  # RFC 9530 §2: recipients ignore algorithms they do not support
        received = member.value if isinstance(member, _sf.Item) else member
        if not isinstance(received, bytes):
            raise SignatureError(f"{field} {algorithm} value is not a byte sequence")
        if not hmac.compare_digest(received, _digest(algorithm, data)):
            raise DigestMismatchError(f"body does not match its {field} ({algorithm})")
        checked += 1
    if not checked:
        raise SignatureMissingError(f"{field} names no supported algorithm (sha-256, sha-512)")


def verify_content_digest(value: str | None, body: bytes | None) -> None:
    verify_digest_field(value, body, field="Content-Digest")


def verify_repr_digest(value: str | None, body: bytes | None) -> None:
    verify_digest_field(value, body, field="Repr-Digest")


def parse_want_digest(value: str) -> dict[str, int]:
    """``Want-Content-Digest`` / ``Want-Repr-Digest`` preferences: algorithm → weight 0–10."""
    try:
        members = _sf.parse_dictionary(value)
    except ParseError as exc:
        raise SignatureError(f"Want-*-Digest is malformed: {exc}") from None
    weights: dict[str, int] = {}
    for algorithm, member in members.items():
        weight = member.value if isinstance(member, _sf.Item) else None
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 10:
            raise SignatureError(f"Want-*-Digest weight for {algorithm} must be 0–10")
        weights[algorithm] = weight
    return weights


_LEGACY: Final[dict[str, str]] = {"SHA-256": "sha-256", "SHA-512": "sha-512"}


def legacy_digest(body: bytes | None, algorithm: str = "SHA-256") -> str:
    """The RFC 3230 ``Digest`` value Berlin Group uses: ``SHA-256=<base64>``."""
    name = _LEGACY.get(algorithm.upper())
    if name is None:
        raise AlgorithmNotAllowedError(f"Digest algorithm {algorithm[:20]!r}: use SHA-256/512")
    return f"{algorithm.upper()}={base64.b64encode(_digest(name, body or b'')).decode()}"


def verify_legacy_digest(value: str | None, body: bytes | None) -> None:
    """Check an RFC 3230 ``Digest`` header; the algorithm token is case-insensitive."""
    if value is None:
        raise SignatureMissingError("Digest header is missing")
    checked = 0
    for part in value.split(","):
        token, sep, encoded = part.strip().partition("=")
        name = _LEGACY.get(token.upper())
        if not sep or name is None:
            continue  # unknown instance-digest algorithms are skipped, as RFC 3230 allows
        try:
            received = b64decode(encoded)
        except ValueError:
            raise SignatureError(f"Digest {token} value is not base64") from None
        if not hmac.compare_digest(received, _digest(name, body or b"")):
            raise DigestMismatchError(f"body does not match its Digest ({token.upper()})")
        checked += 1
    if not checked:
        raise SignatureMissingError("Digest names no supported algorithm (SHA-256, SHA-512)")
