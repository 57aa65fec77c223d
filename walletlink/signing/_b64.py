"""Strict base64 helpers shared by the JWS, sorted-parameter and webhook schemes.

Signatures arrive from the network, so decoding is strict: a stray character, wrong padding
or non-ASCII text is an error the caller turns into its own typed exception, never a silent
best-effort decode that could make two different strings verify the same way.
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["b64decode", "b64encode", "b64url_decode", "b64url_encode"]


def b64url_encode(data: bytes) -> str:
    """Base64url without padding, as JOSE writes every binary value (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url; raise ``ValueError`` on padding or foreign characters."""
    if "=" in text or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("not ASCII") from None
    padded = raw + b"=" * (-len(raw) % 4)
    try:
        decoded = base64.b64decode(padded, altchars=b"-_", validate=True)
    except binascii.Error:
        raise ValueError("not base64url") from None
    # Reject non-canonical encodings (unused low bits set) so one signature has one spelling.
    if b64url_encode(decoded) != text:
        raise ValueError("non-canonical base64url")
    return decoded


def b64encode(data: bytes) -> str:
    """Standard base64 with padding."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str | bytes) -> bytes:
    """Decode standard padded base64; raise ``ValueError`` on anything else."""
    try:
        raw = text.encode("ascii") if isinstance(text, str) else text
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("not base64") from None
