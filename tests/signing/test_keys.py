"""Key loading (PEM, DER, PKCS#12, JWK/JWKS), the key ring, and test PKI helpers."""

from __future__ import annotations

import datetime as dt
import json
import ssl

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from walletlink.errors import ConfigurationError, KeyNotFoundError
from walletlink.signing import (
    KeyRing,
    KeyType,
    SigningKey,
    TestCA,
    generate_ec_key,
    generate_ed25519_key,
    generate_hmac_key,
    generate_rsa_key,
    hmac_key,
    load_der,
    load_jwk,
    load_jwks,
    load_pem,
    load_pkcs12,
    self_signed,
)
from walletlink.signing._algorithms import algorithm

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
ED_JWK = {  # RFC 9421 B.1.4 test-key-ed25519
    "kty": "OKP",
    "crv": "Ed25519",
    "kid": "test-key-ed25519",
    "d": "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU",
    "x": "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs",
}
EC_JWK = {  # RFC 9421 B.1.3 test-key-ecc-p256
    "kty": "EC",
    "crv": "P-256",
    "kid": "test-key-ecc-p256",
    "d": "UpuF81l-kOxbjf7T4mNSv0r5tN67Gim7rnf6EFpcYDs",
    "x": "qIVYZVLCrPZHGHjP17CTW0_-D9Lfw0EkjqF7xB4FivA",
    "y": "Mc4nN9LTDOBhfoUeg8Ye9WedFRhnZXZJA12Qp0zZ6F0",
}


def test_repr_never_shows_secret_material() -> None:
    secret = hmac_key(b"super-secret-value-123", kid="h")
    rsa = generate_rsa_key("r")
    for key in (secret, rsa):
        text = repr(key) + str(key)
        assert "super-secret" not in text
        assert "RSAPrivateKey" not in text
    assert repr(secret) == "SigningKey(kid='h', type=HMAC secret)"


def test_pem_round_trip_encrypted_and_plain() -> None:
    key = generate_ec_key("e")
    for password in (None, b"pw"):
        loaded = load_pem(key.private_key_pem(password), kid="e", password=password)
        assert loaded.public_key_pem() == key.public_key_pem()
    with pytest.raises(ConfigurationError):
        load_pem(key.private_key_pem(b"pw"), kid="e", password=b"wrong")
    public = load_pem(key.public_key_pem(), kid="e")
    assert (public.can_sign, public.key_type) == (False, KeyType.EC_P256)


def test_pem_with_certificate_chain() -> None:
    ca = TestCA.create(now=NOW)
    leaf = ca.issue("leaf", now=NOW)
    loaded = load_pem(leaf.private_key_pem() + leaf.certificate_pem(), kid="leaf")
    assert loaded.certificate == leaf.certificate
    assert loaded.chain == (ca.certificate,)


def test_der_private_public_and_certificate() -> None:
    key = self_signed(generate_ed25519_key("d"), subject="me", now=NOW, serial=42)
    private_der = key.require_private().private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert load_der(private_der, kid="d").can_sign
    public_der = key.require_public().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert load_der(public_der, kid="d").key_type is KeyType.ED25519
    assert key.certificate is not None
    from_cert = load_der(key.certificate.public_bytes(serialization.Encoding.DER), kid="c")
    assert from_cert.certificate_serial == 42
    with pytest.raises(ConfigurationError):
        load_der(b"not der", kid="x")


def test_pkcs12_with_chain() -> None:
    ca = TestCA.create(now=NOW)
    leaf = ca.issue("leaf", now=NOW, key=generate_rsa_key("leaf"), client=True, serial=0xABC)
    assert leaf.certificate is not None
    bundle = pkcs12.serialize_key_and_certificates(
        b"qseal",
        leaf.require_private(),  # type: ignore[arg-type]
        leaf.certificate,
        [ca.certificate],
        serialization.BestAvailableEncryption(b"pw"),
    )
    loaded = load_pkcs12(bundle, b"pw")
    assert (loaded.kid, loaded.certificate_serial, loaded.chain) == (
        "qseal",
        0xABC,
        (ca.certificate,),
    )
    with pytest.raises(ConfigurationError):
        load_pkcs12(bundle, b"wrong")


@pytest.mark.parametrize("jwk", [ED_JWK, EC_JWK], ids=["okp", "ec"])
def test_rfc9421_jwks_load_and_round_trip(jwk: dict[str, str]) -> None:
    key = load_jwk(jwk)
    assert key.to_jwk(private=True) == jwk
    assert "d" not in key.public().to_jwk()


def test_jwk_ed25519_matches_the_pem_key() -> None:
    from pathlib import Path

    pem = (Path(__file__).parent.parent / "vectors/rfc9421/test-key-ed25519.pem").read_text()
    assert load_jwk(ED_JWK).public_key_pem() == load_pem(pem, kid="x").public_key_pem()


def test_jwk_rsa_and_oct_and_jwks() -> None:
    rsa = generate_rsa_key("r", alg="PS256")
    oct_key = generate_hmac_key("h")
    jwks = json.dumps({"keys": [rsa.to_jwk(private=True), oct_key.to_jwk(private=True)]})
    ring = load_jwks(jwks)
    assert ring.kids == ("r", "h")
    assert ring.current.kid == "r"
    data = b"payload"
    ps256 = algorithm("PS256")
    ps256.verify(ring.get("r"), data, ps256.sign(rsa, data))
    assert ring.get("h").secret == oct_key.secret


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "EC", "crv": "P-521", "kid": "a", "x": "AA", "y": "AA"},
        {"kty": "XYZ", "kid": "a"},
        {"kty": "OKP", "crv": "X25519", "kid": "a", "x": "AA"},
        {"kty": "oct", "k": "c2VjcmV0"},
        {"kty": "oct", "kid": "short", "k": "c2VjcmV0"},
        {"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": 5},
        {"kty": "EC", "crv": "P-256", "kid": "a", "x": "AA", "y": "AA"},
    ],
)
def test_bad_jwks_raise_configuration_error(jwk: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        load_jwk(jwk)


def test_key_ring_rotation() -> None:
    old, new = generate_ed25519_key("2024-01"), generate_ed25519_key("2024-06")
    ring = KeyRing.of(old)
    rotated = ring.add(new).set_current("2024-06")
    assert (ring.current.kid, rotated.current.kid) == ("2024-01", "2024-06")
    assert rotated.get("2024-01") is old  # old signatures still verify until retired
    retired = rotated.retire("2024-01")
    assert ("2024-01" in retired, len(retired)) == (False, 1)
    with pytest.raises(KeyNotFoundError):
        retired.get("2024-01")
    with pytest.raises(ConfigurationError):
        retired.retire("2024-06")
    with pytest.raises(ConfigurationError):
        rotated.add(new)
    with pytest.raises(KeyNotFoundError):
        _ = KeyRing.of().current


def test_key_ring_finds_by_certificate() -> None:
    ca = TestCA.create(now=NOW)
    leaf = ca.issue("tpp", now=NOW, serial=0x9FA1, client=True)
    ring = KeyRing.of(generate_ed25519_key("other"), leaf)
    assert ring.find_certificate(0x9FA1, ca.certificate.subject).kid == "tpp"
    with pytest.raises(KeyNotFoundError):
        ring.find_certificate(0x9FA2, ca.certificate.subject)


def test_key_validation() -> None:
    with pytest.raises(ConfigurationError):
        hmac_key(b"short", kid="h")
    with pytest.raises(ConfigurationError):
        SigningKey(kid="x")
    other = generate_ec_key("o")
    cert_key = self_signed(generate_ec_key("c"), subject="c", now=NOW)
    with pytest.raises(ConfigurationError):
        SigningKey(kid="x", private_key=other.private_key, certificate=cert_key.certificate)
    with pytest.raises(ConfigurationError):
        hmac_key(b"s" * 32, kid="h").public()
    with pytest.raises(ConfigurationError):
        generate_ed25519_key("e").public().require_private()


def test_test_ca_certificates_work_for_tls_on_loopback(tmp_path: object) -> None:
    """The CA's server and client certificates load into ssl contexts for mTLS."""
    from pathlib import Path

    directory = Path(str(tmp_path))
    ca = TestCA.create(now=dt.datetime.now(dt.UTC))
    server = ca.issue("server", now=dt.datetime.now(dt.UTC))
    client = ca.issue("client", now=dt.datetime.now(dt.UTC), client=True, subject="wallet")
    (directory / "ca.pem").write_bytes(ca.certificate_pem())
    for name, key in (("server", server), ("client", client)):
        (directory / f"{name}.pem").write_bytes(key.certificate_pem())
        (directory / f"{name}.key").write_bytes(key.private_key_pem())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=directory / "ca.pem")
    context.load_cert_chain(directory / "server.pem", directory / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED
    client_context = ssl.create_default_context(cafile=directory / "ca.pem")
    client_context.load_cert_chain(directory / "client.pem", directory / "client.key")
    assert client.certificate is not None
    assert client.certificate.subject.rfc4514_string() == "CN=wallet"
