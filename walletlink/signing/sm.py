"""Chinese national cryptography (国密): SM2 signatures with SM3, SM4 content encryption, HMAC-SM3.

Chinese bank open platforms sign every message with ``SM3withSM2`` and encrypt business
content with SM4. ``cryptography`` provides SM3 and SM4 (CBC and GCM, both used here) but
no SM2, so SM2 needs the optional extra ``pip install 'walletlink[sm]'`` (gmssl). A missing
extra raises :class:`~walletlink.errors.ConfigurationError` when a key is loaded.

What this module adds around gmssl's point arithmetic, and why:

* ``Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA)`` and ``e = SM3(Z ‖ M)`` per GM/T 0003.2
  §5.5 / §6.1, with the GM/T 0009 default user id ``1234567812345678`` (configurable);
* ``r, s ∈ [1, n−1]`` and ``r + s ≠ 0 (mod n)`` checked before any arithmetic (gmssl does
  not), public points checked to be on the curve, the point at infinity refused;
* signatures as DER ``SEQUENCE {r, s}`` or as raw ``r ‖ s`` (64 bytes), both in use at banks;
* keys from PEM (PKCS#8, SEC1 ``EC PRIVATE KEY``, SubjectPublicKeyInfo; ``id-ecPublicKey``
  with the SM2 curve OID 1.2.156.10197.1.301) and from hex, read with a small DER reader
  because ``cryptography`` cannot load an SM2 key.

Verification raises, it never returns a bool.
"""

from __future__ import annotations

import hmac as _hmac
import os
import re
import secrets
from typing import Any, Final, Literal

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from walletlink.errors import ConfigurationError, SignatureMismatchError, ValidationError

__all__ = [
    "DEFAULT_USER_ID",
    "SM2_CURVE",
    "SM2_CURVE_OID",
    "SignatureFormat",
    "Sm2Curve",
    "Sm2PrivateKey",
    "Sm2PublicKey",
    "hmac_sm3",
    "sm2_digest",
    "sm2_sign",
    "sm2_verify",
    "sm2_z",
    "sm3",
    "sm4_cbc_decrypt",
    "sm4_cbc_encrypt",
    "sm4_gcm_decrypt",
    "sm4_gcm_encrypt",
]

#: GM/T 0009-2012 §10: the user id when the parties agreed on none.
DEFAULT_USER_ID: Final = b"1234567812345678"
#: The SM2 curve (sm2p256v1), as an ASN.1 OID.
SM2_CURVE_OID: Final = "1.2.156.10197.1.301"
_EC_PUBLIC_KEY_OID: Final = "1.2.840.10045.2.1"
_INSTALL_HINT: Final = "SM2 needs the optional extra: pip install 'walletlink[sm]'"

SignatureFormat = Literal["der", "raw"]


@attrs.frozen
class Sm2Curve:
    """Curve parameters ``y² = x³ + ax + b`` over GF(p), base point (gx, gy) of order n."""

    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int

    @property
    def size(self) -> int:
        return (self.p.bit_length() + 7) // 8

    def contains(self, x: int, y: int) -> bool:
        return (
            0 <= x < self.p
            and 0 <= y < self.p
            and (y * y - x**3 - self.a * x - self.b) % self.p == 0
        )

    def _table(self) -> dict[str, str]:
        width = 2 * self.size
        return {
            "n": f"{self.n:0{width}X}",
            "p": f"{self.p:0{width}X}",
            "g": f"{self.gx:0{width}x}{self.gy:0{width}x}",
            "a": f"{self.a:0{width}X}",
            "b": f"{self.b:0{width}X}",
        }


#: The recommended curve of GB/T 32918.5-2017 (GM/T 0003.5-2012).
SM2_CURVE: Final = Sm2Curve(
    p=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF,
    a=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC,
    b=0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93,
    gx=0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    gy=0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
    n=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123,
)


def _engine(curve: Sm2Curve) -> Any:
    """gmssl's point arithmetic for ``curve``. Only its scalar multiplication is used: its key
    parsing strips *every* leading ``0``/``4`` character of a key written with ``04``, its
    verify neither range-checks ``r, s`` nor adds equal points correctly."""
    try:
        from gmssl import sm2 as gmssl_sm2
    except ImportError:
        raise ConfigurationError(_INSTALL_HINT) from None
    return gmssl_sm2.CryptSM2(private_key="", public_key="", ecc_table=curve._table())


def _multiply(curve: Sm2Curve, k: int, x: int, y: int) -> tuple[int, int] | None:
    """``k·(x, y)``, or ``None`` for the point at infinity."""
    width = 2 * curve.size
    try:
        point = _engine(curve)._kg(k % curve.n, f"{x:0{width}x}{y:0{width}x}")
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not point:
        return None
    return int(point[:width], 16), int(point[width:], 16)


@attrs.frozen(repr=False)
class Sm2PublicKey:
    """An SM2 public point, checked to lie on its curve."""

    x: int
    y: int
    curve: Sm2Curve = SM2_CURVE

    def __attrs_post_init__(self) -> None:
        if not self.curve.contains(self.x, self.y):
            raise ValidationError("the SM2 public key is not a point on the curve")

    def __repr__(self) -> str:
        return f"Sm2PublicKey(x={self.x:064x}...)"

    @classmethod
    def from_hex(cls, text: str, curve: Sm2Curve = SM2_CURVE) -> Sm2PublicKey:
        """``04 ‖ x ‖ y`` or ``x ‖ y`` in hex (how bank consoles hand keys out)."""
        return cls.from_bytes(_unhex(text, "SM2 public key"), curve)

    @classmethod
    def from_bytes(cls, data: bytes, curve: Sm2Curve = SM2_CURVE) -> Sm2PublicKey:
        size = curve.size
        if len(data) == 2 * size + 1 and data[0] == 4:
            data = data[1:]
        if len(data) != 2 * size:
            raise ValidationError("an SM2 public key is 04 || x || y, uncompressed")
        return cls(int.from_bytes(data[:size], "big"), int.from_bytes(data[size:], "big"), curve)

    @classmethod
    def from_pem(cls, pem: str | bytes) -> Sm2PublicKey:
        """A ``PUBLIC KEY`` (SubjectPublicKeyInfo) PEM, or a private key's public half."""
        label, der = _pem_body(pem)
        if label == "PUBLIC KEY":
            return _spki(der)
        return Sm2PrivateKey.from_pem(pem).public_key

    def to_bytes(self) -> bytes:
        size = self.curve.size
        return b"\x04" + self.x.to_bytes(size, "big") + self.y.to_bytes(size, "big")

    def to_pem(self) -> str:
        point = _tlv(0x03, b"\x00" + self.to_bytes())
        algorithm = _tlv(0x30, _oid(_EC_PUBLIC_KEY_OID) + _oid(SM2_CURVE_OID))
        return _pem("PUBLIC KEY", _tlv(0x30, algorithm + point))


@attrs.frozen(repr=False)
class Sm2PrivateKey:
    """An SM2 private scalar ``d ∈ [1, n−2]`` and its public point. Never printed."""

    d: int
    curve: Sm2Curve = SM2_CURVE
    public_key: Sm2PublicKey = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        # d = n−1 has no (1 + d)⁻¹ mod n: GB/T 32918.1 §6.1 limits d to [1, n−2].
        if not 1 <= self.d <= self.curve.n - 2:
            raise ValidationError("the SM2 private key is out of range")
        point = _multiply(self.curve, self.d, self.curve.gx, self.curve.gy)
        assert point is not None  # d is in [1, n-2], so d·G is a finite point
        object.__setattr__(self, "public_key", Sm2PublicKey(point[0], point[1], self.curve))

    def __repr__(self) -> str:
        return "Sm2PrivateKey(<secret>)"

    @classmethod
    def generate(cls, curve: Sm2Curve = SM2_CURVE) -> Sm2PrivateKey:
        return cls(secrets.randbelow(curve.n - 2) + 1, curve)

    @classmethod
    def from_hex(cls, text: str, curve: Sm2Curve = SM2_CURVE) -> Sm2PrivateKey:
        data = _unhex(text, "SM2 private key")
        if len(data) != curve.size:
            raise ValidationError(f"an SM2 private key is {curve.size} bytes of hex")
        return cls(int.from_bytes(data, "big"), curve)

    @classmethod
    def from_pem(cls, pem: str | bytes) -> Sm2PrivateKey:
        """A PKCS#8 ``PRIVATE KEY`` or SEC1 ``EC PRIVATE KEY`` on the SM2 curve (unencrypted)."""
        label, der = _pem_body(pem)
        if label == "PRIVATE KEY":
            return _pkcs8(der)
        if label in ("EC PRIVATE KEY", "SM2 PRIVATE KEY"):  # OpenSSL 3 writes the latter
            return _sec1(der, None)
        raise ValidationError(f"a {label!r} PEM is not an SM2 private key")

    def to_pem(self) -> str:
        """PKCS#8, as ``openssl genpkey -algorithm SM2`` writes it."""
        algorithm = _tlv(0x30, _oid(_EC_PUBLIC_KEY_OID) + _oid(SM2_CURVE_OID))
        sec1 = _tlv(
            0x30,
            _tlv(0x02, b"\x01")
            + _tlv(0x04, self.d.to_bytes(self.curve.size, "big"))
            + _tlv(0xA1, _tlv(0x03, b"\x00" + self.public_key.to_bytes())),
        )
        return _pem("PRIVATE KEY", _tlv(0x30, _tlv(0x02, b"\x00") + algorithm + _tlv(0x04, sec1)))


# -- SM3 and the signature digest --------------------------------------------------------------


def sm3(data: bytes) -> bytes:
    """The SM3 digest (GB/T 32905) of ``data``."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC (RFC 2104) with SM3: 64-byte blocks, 32-byte tags."""
    # hmac calls the constructor with the key block when the key is longer than a block.
    return _hmac.new(key, data, _Sm3Hash).digest()  # type: ignore[arg-type]


class _Sm3Hash:
    """The hashlib-style object :mod:`hmac` wants, over cryptography's SM3."""

    digest_size = 32
    block_size = 64
    name = "sm3"

    def __init__(self, data: bytes = b"") -> None:
        self._hash = hashes.Hash(hashes.SM3())
        self._hash.update(data)

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def copy(self) -> _Sm3Hash:
        twin = _Sm3Hash()
        twin._hash = self._hash.copy()
        return twin

    def digest(self) -> bytes:
        return self._hash.copy().finalize()


def sm2_z(public_key: Sm2PublicKey, user_id: bytes = DEFAULT_USER_ID) -> bytes:
    """``Z_A`` of GM/T 0003.2 §5.5: the signer's identity and curve, hashed."""
    bits = 8 * len(user_id)
    if bits >= 1 << 16:
        raise ValidationError("an SM2 user id is shorter than 8192 bytes")
    curve = public_key.curve
    size = curve.size
    numbers = (curve.a, curve.b, curve.gx, curve.gy, public_key.x, public_key.y)
    return sm3(
        bits.to_bytes(2, "big") + user_id + b"".join(v.to_bytes(size, "big") for v in numbers)
    )


def sm2_digest(message: bytes, public_key: Sm2PublicKey, user_id: bytes = DEFAULT_USER_ID) -> int:
    """``e = SM3(Z_A ‖ M)`` as an integer (GM/T 0003.2 §6.1 steps A1–A2)."""
    return int.from_bytes(sm3(sm2_z(public_key, user_id) + message), "big")


# -- SM2 signatures ----------------------------------------------------------------------------


def sm2_sign(
    message: bytes,
    key: Sm2PrivateKey,
    *,
    user_id: bytes = DEFAULT_USER_ID,
    form: SignatureFormat = "der",
    k: int | None = None,
) -> bytes:
    """``SM3withSM2`` over ``message``; ``k`` fixes the nonce for published test vectors only."""
    curve = key.curve
    e = sm2_digest(message, key.public_key, user_id)
    while True:
        nonce = k if k is not None else secrets.randbelow(curve.n - 1) + 1
        point = _multiply(curve, nonce, curve.gx, curve.gy)
        if point is None:
            raise ValidationError("the SM2 nonce is out of range")
        r = (e + point[0]) % curve.n
        s = pow(1 + key.d, -1, curve.n) * (nonce - r * key.d) % curve.n
        if r and r + nonce != curve.n and s:
            return _encode_signature(r, s, curve, form)
        if k is not None:
            raise ValidationError("the fixed SM2 nonce gives no signature")


def sm2_verify(
    signature: bytes,
    message: bytes,
    key: Sm2PublicKey,
    *,
    user_id: bytes = DEFAULT_USER_ID,
    form: SignatureFormat = "der",
) -> None:
    """Raise :class:`SignatureMismatchError` unless ``signature`` is ``key``'s over ``message``."""
    curve = key.curve
    r, s = _decode_signature(signature, curve, form)
    t = (r + s) % curve.n
    if not (1 <= r < curve.n and 1 <= s < curve.n) or t == 0:
        raise SignatureMismatchError("the SM2 signature is out of range")
    e = sm2_digest(message, key, user_id)
    point = _add(curve, _multiply(curve, s, curve.gx, curve.gy), _multiply(curve, t, key.x, key.y))
    if point is None or not _hmac.compare_digest(
        ((e + point[0]) % curve.n).to_bytes(curve.size, "big"), r.to_bytes(curve.size, "big")
    ):
        raise SignatureMismatchError("the SM2 signature does not verify")


def _add(
    curve: Sm2Curve, p1: tuple[int, int] | None, p2: tuple[int, int] | None
) -> tuple[int, int] | None:
    """Affine point addition: gmssl's adds a doubling wrongly, and s·G + t·P is public data."""
    if p1 is None or p2 is None:
        return p1 or p2
    (x1, y1), (x2, y2), p = p1, p2, curve.p
    if x1 == x2 and (y1 + y2) % p == 0:
        return None
    if p1 == p2:
        slope = (3 * x1 * x1 + curve.a) * pow(2 * y1, -1, p) % p
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, p) % p
    x3 = (slope * slope - x1 - x2) % p
    return x3, (slope * (x1 - x3) - y1) % p


def _encode_signature(r: int, s: int, curve: Sm2Curve, form: SignatureFormat) -> bytes:
    if form == "raw":
        return r.to_bytes(curve.size, "big") + s.to_bytes(curve.size, "big")
    return encode_dss_signature(r, s)


def _decode_signature(signature: bytes, curve: Sm2Curve, form: SignatureFormat) -> tuple[int, int]:
    if form == "raw":
        if len(signature) != 2 * curve.size:
            raise SignatureMismatchError(f"a raw SM2 signature is {2 * curve.size} bytes")
        return (
            int.from_bytes(signature[: curve.size], "big"),
            int.from_bytes(signature[curve.size :], "big"),
        )
    try:
        r, s = decode_dss_signature(signature)
    except ValueError:
        raise SignatureMismatchError("the SM2 signature is not DER") from None
    if encode_dss_signature(r, s) != signature:  # one encoding only: no malleable DER
        raise SignatureMismatchError("the SM2 signature is not canonical DER")
    return r, s


# -- SM4 -----------------------------------------------------------------------------------------


def _sm4_key(key: bytes) -> algorithms.SM4:
    if len(key) != 16:
        raise ValidationError("an SM4 key is 16 bytes")
    return algorithms.SM4(key)


def sm4_cbc_encrypt(key: bytes, plaintext: bytes, iv: bytes | None = None) -> bytes:
    """SM4-CBC with PKCS#7 padding; returns ``iv ‖ ciphertext`` (a fresh random iv by default)."""
    iv = os.urandom(16) if iv is None else iv
    if len(iv) != 16:
        raise ValidationError("an SM4-CBC iv is 16 bytes")
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(_sm4_key(key), modes.CBC(iv)).encryptor()
    return iv + encryptor.update(padded) + encryptor.finalize()


def sm4_cbc_decrypt(key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    """The inverse of :func:`sm4_cbc_encrypt`; ``iv`` given when it travels apart."""
    if iv is None:
        iv, data = data[:16], data[16:]
    if len(iv) != 16 or not data or len(data) % 16:
        raise ValidationError("SM4-CBC ciphertext is whole 16-byte blocks after a 16-byte iv")
    decryptor = Cipher(_sm4_key(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise ValidationError("SM4-CBC padding is wrong (wrong key?)") from None


def sm4_gcm_encrypt(
    key: bytes, plaintext: bytes, nonce: bytes | None = None, aad: bytes = b""
) -> bytes:
    """SM4-GCM (RFC 8998): ``nonce(12) ‖ ciphertext ‖ tag(16)``."""
    nonce = os.urandom(12) if nonce is None else nonce
    if len(nonce) != 12:
        raise ValidationError("an SM4-GCM nonce is 12 bytes")
    encryptor = Cipher(_sm4_key(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    body = encryptor.update(plaintext) + encryptor.finalize()
    return nonce + body + encryptor.tag


def sm4_gcm_decrypt(key: bytes, data: bytes, aad: bytes = b"") -> bytes:
    """The inverse of :func:`sm4_gcm_encrypt`; a wrong key, nonce, aad or tag raises."""
    if len(data) < 28:
        raise ValidationError("SM4-GCM data is a 12-byte nonce, ciphertext and a 16-byte tag")
    nonce, body, tag = data[:12], data[12:-16], data[-16:]
    decryptor = Cipher(_sm4_key(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(aad)
    try:
        return decryptor.update(body) + decryptor.finalize()
    except InvalidTag:
        raise ValidationError("SM4-GCM authentication failed") from None


# -- a small DER reader and writer for SM2 keys --------------------------------------------------

_PEM: Final = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*([A-Za-z0-9+/=\s]+?)-----END \1-----")


def _pem_body(pem: str | bytes) -> tuple[str, bytes]:
    import base64
    import binascii

    data = pem.encode() if isinstance(pem, str) else pem
    found = _PEM.search(data)
    if found is None:
        raise ValidationError("not a PEM block")
    try:
        der = base64.b64decode(b"".join(found.group(2).split()), validate=True)
    except binascii.Error:
        raise ValidationError("the PEM block is not base64") from None
    return found.group(1).decode(), der


def _pem(label: str, der: bytes) -> str:
    import base64

    text = base64.b64encode(der).decode()
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def _tlv(tag: int, value: bytes) -> bytes:
    size = len(value)
    if size < 0x80:
        return bytes([tag, size]) + value
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + value


def _oid(dotted: str) -> bytes:
    first, second, *rest = (int(part) for part in dotted.split("."))
    body = bytearray([40 * first + second])
    for value in rest:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.append(0x80 | (value & 0x7F))
            value >>= 7
        body.extend(reversed(chunk))
    return _tlv(0x06, bytes(body))


def _read(data: bytes, offset: int = 0) -> tuple[int, bytes, int]:
    """(tag, value, next offset) of the TLV at ``offset``; definite lengths only (DER)."""
    try:
        tag, first = data[offset], data[offset + 1]
        offset += 2
        if first & 0x80:
            count = first & 0x7F
            if not 1 <= count <= 3:
                raise ValidationError("unsupported DER length in the key")
            size = int.from_bytes(data[offset : offset + count], "big")
            offset += count
        else:
            size = first
    except IndexError:
        raise ValidationError("the key's DER is truncated") from None
    if offset + size > len(data):
        raise ValidationError("the key's DER is truncated")
    return tag, data[offset : offset + size], offset + size


def _children(value: bytes) -> list[tuple[int, bytes]]:
    items, offset = [], 0
    while offset < len(value):
        tag, item, offset = _read(value, offset)
        items.append((tag, item))
    return items


def _sequence(der: bytes, what: str) -> list[tuple[int, bytes]]:
    tag, value, end = _read(der)
    if tag != 0x30 or end != len(der):
        raise ValidationError(f"the {what} is not one DER SEQUENCE")
    return _children(value)


def _check_algorithm(value: bytes) -> bytes | None:
    """The curve OID's TLV from an AlgorithmIdentifier, checked to be EC on SM2."""
    parts = _children(value)
    if not parts or _tlv(*parts[0]) != _oid(_EC_PUBLIC_KEY_OID):
        raise ValidationError("the key is not an elliptic-curve key")
    if len(parts) > 1 and _tlv(*parts[1]) != _oid(SM2_CURVE_OID):
        raise ValidationError(f"the key is not on the SM2 curve ({SM2_CURVE_OID})")
    return _tlv(*parts[1]) if len(parts) > 1 else None


def _spki(der: bytes) -> Sm2PublicKey:
    parts = _sequence(der, "public key")
    if len(parts) != 2 or parts[0][0] != 0x30 or parts[1][0] != 0x03:
        raise ValidationError("the public key is not a SubjectPublicKeyInfo")
    if _check_algorithm(parts[0][1]) is None:
        raise ValidationError(f"the key names no curve; SM2 is {SM2_CURVE_OID}")
    bits = parts[1][1]
    if not bits or bits[0] != 0:
        raise ValidationError("the public key's BIT STRING is malformed")
    return Sm2PublicKey.from_bytes(bits[1:])


def _pkcs8(der: bytes) -> Sm2PrivateKey:
    parts = _sequence(der, "private key")
    if len(parts) < 3 or parts[1][0] != 0x30 or parts[2][0] != 0x04:
        raise ValidationError("the private key is not PKCS#8 (encrypted keys are not read)")
    curve = _check_algorithm(parts[1][1])
    return _sec1(parts[2][1], curve)


def _sec1(der: bytes, curve_from_pkcs8: bytes | None) -> Sm2PrivateKey:
    parts = _sequence(der, "EC private key")
    if len(parts) < 2 or parts[0] != (0x02, b"\x01") or parts[1][0] != 0x04:
        raise ValidationError("the private key is not an ECPrivateKey (RFC 5915)")
    curve = curve_from_pkcs8
    for tag, value in parts[2:]:
        if tag == 0xA0:
            curve = value
    if curve is not None and curve != _oid(SM2_CURVE_OID):
        raise ValidationError(f"the key is not on the SM2 curve ({SM2_CURVE_OID})")
    if curve is None:
        raise ValidationError(f"the key names no curve; SM2 is {SM2_CURVE_OID}")
    secret = parts[1][1]
    if len(secret) != SM2_CURVE.size:
        raise ValidationError("an SM2 private key is 32 bytes")
    key = Sm2PrivateKey(int.from_bytes(secret, "big"))
    for tag, value in parts[2:]:
        if tag == 0xA1:
            _, bits, _ = _read(value)
            if bits[1:] != key.public_key.to_bytes():
                raise ValidationError("the key's public half does not match its private half")
    return key


def _unhex(text: str, what: str) -> bytes:
    cleaned = "".join(text.split())
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise ValidationError(f"the {what} is not hex") from None
