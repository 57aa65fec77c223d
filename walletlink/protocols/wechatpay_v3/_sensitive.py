"""Sensitive request fields (敏感信息加密): RSAES-OAEP under a WeChat Pay platform key.

The platform decrypts with ``RSA/ECB/OAEPWithSHA-1AndMGF1Padding`` (RFC 8017 EME-OAEP,
SHA-1, MGF1 with SHA-1, empty label) using the key the request's ``Wechatpay-Serial``
header names, and the field travels as base64 of the ciphertext.

OAEP is randomised by a seed, and an SDK that draws a fresh one per call sends other bytes
every time it builds the request again. walletlink must not: a transfer rebuilt from the
journal (a resend after "absent", after a crash, by ``resolve_unknown``) must be the very
same bytes. So the seed here is *synthetic*, as the SM4 iv of ``cn_bank_sm`` is: HMAC-SHA256
under a secret derived from the merchant's private key, over the key serial, the
``out_bill_no`` and the plaintext. The same field of the same bill under the same key is
the same ciphertext; any other bill, key or text gets an unrelated seed, and without the
merchant's private key nobody can predict one. The encoding is written out below because
``cryptography`` only offers OAEP with a random seed; decrypting with ``cryptography``'s
own OAEP (the mock platform does, and a test with the independent SDK) checks it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Final

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from walletlink.errors import ValidationError

__all__ = ["OAEP_SHA1", "oaep_sha1_encrypt", "seal_field", "seed_secret"]

_HASH_LEN: Final = 20  # SHA-1
# SHA-1 is what the platform specifies; OAEP needs no collision resistance from it.
_LABEL_HASH: Final = hashlib.sha1(b"").digest()  # noqa: S324
_SEED_LABEL: Final = b"walletlink wechatpay_v3 oaep seed\x00"
#: The platform's padding as ``cryptography`` spells it: what the mock platform (a second
#: implementation of the same scheme) decrypts with.
OAEP_SHA1: Final = padding.OAEP(
    mgf=padding.MGF1(hashes.SHA1()),  # noqa: S303 - the platform's scheme
    algorithm=hashes.SHA1(),  # noqa: S303
    label=None,
)


def seed_secret(merchant_key: rsa.RSAPrivateKey) -> bytes:
    """The HMAC key for synthetic seeds: only the holder of the merchant key knows it."""
    der = merchant_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return hashlib.sha256(_SEED_LABEL + der).digest()


def _mgf1(seed: bytes, length: int) -> bytes:
    out = b"".join(
        hashlib.sha1(seed + counter.to_bytes(4, "big")).digest()  # noqa: S324
        for counter in range(-(-length // _HASH_LEN))
    )
    return out[:length]


def _xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


def oaep_sha1_encrypt(key: rsa.RSAPublicKey, message: bytes, seed: bytes) -> bytes:
    """RSAES-OAEP-ENCRYPT (RFC 8017 §7.1.1) with SHA-1, MGF1-SHA-1, an empty label and the
    given 20-byte ``seed``. A message longer than ``k - 42`` bytes is a ValidationError."""
    if len(seed) != _HASH_LEN:
        raise ValueError("an OAEP-SHA1 seed is 20 bytes")
    numbers = key.public_numbers()
    k = (numbers.n.bit_length() + 7) // 8
    if len(message) > k - 2 * _HASH_LEN - 2:
        raise ValidationError(f"at most {k - 2 * _HASH_LEN - 2} bytes fit under this RSA key")
    padding = b"\x00" * (k - len(message) - 2 * _HASH_LEN - 2)
    data_block = _LABEL_HASH + padding + b"\x01" + message
    masked_db = _xor(data_block, _mgf1(seed, k - _HASH_LEN - 1))
    masked_seed = _xor(seed, _mgf1(masked_db, _HASH_LEN))
    encoded = int.from_bytes(b"\x00" + masked_seed + masked_db, "big")
    # The public operation: the exponent is public, so timing reveals nothing secret.
    return pow(encoded, numbers.e, numbers.n).to_bytes(k, "big")


def seal_field(
    key: rsa.RSAPublicKey, *, serial: str, out_bill_no: str, text: str, secret: bytes
) -> str:
    """``text`` as the platform wants a sensitive field: base64 of its OAEP ciphertext,
    with a synthetic seed (see the module docstring)."""
    context = json.dumps([serial, out_bill_no, text], ensure_ascii=False).encode()
    seed = hmac.new(secret, context, hashlib.sha256).digest()[:_HASH_LEN]
    return base64.b64encode(oaep_sha1_encrypt(key, text.encode(), seed)).decode()
