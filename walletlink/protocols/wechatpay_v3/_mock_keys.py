"""Test key material of the mock WeChat Pay platform: RSA keys and self-signed certificates.

RSA generation is slow, so each role's key is made once per process; certificates are made
per mock bank, because their validity follows that bank's clock.
"""

from __future__ import annotations

import functools
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

__all__ = ["certificate", "pem", "role_key", "serial_of"]


@functools.cache
def role_key(role: str) -> rsa.RSAPrivateKey:
    """One RSA-2048 key per role (``merchant``, ``platform-old``, ``public-key`` …)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate(
    key: rsa.RSAPrivateKey, serial: int, not_before: datetime, not_after: datetime
) -> x509.Certificate:
    """A self-signed platform certificate, as the platform hands them out (serial in hex)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA (mock)")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )


def serial_of(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "X")


def pem(value: rsa.RSAPrivateKey | rsa.RSAPublicKey | x509.Certificate) -> str:
    if isinstance(value, x509.Certificate):
        return value.public_bytes(serialization.Encoding.PEM).decode()
    if isinstance(value, rsa.RSAPrivateKey):
        return value.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    return value.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
