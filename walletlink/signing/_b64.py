"""Strict base64 helpers shared by the JWS, sorted-parameter and webhook schemes.

Signatures arrive from the network, so decoding is strict: a stray character, wrong padding
or non-ASCII text is an error the caller turns into its own typed exception, never a silent
best-effort decode that could make two different strings verify the same way.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["b64decode", "b64encode", "b64url_bytes", "b64url_decode", "b64url_encode"]


_URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_URL_CHARS = re.compile(r"[A-Za-z0-9_-]*")
_TO_URL = bytes.maketrans(b"+/", b"-_")
_FROM_URL = bytes.maketrans(b"-_", b"+/")
# For a final character that carries 4 (len % 4 == 2) or 2 (len % 4 == 3) unused bits.
_UNUSED_MASK = {2: 0b1111, 3: 0b11}


def b64url_encode(data: bytes) -> str:
    """Base64url without padding, as JOSE writes every binary value (RFC 7515 §2)."""
    return b64url_bytes(data).decode()


def b64url_bytes(data: bytes) -> bytes:
    """:func:`b64url_encode` as ASCII bytes, for building signing inputs without a round trip."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URL).rstrip(b"=")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url; raise ``ValueError`` on padding or foreign characters.

    Non-canonical spellings (unused low bits set in the last character) are refused too, so
    one value has exactly one encoding.
    """
    rest = len(text) % 4
    if rest == 1 or not _URL_CHARS.fullmatch(text):
        raise ValueError("not unpadded base64url")
    if rest and _URL_ALPHABET.index(text[-1]) & _UNUSED_MASK[rest]:
        raise ValueError("non-canonical base64url")
    raw = text.encode("ascii").translate(_FROM_URL) + b"=" * (-len(text) % 4)
    return binascii.a2b_base64(raw)


def b64encode(data: bytes) -> str:
    """Standard base64 with padding."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str | bytes) -> bytes:
    """Decode standard padded base64; raise ``ValueError`` on anything else."""
    try:
        raw = text.encode("ascii") if isinstance(text, str) else text
        # Accepts and rejects exactly what base64.b64decode(validate=True) does, in one C call.
        return binascii.a2b_base64(raw, strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("not base64") from None
