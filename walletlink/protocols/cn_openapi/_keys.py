"""The app's and the gateway's keys for ``cn_openapi``, read once, with the diagnostics that
the open-platform console's key handling makes necessary.

Developers paste keys in every shape the console, the key tool and their secret stores
produce: PKCS#1 or PKCS#8, PEM or the bare base64 body, one line, with ``\\n`` escapes from
a ``.env`` file, under the wrong PEM label. All of those are one key and are accepted: the
DER inside is what counts. What is refused, with the fix named, is a key in the wrong place:
the app's own public key where the gateway's belongs (the most common mistake: both sit side
by side in the console), a public key where the private key belongs, a certificate in
public-key mode, an encrypted key, a key too short for RSA2.

Two modes, as on the console: **public key** (``gateway_public_key``) and **public-key
certificate** (``app_cert``, ``alipay_root_cert``, ``gateway_cert``). In certificate mode every
request carries ``app_cert_sn`` and ``alipay_root_cert_sn``, and each reply names the
certificate that signed it in ``alipay_cert_sn``; ``gateway_cert`` may hold several
certificates (the current one and the next, while the gateway rotates), keyed by their SN.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from walletlink.config import BankConfig
from walletlink.errors import ConfigurationError, WalletLinkError
from walletlink.signing._b64 import b64decode
from walletlink.signing.keys import SigningKey
from walletlink.signing.params import alipay_cert_sn, alipay_root_cert_sn

__all__ = ["GatewayKeys", "gateway_keys"]

_PEM: Final = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
_MIN_BITS: Final = 2048
_CONSOLE_HINT: Final = "paste the key text from the open-platform console or the PEM file"


@attrs.frozen(kw_only=True)
class GatewayKeys:
    """What signs requests and what verifies replies; the SNs in certificate mode."""

    app_key: rsa.RSAPrivateKey = attrs.field(repr=False)
    #: Public-key mode: one key. Certificate mode: gateway certificate SN → its key.
    gateway: rsa.RSAPublicKey | Mapping[str, rsa.RSAPublicKey] = attrs.field(repr=False)
    app_cert_sn: str | None = None
    root_cert_sn: str | None = None

    @property
    def cert_mode(self) -> bool:
        return self.app_cert_sn is not None

    def verifiers(self) -> tuple[rsa.RSAPublicKey, ...]:
        """Every trusted gateway key (a notification does not say which signed it)."""
        if isinstance(self.gateway, rsa.RSAPublicKey):
            return (self.gateway,)
        return tuple(self.gateway.values())


def _fail(message: str, bank_id: str) -> ConfigurationError:
    return ConfigurationError(message, bank_id=bank_id)


def _der(value: str | bytes, name: str, bank_id: str) -> tuple[str | None, bytes]:
    """(PEM label or None, DER bytes) of key text in any of the shapes it is pasted in."""
    try:
        text = value.decode("ascii") if isinstance(value, bytes) else value
        text.encode("ascii")
    except UnicodeError:
        raise _fail(f"{name} is not key text: {_CONSOLE_HINT}", bank_id) from None
    # Keys kept in .env files and JSON often arrive with literal "\n" escapes.
    text = text.replace("\\r", "").replace("\\n", "\n")
    match = _PEM.search(text)
    if (match is not None and "ENCRYPTED" in match.group(1)) or "Proc-Type:" in text:
        raise _fail(
            f"{name} is encrypted with a passphrase: store it unencrypted in your secret store",
            bank_id,
        )
    if match is None and "-----" in text:
        raise _fail(
            f"{name} has PEM armour without a matching BEGIN/END pair: {_CONSOLE_HINT}", bank_id
        )
    label, body = (match.group(1), match.group(2)) if match else (None, text)
    try:
        return label, b64decode("".join(body.split()))
    except ValueError:
        raise _fail(
            f"{name} is neither PEM nor base64 key text: {_CONSOLE_HINT}", bank_id
        ) from None


def _is_certificate(label: str | None, der: bytes) -> bool:
    if label == "CERTIFICATE":
        return True
    try:
        x509.load_der_x509_certificate(der)
    except ValueError:
        return False
    return True


def _private_key(value: object, bank_id: str) -> rsa.RSAPrivateKey:
    name = "app_private_key"
    if isinstance(value, SigningKey):
        if value.private_key is None:
            raise _fail(f"{name} is a SigningKey without a private part", bank_id)
        value = value.private_key
    if isinstance(value, str | bytes):
        label, der = _der(value, name, bank_id)
        if _is_certificate(label, der):
            raise _fail(
                f"{name} holds a certificate: it needs the app's private key (应用私钥)", bank_id
            )
        try:
            # PKCS#1 and PKCS#8 both: the DER says which, whatever the PEM label claimed.
            value = serialization.load_der_private_key(der, None)
        except (ValueError, TypeError):
            if _loads_as_public(der):
                raise _fail(
                    f"{name} holds a public key: it needs the app's private key (应用私钥) you "
                    "generated; only its public half goes to the console",
                    bank_id,
                ) from None
            raise _fail(
                f"{name} is not a PKCS#1 or PKCS#8 private key: {_CONSOLE_HINT}", bank_id
            ) from None
    if not isinstance(value, rsa.RSAPrivateKey):
        raise _fail(f"{name} must be an RSA private key", bank_id)
    if value.key_size < _MIN_BITS:
        raise _fail(f"{name} is {value.key_size}-bit: RSA2 needs a 2048-bit key", bank_id)
    return value


def _loads_as_public(der: bytes) -> bool:
    try:
        serialization.load_der_public_key(der)
    except ValueError:
        return False
    return True


def _public_key(value: object, bank_id: str) -> rsa.RSAPublicKey:
    name = "gateway_public_key"
    if isinstance(value, SigningKey):
        value = value.public_key
    if isinstance(value, x509.Certificate):
        value = value.public_key()
    if isinstance(value, str | bytes):
        label, der = _der(value, name, bank_id)
        if _is_certificate(label, der):
            raise _fail(
                f"{name} holds a certificate: the app is in certificate mode; give the "
                "credentials 'app_cert', 'alipay_root_cert' and 'gateway_cert' instead",
                bank_id,
            )
        try:
            value = serialization.load_der_public_key(der)  # SPKI or PKCS#1
        except ValueError:
            try:
                serialization.load_der_private_key(der, None)
            except (ValueError, TypeError):
                raise _fail(f"{name} is not a public key: {_CONSOLE_HINT}", bank_id) from None
            raise _fail(
                f"{name} holds a private key: it needs the gateway's public key (支付宝公钥) "
                "from the console",
                bank_id,
            ) from None
    if isinstance(value, rsa.RSAPrivateKey):
        raise _fail(f"{name} holds a private key: it needs the gateway's public key", bank_id)
    if not isinstance(value, rsa.RSAPublicKey):
        raise _fail(f"{name} must be an RSA public key", bank_id)
    return value


def _certificates(value: object, name: str, bank_id: str) -> list[x509.Certificate]:
    if isinstance(value, x509.Certificate):
        return [value]
    if isinstance(value, list | tuple):
        return [cert for item in value for cert in _certificates(item, name, bank_id)]
    if not isinstance(value, str | bytes):
        raise _fail(f"{name} must be PEM certificate text", bank_id)
    data = value.encode("ascii", "replace") if isinstance(value, str) else value
    try:
        certs = x509.load_pem_x509_certificates(data.replace(b"\\n", b"\n"))
    except ValueError:
        raise _fail(
            f"{name} is not a PEM certificate: give the .crt file's text", bank_id
        ) from None
    return certs


def _rsa_of(cert: x509.Certificate, name: str, bank_id: str) -> rsa.RSAPublicKey:
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise _fail(f"{name} must certify an RSA key (the RSA2 certificate)", bank_id)
    return key


def _same(a: rsa.RSAPublicKey, b: rsa.RSAPublicKey) -> bool:
    return a.public_numbers() == b.public_numbers()


def _cert_mode(config: BankConfig, app_key: rsa.RSAPrivateKey) -> GatewayKeys:
    bank_id, creds = config.bank_id, config.credentials
    if "gateway_public_key" in creds:
        raise _fail("give gateway_public_key (public-key mode) or gateway_cert, not both", bank_id)
    app_certs = _certificates(creds.require("app_cert", bank_id), "app_cert", bank_id)
    if len(app_certs) != 1:
        raise _fail(
            "app_cert must be exactly one certificate (appCertPublicKey_<app_id>.crt)", bank_id
        )
    if not _same(_rsa_of(app_certs[0], "app_cert", bank_id), app_key.public_key()):
        raise _fail(
            "app_cert does not certify app_private_key: use the certificate issued for this key",
            bank_id,
        )
    root = creds.require("alipay_root_cert", bank_id)
    if not isinstance(root, str | bytes):
        raise _fail("alipay_root_cert must be the text of alipayRootCert.crt", bank_id)
    try:
        root_sn = alipay_root_cert_sn(root)
    except WalletLinkError as error:
        raise _fail(f"alipay_root_cert: {error.message}", bank_id) from None
    keys: dict[str, rsa.RSAPublicKey] = {}
    for cert in _certificates(creds.require("gateway_cert", bank_id), "gateway_cert", bank_id):
        key = _rsa_of(cert, "gateway_cert", bank_id)
        if _same(key, app_key.public_key()):
            raise _fail(
                "gateway_cert is your app's own certificate: use alipayCertPublicKey_RSA2.crt",
                bank_id,
            )
        keys[alipay_cert_sn(cert)] = key
    return GatewayKeys(
        app_key=app_key,
        gateway=keys,
        app_cert_sn=alipay_cert_sn(app_certs[0]),
        root_cert_sn=root_sn,
    )


def gateway_keys(config: BankConfig) -> GatewayKeys:
    """The keys of a ``cn_openapi`` bank, every mistake a :class:`ConfigurationError`."""
    bank_id, creds = config.bank_id, config.credentials
    app_key = _private_key(creds.require("app_private_key", bank_id), bank_id)
    if "app_cert" in creds or "gateway_cert" in creds:
        return _cert_mode(config, app_key)
    gateway = _public_key(creds.require("gateway_public_key", bank_id), bank_id)
    if _same(gateway, app_key.public_key()):
        raise _fail(
            "gateway_public_key is your app's own public key (应用公钥): use the gateway's "
            "public key (支付宝公钥) shown beside it in the console",
            bank_id,
        )
    return GatewayKeys(app_key=app_key, gateway=gateway)
