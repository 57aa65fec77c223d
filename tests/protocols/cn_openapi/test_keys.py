"""Key handling for cn_openapi: every shape a pasted key arrives in is one key; every key in
the wrong place is a ConfigurationError that names the fix and never the key."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from walletlink.config import BankConfig
from walletlink.errors import ConfigurationError
from walletlink.protocols.cn_openapi._keys import gateway_keys
from walletlink.protocols.cn_openapi.mock import CnOpenApiServer
from walletlink.testing.mockbank import MockBank

_PKCS8 = serialization.PrivateFormat.PKCS8
_PKCS1 = serialization.PrivateFormat.TraditionalOpenSSL
_NONE = serialization.NoEncryption()


@pytest.fixture
def server() -> Iterator[CnOpenApiServer]:
    bank = MockBank("cn_openapi", cert_mode=True)
    assert isinstance(bank.server, CnOpenApiServer)
    yield bank.server
    bank.close()


def _app(server: CnOpenApiServer) -> rsa.RSAPrivateKey:
    return server._app_private


def _body(pem: bytes) -> str:
    return "".join(pem.decode().splitlines()[1:-1])


def _config(**credentials: Any) -> BankConfig:
    return BankConfig(
        bank_id="alipay",
        protocol="cn_openapi",
        base_url="https://openapi.example",
        credentials=credentials,
        options={"app_id": "2021000000000001"},
    )


def _public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _shapes(key: rsa.RSAPrivateKey) -> list[str]:
    pkcs8 = key.private_bytes(serialization.Encoding.PEM, _PKCS8, _NONE)
    pkcs1 = key.private_bytes(serialization.Encoding.PEM, _PKCS1, _NONE)
    return [
        pkcs8.decode(),
        pkcs1.decode(),
        _body(pkcs8),  # the console's bare base64 (Java SDK: PKCS#8)
        _body(pkcs1),  # the key tool's bare base64 for the other SDKs (PKCS#1)
        # a PKCS#8 body armoured by hand as PKCS#1: the DER decides
        "-----BEGIN RSA PRIVATE KEY-----\n" + _body(pkcs8) + "\n-----END RSA PRIVATE KEY-----",
        pkcs8.decode().replace("\n", ""),  # PEM pasted on one line
        pkcs8.decode().replace("\n", "\\n"),  # from a .env file with escaped newlines
        " ".join(_body(pkcs1)[i : i + 64] for i in range(0, len(_body(pkcs1)), 64)),
    ]


def test_every_shape_of_the_app_key_is_the_same_key(server: CnOpenApiServer) -> None:
    app = _app(server)
    gateway = _body(_public_pem(server.gateway_key))
    for shape in _shapes(app):
        keys = gateway_keys(_config(app_private_key=shape, gateway_public_key=gateway))
        assert app.private_numbers() == keys.app_key.private_numbers()
    pkcs1_public = server.gateway_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )
    bare = base64.b64encode(pkcs1_public).decode()
    keys = gateway_keys(_config(app_private_key=_shapes(app)[0], gateway_public_key=bare))
    assert server.gateway_key.public_key().public_numbers() == keys.verifiers()[0].public_numbers()


def _refused(match: str, **credentials: Any) -> str:
    with pytest.raises(ConfigurationError, match=match) as raised:
        gateway_keys(_config(**credentials))
    message = str(raised.value)
    assert "MII" not in message
    assert "PRIVATE KEY" not in message
    return message


def test_the_apps_own_public_key_as_the_gateways_is_named(server: CnOpenApiServer) -> None:
    app = _shapes(_app(server))[0]
    message = _refused(
        "app's own public key", app_private_key=app, gateway_public_key=_public_pem(_app(server))
    )
    assert "支付宝公钥" in message


def test_keys_in_the_wrong_place_are_named(server: CnOpenApiServer) -> None:
    app = _shapes(_app(server))[0]
    gateway = _public_pem(server.gateway_key)
    _refused("holds a public key", app_private_key=gateway, gateway_public_key=gateway)
    _refused("holds a private key", app_private_key=app, gateway_public_key=app)
    cert = server.client_config_fields()["credentials"]["gateway_cert"]
    _refused("certificate mode", app_private_key=app, gateway_public_key=cert)
    _refused("holds a certificate", app_private_key=cert, gateway_public_key=gateway)


def test_unreadable_encrypted_and_short_keys_are_named(server: CnOpenApiServer) -> None:
    gateway = _public_pem(server.gateway_key)
    _refused("neither PEM nor base64", app_private_key="not a key!", gateway_public_key=gateway)
    _refused("not a PKCS#1 or PKCS#8", app_private_key="bm90IGEga2V5", gateway_public_key=gateway)
    _refused(
        "without a matching",
        app_private_key="-----BEGIN PRIVATE KEY-----MIIE",
        gateway_public_key=gateway,
    )
    encrypted = _app(server).private_bytes(
        serialization.Encoding.PEM, _PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    _refused("encrypted with a passphrase", app_private_key=encrypted, gateway_public_key=gateway)
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the key refused
    _refused("1024-bit", app_private_key=short, gateway_public_key=gateway)
    _refused("not key text", app_private_key="密钥", gateway_public_key=gateway)


def test_certificate_mode_reads_the_sns_and_checks_the_pairing(server: CnOpenApiServer) -> None:
    creds = server.client_config_fields()["credentials"]
    keys = gateway_keys(_config(**creds))
    assert keys.cert_mode
    assert keys.app_cert_sn is not None
    assert len(keys.app_cert_sn) == 32
    assert keys.root_cert_sn is not None
    assert "_" not in keys.root_cert_sn
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(serialization.Encoding.PEM, _PKCS8, _NONE)
    _refused("does not certify app_private_key", **{**creds, "app_private_key": pem})
    _refused("your app's own certificate", **{**creds, "gateway_cert": creds["app_cert"]})
    _refused("not both", **creds, gateway_public_key=_public_pem(server.gateway_key))
    _refused("not a PEM certificate", **{**creds, "gateway_cert": "nope"})
    _refused("alipay_root_cert", **{**creds, "alipay_root_cert": "nope"})


def test_a_rotation_keeps_both_gateway_certificates(server: CnOpenApiServer) -> None:
    old = server.client_config_fields()["credentials"]
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server.rotate_gateway_cert(new_key)
    creds = server.client_config_fields()["credentials"]
    both = gateway_keys(
        _config(**{**creds, "gateway_cert": [old["gateway_cert"], creds["gateway_cert"]]})
    )
    assert len(both.verifiers()) == 2


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_key_text_is_read_or_refused_by_name(text: str) -> None:
    with pytest.raises(ConfigurationError, match="app_private_key"):
        gateway_keys(_config(app_private_key=text, gateway_public_key=text))
