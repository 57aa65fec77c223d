"""Signing keys: load them, hold them safely, rotate them, and make test ones.

A :class:`SigningKey` is one key under one key id: an asymmetric private and/or public key,
or an HMAC secret, with an optional algorithm hint and an optional certificate plus chain.
Its ``repr`` names the key id, type and certificate, never secret material.

A :class:`KeyRing` holds several keys by kid with one *current* key for signing; rotation is
``ring.add(new).set_current(new.kid)`` then, once peers have moved, ``ring.retire(old.kid)``.
Rings are immutable values: each step returns a new ring.

:class:`TestCA` and the ``generate_*`` helpers make throw-away keys and certificates for
tests and mock banks (mTLS on loopback, Berlin Group QSealC stand-ins).
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import ipaddress
import json
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeAlias

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from walletlink.errors import ConfigurationError, KeyNotFoundError
from walletlink.signing._b64 import b64url_decode

__all__ = [
    "KeyRing",
    "KeyType",
    "PrivateKey",
    "PublicKey",
    "SigningKey",
    "TestCA",
    "generate_ec_key",
    "generate_ed25519_key",
    "generate_hmac_key",
    "generate_rsa_key",
    "hmac_key",
    "load_der",
    "load_jwk",
    "load_jwks",
    "load_pem",
    "load_pkcs12",
    "self_signed",
]

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

_MIN_SECRET_BYTES = 16
_MIN_RSA_BITS = 1024  # the draft-cavage Appendix C test key is RSA-1024


class KeyType(enum.Enum):
    """What kind of key material a :class:`SigningKey` holds; algorithms demand one."""

    RSA = "RSA"
    EC_P256 = "EC P-256"
    EC_P384 = "EC P-384"
    ED25519 = "Ed25519"
    OCT = "HMAC secret"


_CURVES: dict[str, KeyType] = {"secp256r1": KeyType.EC_P256, "secp384r1": KeyType.EC_P384}


def _public_of(private: PrivateKey | None) -> PublicKey | None:
    return None if private is None else private.public_key()


def _key_type(key: SigningKey) -> KeyType:
    material = key.public_key
    if key.secret is not None:
        return KeyType.OCT
    if isinstance(material, rsa.RSAPublicKey):
        if material.key_size < _MIN_RSA_BITS:
            raise ConfigurationError(f"key {key.kid!r}: RSA keys under {_MIN_RSA_BITS} bits")
        return KeyType.RSA
    if isinstance(material, ed25519.Ed25519PublicKey):
        return KeyType.ED25519
    if isinstance(material, ec.EllipticCurvePublicKey):
        found = _CURVES.get(material.curve.name)
        if found is None:
            raise ConfigurationError(f"key {key.kid!r}: curve {material.curve.name} unsupported")
        return found
    raise ConfigurationError(f"key {key.kid!r}: needs a private key, public key or secret")


def _cert_tuple(certs: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    return tuple(certs)


def _raw_public(public: PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@attrs.frozen(kw_only=True, repr=False)
class SigningKey:
    """One key under one key id; ``repr`` never shows secret material."""

    kid: str
    private_key: PrivateKey | None = None
    public_key: PublicKey | None = attrs.field(
        default=attrs.Factory(lambda self: _public_of(self.private_key), takes_self=True)
    )
    secret: bytes | None = None
    alg: str | None = None
    certificate: x509.Certificate | None = None
    chain: tuple[x509.Certificate, ...] = attrs.field(default=(), converter=_cert_tuple)
    key_type: KeyType = attrs.field(init=False, default=attrs.Factory(_key_type, takes_self=True))

    def __attrs_post_init__(self) -> None:
        if self.secret is not None:
            if self.private_key is not None or self.public_key is not None:
                raise ConfigurationError(f"key {self.kid!r}: a secret or a key pair, not both")
            if len(self.secret) < _MIN_SECRET_BYTES:
                raise ConfigurationError(
                    f"key {self.kid!r}: HMAC secrets need at least {_MIN_SECRET_BYTES} bytes"
                )
        if self.certificate is not None and self.public_key is not None:
            cert_key = self.certificate.public_key()
            if _raw_public(cert_key) != _raw_public(self.public_key):  # type: ignore[arg-type]
                raise ConfigurationError(
                    f"key {self.kid!r}: the certificate is for a different key"
                )

    def __repr__(self) -> str:
        parts = [f"kid={self.kid!r}", f"type={self.key_type.value}"]
        if self.key_type is not KeyType.OCT:
            parts.append("private" if self.private_key is not None else "public only")
        if self.alg:
            parts.append(f"alg={self.alg!r}")
        if self.certificate is not None:
            parts.append(f"certificate=SN {self.certificate.serial_number:x}")
        return f"SigningKey({', '.join(parts)})"

    __str__ = __repr__

    @property
    def can_sign(self) -> bool:
        return self.private_key is not None or self.secret is not None

    def require_private(self) -> PrivateKey:
        if self.private_key is None:
            raise ConfigurationError(f"key {self.kid!r} has no private part: it cannot sign")
        return self.private_key

    def require_public(self) -> PublicKey:
        if self.public_key is None:
            raise ConfigurationError(f"key {self.kid!r} has no public part")
        return self.public_key

    def require_secret(self) -> bytes:
        if self.secret is None:
            raise ConfigurationError(f"key {self.kid!r} is not an HMAC secret")
        return self.secret

    def public(self) -> SigningKey:
        """The same key without private material: what a peer is given to verify with."""
        if self.secret is not None:
            raise ConfigurationError(f"key {self.kid!r}: an HMAC secret has no public half")
        return attrs.evolve(self, private_key=None, public_key=self.public_key)

    @property
    def certificate_serial(self) -> int | None:
        return None if self.certificate is None else self.certificate.serial_number

    @property
    def certificate_issuer(self) -> x509.Name | None:
        return None if self.certificate is None else self.certificate.issuer

    def private_key_pem(self, password: bytes | None = None) -> bytes:
        """PKCS#8 PEM of the private key, encrypted when ``password`` is given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        return self.require_private().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def public_key_pem(self) -> bytes:
        return self.require_public().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def certificate_pem(self) -> bytes:
        """The certificate followed by its chain, PEM: what an mTLS cert file holds."""
        if self.certificate is None:
            raise ConfigurationError(f"key {self.kid!r} has no certificate")
        certs = (self.certificate, *self.chain)
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)

    def to_jwk(self, *, private: bool = False) -> dict[str, str]:
        """This key as a JWK (RFC 7517/7518/8037); ``private=True`` includes secrets."""
        return _to_jwk(self, private=private)


# --------------------------------------------------------------------------- loading

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode() if isinstance(data, str) else data


def _checked_private(key: object, kid: str) -> PrivateKey:
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return key
    raise ConfigurationError(f"key {kid!r}: unsupported private key type {type(key).__name__}")


def _checked_public(key: object, kid: str) -> PublicKey:
    if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        return key
    raise ConfigurationError(f"key {kid!r}: unsupported public key type {type(key).__name__}")


def _split_leaf(
    certs: list[x509.Certificate], public: PublicKey | None
) -> tuple[x509.Certificate | None, tuple[x509.Certificate, ...]]:
    """The certificate for ``public`` (else the first one) and the rest as its chain."""
    if not certs:
        return None, ()
    leaf = certs[0]
    if public is not None:
        wanted = _raw_public(public)
        leaf = next((c for c in certs if _raw_public(c.public_key()) == wanted), leaf)  # type: ignore[arg-type]
    return leaf, tuple(c for c in certs if c is not leaf)


def load_pem(
    data: bytes | str,
    *,
    kid: str,
    password: bytes | None = None,
    alg: str | None = None,
) -> SigningKey:
    """A key from PEM text holding a private key, a public key and/or certificates.

    Encrypted private keys need ``password``. Certificates after the one matching the key
    become its chain, in the order given.
    """
    private: PrivateKey | None = None
    public: PublicKey | None = None
    certs: list[x509.Certificate] = []
    try:
        for match in _PEM_BLOCK.finditer(_as_bytes(data)):
            label, block = match.group(1), match.group(0)
            if label == b"CERTIFICATE":
                certs.append(x509.load_pem_x509_certificate(block))
            elif label.endswith(b"PRIVATE KEY"):
                loaded = serialization.load_pem_private_key(block, password)
                private = _checked_private(loaded, kid)
            elif label.endswith(b"PUBLIC KEY"):
                public = _checked_public(serialization.load_pem_public_key(block), kid)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"key {kid!r}: unreadable PEM ({_reason(exc)})") from None
    if private is not None:
        public = private.public_key()
    if public is None and certs:
        public = _checked_public(certs[0].public_key(), kid)
    if public is None:
        raise ConfigurationError(f"key {kid!r}: no key or certificate in the PEM data")
    leaf, chain = _split_leaf(certs, public)
    return SigningKey(
        kid=kid, private_key=private, public_key=public, alg=alg, certificate=leaf, chain=chain
    )


def _reason(exc: Exception) -> str:
    # cryptography's messages describe structure, not key bytes; cap the length anyway.
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


def load_der(
    data: bytes, *, kid: str, password: bytes | None = None, alg: str | None = None
) -> SigningKey:
    """A key from DER: a PKCS#8/PKCS#1/SEC1 private key, an SPKI public key or a certificate."""
    try:
        private = _checked_private(serialization.load_der_private_key(data, password), kid)
        return SigningKey(kid=kid, private_key=private, alg=alg)
    except (ValueError, TypeError):
        pass  # not a private key: try the other two shapes
    try:
        public = _checked_public(serialization.load_der_public_key(data), kid)
        return SigningKey(kid=kid, public_key=public, alg=alg)
    except ValueError:
        pass
    try:
        cert = x509.load_der_x509_certificate(data)
    except ValueError:
        raise ConfigurationError(f"key {kid!r}: DER is not a key or certificate") from None
    return SigningKey(
        kid=kid, public_key=_checked_public(cert.public_key(), kid), alg=alg, certificate=cert
    )


def load_pkcs12(
    data: bytes, password: bytes | None, *, kid: str | None = None, alg: str | None = None
) -> SigningKey:
    """A key, its certificate and chain from a PKCS#12 (.p12/.pfx) bundle.

    ``kid`` defaults to the bundle's friendly name, else the certificate serial in hex.
    """
    try:
        bundle = pkcs12.load_pkcs12(data, password)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"PKCS#12 bundle unreadable ({_reason(exc)})") from None
    if bundle.key is None or bundle.cert is None:
        raise ConfigurationError("PKCS#12 bundle lacks a private key or its certificate")
    cert = bundle.cert.certificate
    name = bundle.cert.friendly_name
    kid = kid or (name.decode() if name else f"{cert.serial_number:x}")
    return SigningKey(
        kid=kid,
        private_key=_checked_private(bundle.key, kid),
        alg=alg,
        certificate=cert,
        chain=tuple(c.certificate for c in bundle.additional_certs),
    )


def hmac_key(secret: bytes | str, *, kid: str, alg: str | None = None) -> SigningKey:
    """An HMAC shared secret; a ``str`` is taken as UTF-8 bytes, not decoded from base64."""
    return SigningKey(kid=kid, secret=_as_bytes(secret), alg=alg)


def _b64u_decode(value: Any, field: str, kid: str) -> bytes:
    if not isinstance(value, str):
        raise ConfigurationError(f"JWK {kid!r}: member {field!r} missing or not a string")
    try:
        return b64url_decode(value)
    except ValueError:
        raise ConfigurationError(f"JWK {kid!r}: member {field!r} is not base64url") from None


def _b64u_int(value: Any, field: str, kid: str) -> int:
    return int.from_bytes(_b64u_decode(value, field, kid), "big")


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64u(value: int, size: int | None = None) -> str:
    return _b64u(value.to_bytes(size or max(1, (value.bit_length() + 7) // 8), "big"))


_JWK_CURVES: dict[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}


def _jwk_rsa(jwk: Mapping[str, Any], kid: str) -> tuple[PrivateKey | None, PublicKey]:
    numbers = rsa.RSAPublicNumbers(
        _b64u_int(jwk.get("e"), "e", kid), _b64u_int(jwk.get("n"), "n", kid)
    )
    if "d" not in jwk:
        return None, numbers.public_key()
    p, q = _b64u_int(jwk.get("p"), "p", kid), _b64u_int(jwk.get("q"), "q", kid)
    d = _b64u_int(jwk.get("d"), "d", kid)
    private = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), numbers
    ).private_key()
    return private, private.public_key()


def _jwk_ec(jwk: Mapping[str, Any], kid: str) -> tuple[PrivateKey | None, PublicKey]:
    curve = _JWK_CURVES.get(str(jwk.get("crv")))
    if curve is None:
        raise ConfigurationError(f"JWK {kid!r}: curve {str(jwk.get('crv'))[:20]!r} unsupported")
    x, y = _b64u_int(jwk.get("x"), "x", kid), _b64u_int(jwk.get("y"), "y", kid)
    public_numbers = ec.EllipticCurvePublicNumbers(x, y, curve)
    if "d" not in jwk:
        return None, public_numbers.public_key()
    private = ec.EllipticCurvePrivateNumbers(
        _b64u_int(jwk.get("d"), "d", kid), public_numbers
    ).private_key()
    return private, private.public_key()


def _jwk_okp(jwk: Mapping[str, Any], kid: str) -> tuple[PrivateKey | None, PublicKey]:
    if jwk.get("crv") != "Ed25519":
        raise ConfigurationError(f"JWK {kid!r}: only the Ed25519 OKP curve is supported")
    public = ed25519.Ed25519PublicKey.from_public_bytes(_b64u_decode(jwk.get("x"), "x", kid))
    if "d" not in jwk:
        return None, public
    private = ed25519.Ed25519PrivateKey.from_private_bytes(_b64u_decode(jwk.get("d"), "d", kid))
    if _raw_public(private.public_key()) != _raw_public(public):
        raise ConfigurationError(f"JWK {kid!r}: d and x are not one key pair")
    return private, public


def load_jwk(jwk: Mapping[str, Any] | str, *, kid: str | None = None) -> SigningKey:
    """A key from a JWK (RSA, EC P-256/P-384, OKP Ed25519, oct); ``kid`` overrides its own."""
    data: Any = json.loads(jwk) if isinstance(jwk, str) else jwk
    if not isinstance(data, Mapping):
        raise ConfigurationError("a JWK must be a JSON object")
    kid = kid or str(data.get("kid") or "")
    if not kid:
        raise ConfigurationError("JWK without 'kid': pass kid= explicitly")
    alg = data.get("alg") if isinstance(data.get("alg"), str) else None
    kty = data.get("kty")
    try:
        if kty == "oct":
            return SigningKey(kid=kid, secret=_b64u_decode(data.get("k"), "k", kid), alg=alg)
        loaders = {"RSA": _jwk_rsa, "EC": _jwk_ec, "OKP": _jwk_okp}
        if kty not in loaders:
            raise ConfigurationError(f"JWK {kid!r}: kty {str(kty)[:20]!r} unsupported")
        private, public = loaders[kty](data, kid)
    except ValueError as exc:
        if isinstance(exc, ConfigurationError):
            raise
        raise ConfigurationError(f"JWK {kid!r}: invalid key numbers ({_reason(exc)})") from None
    return SigningKey(kid=kid, private_key=private, public_key=public, alg=alg)


def load_jwks(jwks: Mapping[str, Any] | str) -> KeyRing:
    """Every key of a JWK Set, as a :class:`KeyRing` whose current key is the first."""
    data: Any = json.loads(jwks) if isinstance(jwks, str) else jwks
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        raise ConfigurationError("a JWKS must be an object with a 'keys' array")
    return KeyRing.of(*(load_jwk(entry) for entry in data["keys"]))


def _to_jwk(key: SigningKey, *, private: bool) -> dict[str, str]:
    jwk: dict[str, str] = {"kid": key.kid}
    if key.alg:
        jwk["alg"] = key.alg
    if key.secret is not None:
        if not private:
            raise ConfigurationError(f"key {key.kid!r}: an HMAC secret has no public JWK")
        return {**jwk, "kty": "oct", "k": _b64u(key.secret)}
    public = key.require_public()
    secret_part = key.require_private() if private else None
    if isinstance(public, rsa.RSAPublicKey):
        n = public.public_numbers()
        jwk |= {"kty": "RSA", "n": _int_b64u(n.n), "e": _int_b64u(n.e)}
        if isinstance(secret_part, rsa.RSAPrivateKey):
            pn = secret_part.private_numbers()
            jwk |= {
                "d": _int_b64u(pn.d),
                "p": _int_b64u(pn.p),
                "q": _int_b64u(pn.q),
                "dp": _int_b64u(pn.dmp1),
                "dq": _int_b64u(pn.dmq1),
                "qi": _int_b64u(pn.iqmp),
            }
    elif isinstance(public, ec.EllipticCurvePublicKey):
        size = (public.curve.key_size + 7) // 8
        crv = "P-256" if key.key_type is KeyType.EC_P256 else "P-384"
        en = public.public_numbers()
        jwk |= {"kty": "EC", "crv": crv, "x": _int_b64u(en.x, size), "y": _int_b64u(en.y, size)}
        if isinstance(secret_part, ec.EllipticCurvePrivateKey):
            jwk["d"] = _int_b64u(secret_part.private_numbers().private_value, size)
    else:
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        jwk |= {"kty": "OKP", "crv": "Ed25519", "x": _b64u(raw)}
        if isinstance(secret_part, ed25519.Ed25519PrivateKey):
            jwk["d"] = _b64u(
                secret_part.private_bytes(
                    serialization.Encoding.Raw,
                    serialization.PrivateFormat.Raw,
                    serialization.NoEncryption(),
                )
            )
    return jwk


# --------------------------------------------------------------------------- key ring


@attrs.frozen
class KeyRing:
    """Keys by kid, one of them current; every change returns a new ring."""

    _keys: Mapping[str, SigningKey] = attrs.field(repr=False)
    current_kid: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.current_kid is not None and self.current_kid not in self._keys:
            raise ConfigurationError(f"current key {self.current_kid!r} is not in the ring")

    @classmethod
    def of(cls, *keys: SigningKey, current: str | None = None) -> KeyRing:
        """A ring of ``keys``; the current key is ``current``, else the first key given."""
        by_kid: dict[str, SigningKey] = {}
        for key in keys:
            if key.kid in by_kid:
                raise ConfigurationError(f"two keys share kid {key.kid!r}")
            by_kid[key.kid] = key
        if current is None and keys:
            current = keys[0].kid
        return cls(by_kid, current)

    def get(self, kid: str) -> SigningKey:
        """The key called ``kid``; an unknown kid is a :class:`KeyNotFoundError`."""
        try:
            return self._keys[kid]
        except KeyError:
            raise KeyNotFoundError(f"no trusted key with kid {kid[:64]!r}") from None

    @property
    def current(self) -> SigningKey:
        """The key new signatures are made with."""
        if self.current_kid is None:
            raise KeyNotFoundError("the key ring is empty: no current key")
        return self._keys[self.current_kid]

    def add(self, key: SigningKey, *, make_current: bool = False) -> KeyRing:
        if key.kid in self._keys:
            raise ConfigurationError(f"the ring already holds kid {key.kid!r}")
        current = key.kid if make_current or self.current_kid is None else self.current_kid
        return KeyRing({**self._keys, key.kid: key}, current)

    def set_current(self, kid: str) -> KeyRing:
        self.get(kid)
        return KeyRing(self._keys, kid)

    def retire(self, kid: str) -> KeyRing:
        """The ring without ``kid``: its signatures stop verifying. The current key stays."""
        self.get(kid)
        if kid == self.current_kid:
            raise ConfigurationError(f"kid {kid!r} is current: set another current key first")
        return KeyRing({k: v for k, v in self._keys.items() if k != kid}, self.current_kid)

    def find_certificate(self, serial: int, issuer: x509.Name) -> SigningKey:
        """The key whose certificate has this serial number and issuer (Berlin Group keyId)."""
        for key in self._keys.values():
            if key.certificate_serial == serial and key.certificate_issuer == issuer:
                return key
        raise KeyNotFoundError(f"no trusted certificate with serial {serial:x}")

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def __iter__(self) -> Iterator[SigningKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys


# --------------------------------------------------------------------------- test material


def generate_rsa_key(kid: str, *, bits: int = 2048, alg: str | None = None) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return SigningKey(kid=kid, private_key=private, alg=alg)


def generate_ec_key(kid: str, *, curve: str = "P-256", alg: str | None = None) -> SigningKey:
    if curve not in _JWK_CURVES:
        raise ConfigurationError(f"curve {curve!r} unsupported: use P-256 or P-384")
    return SigningKey(kid=kid, private_key=ec.generate_private_key(_JWK_CURVES[curve]), alg=alg)


def generate_ed25519_key(kid: str) -> SigningKey:
    return SigningKey(kid=kid, private_key=ed25519.Ed25519PrivateKey.generate())


def generate_hmac_key(kid: str, *, size: int = 32, alg: str | None = None) -> SigningKey:
    return SigningKey(kid=kid, secret=secrets.token_bytes(size), alg=alg)


def _name(subject: str | x509.Name) -> x509.Name:
    if isinstance(subject, x509.Name):
        return subject
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])


def _signing_hash(key: PrivateKey) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _san(names: Iterable[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def self_signed(
    key: SigningKey,
    *,
    subject: str | x509.Name,
    now: dt.datetime,
    serial: int | None = None,
    days: int = 365,
    ca: bool = False,
) -> SigningKey:
    """``key`` with a self-signed certificate for ``subject``, valid from ``now``."""
    private = key.require_private()
    name = _name(subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    cert = builder.sign(private, _signing_hash(private))
    return attrs.evolve(key, certificate=cert, chain=())


@attrs.frozen(repr=False)
class TestCA:
    """A throw-away certificate authority for tests and mock banks; never use it in production.

    ``TestCA.create(now=...)`` makes the CA; ``issue(...)`` makes leaf keys with certificates
    chained to it: server certificates for ``localhost``/``127.0.0.1`` and client
    certificates (mTLS, Berlin Group QSealC stand-ins) with a chosen serial and subject.
    """

    __test__ = False  # pytest: this is a helper, not a test class

    key: SigningKey

    def __repr__(self) -> str:
        assert self.key.certificate is not None
        return f"TestCA({self.key.certificate.subject.rfc4514_string()!r})"

    @classmethod
    def create(
        cls, *, now: dt.datetime, subject: str | x509.Name = "walletlink test CA", days: int = 3650
    ) -> TestCA:
        root = self_signed(generate_ec_key("test-ca"), subject=subject, now=now, days=days, ca=True)
        return cls(root)

    @property
    def certificate(self) -> x509.Certificate:
        assert self.key.certificate is not None  # create() always sets it
        return self.key.certificate

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        kid: str,
        *,
        now: dt.datetime,
        subject: str | x509.Name | None = None,
        serial: int | None = None,
        key: SigningKey | None = None,
        client: bool = False,
        hosts: Iterable[str] = ("localhost", "127.0.0.1"),
        days: int = 30,
    ) -> SigningKey:
        """A leaf key (``key`` or a new EC P-256 one) with a certificate from this CA.

        ``client=True`` marks it for TLS client authentication, else server authentication
        for ``hosts``. The returned key's chain holds the CA certificate.
        """
        leaf = key or generate_ec_key(kid)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(subject or kid))
            .issuer_name(self.certificate.subject)
            .public_key(leaf.require_public())
            .serial_number(serial or x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if not client:
            builder = builder.add_extension(_san(hosts), critical=False)
        private = self.key.require_private()
        cert = builder.sign(private, _signing_hash(private))
        return attrs.evolve(leaf, kid=kid, certificate=cert, chain=(self.certificate,))
