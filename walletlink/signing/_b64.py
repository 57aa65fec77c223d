"""The one strict base64 decoder every signature scheme uses.

Signatures, digests, secrets and ciphertexts arrive from the network (or a config file), so
decoding is strict: a stray character, wrong padding, non-ASCII text or a *non-canonical*
spelling (unused low bits set in the last character, RFC 4648 §3.5) is a ``ValueError`` the
caller turns into its own typed exception. Each value therefore has exactly one accepted
encoding, and a signature cannot be re-spelt into a second string that verifies the same.
"""

from __future__ import annotations

import binascii
import re

__all__ = ["b64decode", "b64encode", "b64url_bytes", "b64url_decode", "b64url_encode"]


_URL_CHARS = re.compile(r"[A-Za-z0-9_-]*")
_TO_URL = bytes.maketrans(b"+/", b"-_")
_FROM_URL = bytes.maketrans(b"-_", b"+/")


def b64url_encode(data: bytes) -> str:
    """Base64url without padding, as JOSE writes every binary value (RFC 7515 §2)."""
    return b64url_bytes(data).decode()


def b64url_bytes(data: bytes) -> bytes:
    """:func:`b64url_encode` as ASCII bytes, for building signing inputs without a round trip."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URL).rstrip(b"=")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url (RFC 7515 §2); ``ValueError`` on anything non-canonical."""
    if len(text) % 4 == 1 or not _URL_CHARS.fullmatch(text):
        raise ValueError("not unpadded base64url")
    raw = text.encode("ascii").translate(_FROM_URL)
    return _canonical(raw + b"=" * (-len(raw) % 4), raw, padded=False)


def b64encode(data: bytes) -> str:
    """Standard base64 with padding."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def b64decode(text: str | bytes, *, padding_optional: bool = False) -> bytes:
    """Decode standard base64; ``ValueError`` on anything but the canonical spelling.

    ``padding_optional`` also accepts the text without its trailing ``=`` (RFC 8941 §4.2.7
    asks structured-field parsers to); the unused bits must still be zero.
    """
    if isinstance(text, str):
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError("not base64") from None
    elif isinstance(text, bytes | bytearray | memoryview):
        raw = bytes(text)
    else:
        # Never bytes(value): a JSON number would become that many zero bytes.
        raise ValueError(f"base64 must be text, not {type(text).__name__}")
    if padding_optional and len(raw) % 4 and not raw.endswith(b"="):
        return _canonical(raw + b"=" * (-len(raw) % 4), raw, padded=False)
    return _canonical(raw, raw, padded=True)


def _canonical(text: bytes, given: bytes, *, padded: bool) -> bytes:
    try:
        # Accepts and rejects exactly what base64.b64decode(validate=True) does, in one C call.
        data = binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error:
        raise ValueError("not base64") from None
    again = binascii.b2a_base64(data, newline=False)
    if (again if padded else again.rstrip(b"=")) != given:
        # Only the unused low bits of the last character can differ: the same bytes, spelt
        # a second way.
        raise ValueError("non-canonical base64")
    return data
