"""Sign and verify primitives by algorithm name, with the key-type check built in.

Every scheme in :mod:`walletlink.signing` resolves its algorithm here, so the rule "the key
type must match the algorithm" lives in one place: an HMAC secret can never verify an RSA
signature, an RSA key can never take an HMAC path, and ``none`` does not exist. Verification
raises :class:`~walletlink.errors.SignatureMismatchError`; it never returns a bool.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Final

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from walletlink.errors import AlgorithmNotAllowedError, SignatureMismatchError
from walletlink.signing.keys import KeyType, SigningKey

__all__ = ["ALGORITHMS", "Algorithm", "algorithm", "default_algorithm"]


def _pss(digest: hashes.HashAlgorithm) -> padding.PSS:
    # RFC 9421 and JOSE PS* both fix the salt to the hash length.
    return padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)


@attrs.frozen
class Algorithm:
    """One signature algorithm: its name, the key type it needs, and how to run it."""

    name: str
    key_type: KeyType
    _sign: Callable[[SigningKey, bytes], bytes] = attrs.field(repr=False)
    _verify: Callable[[SigningKey, bytes, bytes], None] = attrs.field(repr=False)

    def check_key(self, key: SigningKey) -> None:
        """Refuse a key whose type does not fit this algorithm (alg confusion)."""
        if key.key_type is not self.key_type:
            raise AlgorithmNotAllowedError(
                f"algorithm {self.name!r} needs a {self.key_type.value} key, "
                f"key {key.kid!r} is {key.key_type.value}"
            )

    def sign(self, key: SigningKey, data: bytes) -> bytes:
        self.check_key(key)
        return self._sign(key, data)

    def verify(self, key: SigningKey, data: bytes, signature: bytes) -> None:
        """Raise :class:`SignatureMismatchError` unless ``signature`` is valid over ``data``."""
        self.check_key(key)
        try:
            self._verify(key, data, signature)
        except InvalidSignature:
            raise SignatureMismatchError(
                f"{self.name} signature does not verify with key {key.kid!r}"
            ) from None


def _rsa_private(key: SigningKey) -> rsa.RSAPrivateKey:
    private = key.require_private()
    assert isinstance(private, rsa.RSAPrivateKey)  # guaranteed by check_key
    return private


def _rsa_public(key: SigningKey) -> rsa.RSAPublicKey:
    public = key.require_public()
    assert isinstance(public, rsa.RSAPublicKey)
    return public


def _rsa(
    pad: Callable[[], padding.AsymmetricPadding], digest: hashes.HashAlgorithm
) -> tuple[Callable[[SigningKey, bytes], bytes], Callable[[SigningKey, bytes, bytes], None]]:
    scheme = pad()

    def sign(key: SigningKey, data: bytes) -> bytes:
        return _rsa_private(key).sign(data, scheme, digest)

    def verify(key: SigningKey, data: bytes, signature: bytes) -> None:
        _rsa_public(key).verify(signature, data, scheme, digest)

    return sign, verify


def _ecdsa(
    digest: hashes.HashAlgorithm, size: int, *, raw: bool
) -> tuple[Callable[[SigningKey, bytes], bytes], Callable[[SigningKey, bytes, bytes], None]]:
    """ECDSA; ``raw`` gives the fixed-size r‖s form RFC 9421 and JOSE use instead of DER."""
    scheme = ec.ECDSA(digest)

    def sign(key: SigningKey, data: bytes) -> bytes:
        private = key.require_private()
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        der = private.sign(data, scheme)
        if not raw:
            return der
        r, s = decode_dss_signature(der)
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    def verify(key: SigningKey, data: bytes, signature: bytes) -> None:
        public = key.require_public()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        if raw:
            if len(signature) != 2 * size:
                raise InvalidSignature
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            signature = encode_dss_signature(r, s)
        public.verify(signature, data, scheme)

    return sign, verify


def _ed25519_sign(key: SigningKey, data: bytes) -> bytes:
    private = key.require_private()
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    return private.sign(data)


def _ed25519_verify(key: SigningKey, data: bytes, signature: bytes) -> None:
    public = key.require_public()
    assert isinstance(public, ed25519.Ed25519PublicKey)
    public.verify(signature, data)


def _hmac(
    name: str,
) -> tuple[Callable[[SigningKey, bytes], bytes], Callable[[SigningKey, bytes, bytes], None]]:
    def sign(key: SigningKey, data: bytes) -> bytes:
        return hmac.digest(key.require_secret(), data, name)

    def verify(key: SigningKey, data: bytes, signature: bytes) -> None:
        expected = hmac.digest(key.require_secret(), data, name)
        if not hmac.compare_digest(expected, signature):
            raise InvalidSignature

    return sign, verify


def _build() -> dict[str, Algorithm]:
    table: dict[str, tuple[KeyType, tuple[Callable[..., bytes], Callable[..., None]]]] = {
        # RFC 9421 names (IANA HTTP Signature Algorithms registry).
        "rsa-pss-sha512": (KeyType.RSA, _rsa(lambda: _pss(hashes.SHA512()), hashes.SHA512())),
        "rsa-v1_5-sha256": (KeyType.RSA, _rsa(padding.PKCS1v15, hashes.SHA256())),
        "hmac-sha256": (KeyType.OCT, _hmac("sha256")),
        "ecdsa-p256-sha256": (KeyType.EC_P256, _ecdsa(hashes.SHA256(), 32, raw=True)),
        "ecdsa-p384-sha384": (KeyType.EC_P384, _ecdsa(hashes.SHA384(), 48, raw=True)),
        "ed25519": (KeyType.ED25519, (_ed25519_sign, _ed25519_verify)),
        # Berlin Group and older schemes.
        "rsa-v1_5-sha512": (KeyType.RSA, _rsa(padding.PKCS1v15, hashes.SHA512())),
        "hmac-sha512": (KeyType.OCT, _hmac("sha512")),
        # JOSE names, for detached JWS.
        "RS256": (KeyType.RSA, _rsa(padding.PKCS1v15, hashes.SHA256())),
        "PS256": (KeyType.RSA, _rsa(lambda: _pss(hashes.SHA256()), hashes.SHA256())),
        "ES256": (KeyType.EC_P256, _ecdsa(hashes.SHA256(), 32, raw=True)),
        "EdDSA": (KeyType.ED25519, (_ed25519_sign, _ed25519_verify)),
        "HS256": (KeyType.OCT, _hmac("sha256")),
    }
    return {name: Algorithm(name, kt, *fns) for name, (kt, fns) in table.items()}


ALGORITHMS: Final[dict[str, Algorithm]] = _build()

_DEFAULTS: Final[dict[KeyType, str]] = {
    KeyType.OCT: "hmac-sha256",
    KeyType.ED25519: "ed25519",
    KeyType.EC_P256: "ecdsa-p256-sha256",
    KeyType.EC_P384: "ecdsa-p384-sha384",
    KeyType.RSA: "rsa-pss-sha512",
}


def algorithm(name: str) -> Algorithm:
    """The algorithm called ``name``; ``none`` and unknown names are refused."""
    found = ALGORITHMS.get(name)
    if found is None:
        raise AlgorithmNotAllowedError(f"algorithm {name[:40]!r} is not supported")
    return found


def default_algorithm(key: SigningKey) -> Algorithm:
    """The algorithm bound to ``key``: its ``alg`` hint, else the RFC 9421 default for its type."""
    return algorithm(key.alg) if key.alg else ALGORITHMS[_DEFAULTS[key.key_type]]
