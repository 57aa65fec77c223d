"""What every signing entry point accepts as a key, checked before any key is used.

One rule for all schemes: walletlink's own :class:`~walletlink.signing.keys.SigningKey`
(holding a private key, a public key or a certificate) works everywhere, and so do the raw
``cryptography`` keys (and, for verifying, certificates) the RSA schemes took before.
Anything that is not a key at all is a :class:`ConfigurationError` at construction (or at the
call, for plain functions), never an ``AttributeError`` halfway through signing. A real key of
a family the scheme cannot use is an :class:`AlgorithmNotAllowedError`, as the schemes' own
algorithm checks already raise.
"""

from __future__ import annotations

from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from walletlink.errors import AlgorithmNotAllowedError, ConfigurationError
from walletlink.signing.keys import KeyRing, SigningKey

__all__ = [
    "RsaPrivateInput",
    "RsaPublicInput",
    "keyring",
    "rsa_private",
    "rsa_public",
    "signing_key",
]

#: What an RSA signer accepts: a :class:`SigningKey` with an RSA private key, or the raw key.
RsaPrivateInput: TypeAlias = SigningKey | rsa.RSAPrivateKey
#: What an RSA verifier accepts: a :class:`SigningKey`, a raw public (or private) key, or a
#: certificate.
RsaPublicInput: TypeAlias = SigningKey | rsa.RSAPublicKey | rsa.RSAPrivateKey | x509.Certificate

_RAW_KEYS = (
    rsa.RSAPrivateKey,
    rsa.RSAPublicKey,
    ec.EllipticCurvePrivateKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PrivateKey,
    ed25519.Ed25519PublicKey,
)


def _not_a_key(value: object, what: str) -> ConfigurationError:
    # The type only: the value may be secret material handed over by mistake.
    return ConfigurationError(
        f"{what} needs a walletlink SigningKey or a cryptography key, not {type(value).__name__}"
    )


def signing_key(value: object, what: str) -> SigningKey:
    """``value`` itself when it is a :class:`SigningKey`; anything else is refused."""
    if not isinstance(value, SigningKey):
        raise ConfigurationError(
            f"{what} needs a walletlink SigningKey, not {type(value).__name__}"
        )
    return value


def keyring(value: object, what: str) -> KeyRing:
    """A :class:`KeyRing` from itself or from one :class:`SigningKey`; anything else is refused."""
    if isinstance(value, KeyRing):
        return value
    if isinstance(value, SigningKey):
        return KeyRing.of(value)
    raise ConfigurationError(
        f"{what} needs a walletlink SigningKey or KeyRing, not {type(value).__name__}"
    )


def rsa_private(value: object, what: str) -> rsa.RSAPrivateKey:
    """The RSA private key in ``value`` (a :class:`SigningKey` or a raw key)."""
    if isinstance(value, SigningKey):
        if value.private_key is None:
            raise ConfigurationError(f"{what}: key {value.kid!r} has no private part")
        value = value.private_key
    elif not isinstance(value, _RAW_KEYS):
        raise _not_a_key(value, what)
    if not isinstance(value, rsa.RSAPrivateKey):
        raise AlgorithmNotAllowedError(f"{what} needs an RSA private key")
    return value


def rsa_public(value: object, what: str) -> rsa.RSAPublicKey:
    """The RSA public key in ``value`` (a :class:`SigningKey`, raw key or certificate)."""
    if isinstance(value, SigningKey):
        value = value.public_key
    elif isinstance(value, x509.Certificate):
        value = value.public_key()
    elif not isinstance(value, _RAW_KEYS):
        raise _not_a_key(value, what)
    if isinstance(value, rsa.RSAPrivateKey):
        value = value.public_key()
    if not isinstance(value, rsa.RSAPublicKey):
        raise AlgorithmNotAllowedError(f"{what} needs an RSA public key")
    return value
