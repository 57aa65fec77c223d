"""SM2/SM3/SM4 against the published GM/T vectors, OpenSSL's SM2 and gmssl's own SM2 path."""

from __future__ import annotations

import builtins
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from walletlink.errors import ConfigurationError, SignatureMismatchError, ValidationError
from walletlink.signing import sm
from walletlink.signing.sm import (
    DEFAULT_USER_ID,
    SM2_CURVE,
    Sm2Curve,
    Sm2PrivateKey,
    Sm2PublicKey,
    hmac_sm3,
    sm2_digest,
    sm2_sign,
    sm2_verify,
    sm2_z,
    sm3,
    sm4_cbc_decrypt,
    sm4_cbc_encrypt,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)

VECTORS = Path(__file__).parent.parent / "vectors" / "sm"
DATA: dict[str, Any] = json.loads((VECTORS / "vectors.json").read_text())
OPENSSL_MESSAGE = b"walletlink SM2 vector"


def _curve(raw: dict[str, str] | None) -> Sm2Curve:
    if raw is None:
        return SM2_CURVE
    return Sm2Curve(**{name: int(value, 16) for name, value in raw.items()})


@pytest.fixture(scope="module")
def key() -> Sm2PrivateKey:
    return Sm2PrivateKey.generate()


@pytest.mark.parametrize("case", DATA["sm3"], ids=lambda c: c["source"][-12:])
def test_sm3_vectors(case: dict[str, str]) -> None:
    assert case["digest"] == sm3(case["message_ascii"].encode()).hex()


def test_sm4_block_vector_through_cbc_with_a_zero_iv() -> None:
    """CBC with a zero iv encrypts the first block as ECB does: the GM/T 0002 vector."""
    case = DATA["sm4"][0]
    sealed = sm4_cbc_encrypt(
        bytes.fromhex(case["key"]), bytes.fromhex(case["plaintext"]), iv=bytes(16)
    )
    assert case["ciphertext"] == sealed[16:32].hex()


@pytest.mark.parametrize("case", DATA["sm4_cbc"], ids=["example1", "example2"])
def test_sm4_cbc_vectors_over_two_blocks(case: dict[str, str]) -> None:
    """The chaining itself, not only one block: PKCS#7 adds a block after the vector's."""
    key, iv = bytes.fromhex(case["key"]), bytes.fromhex(case["iv"])
    plaintext = bytes.fromhex(case["plaintext"])
    sealed = sm4_cbc_encrypt(key, plaintext, iv=iv)
    assert (sealed[:16], sealed[16:48].hex(), len(sealed)) == (iv, case["ciphertext"], 64)
    assert plaintext == sm4_cbc_decrypt(key, sealed)


def test_sm4_gcm_rfc8998_vector() -> None:
    case = DATA["sm4_gcm"][0]
    key, nonce = bytes.fromhex(case["key"]), bytes.fromhex(case["nonce"])
    aad, plaintext = bytes.fromhex(case["aad"]), bytes.fromhex(case["plaintext"])
    sealed = sm4_gcm_encrypt(key, plaintext, nonce=nonce, aad=aad)
    assert nonce + bytes.fromhex(case["ciphertext"] + case["tag"]) == sealed
    assert plaintext == sm4_gcm_decrypt(key, sealed, aad=aad)


@pytest.mark.parametrize("case", DATA["sm2_sign"], ids=["gbt32918.2", "gmt0003.5"])
def test_sm2_sign_vectors(case: dict[str, Any]) -> None:
    curve = _curve(case["curve"])
    private = Sm2PrivateKey(int(case["private_key"], 16), curve)
    user_id = case["user_id_ascii"].encode()
    message = case["message_ascii"].encode()
    assert (case["public_x"], case["public_y"]) == (
        f"{private.public_key.x:064x}",
        f"{private.public_key.y:064x}",
    )
    if case["z"]:
        assert case["z"] == sm2_z(private.public_key, user_id).hex()
    assert case["e"] == f"{sm2_digest(message, private.public_key, user_id):064x}"
    raw = sm2_sign(message, private, user_id=user_id, form="raw", k=int(case["k"], 16))
    assert case["r"] + case["s"] == raw.hex()
    sm2_verify(raw, message, private.public_key, user_id=user_id, form="raw")
    der = sm2_sign(message, private, user_id=user_id, k=int(case["k"], 16))
    sm2_verify(der, message, private.public_key, user_id=user_id)


def test_openssl_signature_verifies_and_keys_load_in_every_form() -> None:
    pkcs8 = Sm2PrivateKey.from_pem((VECTORS / "openssl_sm2_pkcs8.pem").read_text())
    sec1 = Sm2PrivateKey.from_pem((VECTORS / "openssl_sm2_sec1.pem").read_bytes())
    public = Sm2PublicKey.from_pem((VECTORS / "openssl_sm2_public.pem").read_text())
    assert (pkcs8.d, pkcs8.public_key) == (sec1.d, public)
    signature = bytes.fromhex((VECTORS / "openssl_sm2_signature.hex").read_text())
    sm2_verify(signature, OPENSSL_MESSAGE, public)
    with pytest.raises(SignatureMismatchError):
        sm2_verify(signature, OPENSSL_MESSAGE + b".", public)
    with pytest.raises(SignatureMismatchError):
        sm2_verify(signature, OPENSSL_MESSAGE, public, user_id=b"another id")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_openssl_verifies_our_signature_and_reads_our_pem(
    key: Sm2PrivateKey, tmp_path: Path
) -> None:
    (tmp_path / "key.pem").write_text(key.to_pem())
    (tmp_path / "pub.pem").write_text(key.public_key.to_pem())
    (tmp_path / "msg").write_bytes(b"pay 12.30 CNY")
    (tmp_path / "sig").write_bytes(sm2_sign(b"pay 12.30 CNY", key))
    command = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem")]
    command += ["-rawin", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678"]
    command += ["-in", str(tmp_path / "msg"), "-sigfile", str(tmp_path / "sig")]
    checked = subprocess.run(command, capture_output=True, text=True, check=False)
    if (
        "SM2"
        not in subprocess.run(
            ["openssl", "list", "-public-key-algorithms"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.upper()
    ):
        pytest.skip("this openssl has no SM2")
    assert "Signature Verified Successfully" in checked.stdout
    text = subprocess.run(
        ["openssl", "pkey", "-in", str(tmp_path / "key.pem"), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "SM2" in text


def test_gmssl_own_sign_with_sm3_agrees_with_ours(key: Sm2PrivateKey) -> None:
    """gmssl computes Z with the default id by itself: its signatures verify here, ours there."""
    from gmssl import sm2 as gmssl_sm2

    public_hex = key.public_key.to_bytes()[1:].hex()
    other = gmssl_sm2.CryptSM2(private_key=f"{key.d:064x}", public_key="")
    other.public_key = public_hex  # see sm._engine: gmssl mangles keys passed with 04
    theirs = bytes.fromhex(other.sign_with_sm3(b"message", "1" * 64))
    sm2_verify(theirs, b"message", key.public_key, form="raw")
    ours = sm2_sign(b"message", key, form="raw")
    assert other.verify_with_sm3(ours.hex(), b"message")


@settings(max_examples=10, deadline=None)
@given(message=st.binary(max_size=200), user_id=st.binary(min_size=1, max_size=40))
def test_sign_verify_round_trip(key: Sm2PrivateKey, message: bytes, user_id: bytes) -> None:
    for form in ("der", "raw"):
        signature = sm2_sign(message, key, user_id=user_id, form=form)
        sm2_verify(signature, message, key.public_key, user_id=user_id, form=form)


def test_signatures_out_of_range_or_malleable_are_refused(key: Sm2PrivateKey) -> None:
    n = SM2_CURVE.n
    raw = sm2_sign(b"m", key, form="raw")
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    for bad_r, bad_s in ((0, s), (r, 0), (r + n, s), (r, n - r)):
        forged = bad_r.to_bytes(33, "big")[-32:] + bad_s.to_bytes(33, "big")[-32:]
        if (bad_r, bad_s) == (r + n, s) and r + n >= 1 << 256:
            continue
        with pytest.raises(SignatureMismatchError):
            sm2_verify(forged, b"m", key.public_key, form="raw")
    der = sm2_sign(b"m", key)
    with pytest.raises(SignatureMismatchError):
        sm2_verify(der + b"\x00", b"m", key.public_key)
    with pytest.raises(SignatureMismatchError):
        sm2_verify(raw[:-1], b"m", key.public_key, form="raw")
    with pytest.raises(SignatureMismatchError):
        sm2_verify(b"\x30\x00", b"m", key.public_key)


def test_keys_from_hex_and_bad_keys() -> None:
    case = DATA["sm2_sign"][1]
    private = Sm2PrivateKey.from_hex(case["private_key"])
    public = Sm2PublicKey.from_hex("04" + case["public_x"] + case["public_y"])
    assert (
        public == private.public_key == Sm2PublicKey.from_hex(case["public_x"] + case["public_y"])
    )
    assert "3945" not in repr(private)
    with pytest.raises(ValidationError):
        Sm2PublicKey.from_hex("04" + case["public_x"] + case["public_x"])  # not on the curve
    with pytest.raises(ValidationError):
        Sm2PrivateKey(SM2_CURVE.n - 1)
    with pytest.raises(ValidationError):
        Sm2PrivateKey.from_hex("zz")
    with pytest.raises(ValidationError):
        Sm2PrivateKey.from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")


def test_a_p256_key_is_refused_by_curve_oid() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p256 = ec.generate_private_key(ec.SECP256R1())
    pem = p256.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValidationError, match=r"1\.2\.156\.10197\.1\.301"):
        Sm2PrivateKey.from_pem(pem)
    public = p256.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValidationError, match=r"1\.2\.156\.10197\.1\.301"):
        Sm2PublicKey.from_pem(public)


def test_missing_extra_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_import = builtins.__import__

    def no_gmssl(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("gmssl"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gmssl)
    with pytest.raises(ConfigurationError, match=r"pip install 'walletlink\[sm\]'"):
        Sm2PrivateKey.generate()


def test_hmac_sm3_is_rfc2104_over_sm3() -> None:
    key, message = b"k" * 70, b"notify body"  # a key over one block is hashed first
    short = sm3(key).ljust(64, b"\x00")
    inner = sm3(bytes(b ^ 0x36 for b in short) + message)
    assert sm3(bytes(b ^ 0x5C for b in short) + inner) == hmac_sm3(key, message)
    assert hmac_sm3(b"a", b"m") != hmac_sm3(b"b", b"m")
    assert len(hmac_sm3(b"a", b"m")) == 32


@pytest.mark.parametrize("key_size", [0, 1, 32, 63, 64, 65, 200])
def test_hmac_sm3_agrees_with_two_other_implementations(key_size: int) -> None:
    """OpenSSL's HMAC-SM3 (through cryptography's hmac) and RFC 2104 over gmssl's pure
    Python SM3: neither shares code with ours, and the key sizes straddle the 64-byte
    block, where a key is padded, used as it is, or hashed first."""
    from cryptography.hazmat.primitives import hashes as crypto_hashes
    from cryptography.hazmat.primitives import hmac as crypto_hmac
    from gmssl import func
    from gmssl import sm3 as gm_sm3

    key, message = bytes(range(256))[:key_size], "转账通知 notify body".encode() * 5
    openssl = crypto_hmac.HMAC(key, crypto_hashes.SM3())
    openssl.update(message)

    def gm(data: bytes) -> bytes:
        return bytes.fromhex(gm_sm3.sm3_hash(func.bytes_to_list(data)))

    block = (gm(key) if len(key) > 64 else key).ljust(64, b"\x00")
    inner = gm(bytes(b ^ 0x36 for b in block) + message)
    by_gmssl = gm(bytes(b ^ 0x5C for b in block) + inner)
    assert hmac_sm3(key, message) == openssl.finalize() == by_gmssl


def test_sm4_cbc_round_trip_and_failures() -> None:
    key = bytes(range(16))
    sealed = sm4_cbc_encrypt(key, "转账 12.30".encode())
    assert "转账 12.30".encode() == sm4_cbc_decrypt(key, sealed)
    assert sm4_cbc_encrypt(key, b"x") != sm4_cbc_encrypt(key, b"x")  # fresh iv each time
    with pytest.raises(ValidationError):
        sm4_cbc_decrypt(key, sealed[:-1])
    with pytest.raises(ValidationError):
        sm4_cbc_encrypt(b"short", b"x")


def test_sm4_gcm_refuses_tampering() -> None:
    key = bytes(range(16))
    sealed = sm4_gcm_encrypt(key, b"biz", aad=b"app")
    with pytest.raises(ValidationError):
        sm4_gcm_decrypt(key, sealed, aad=b"other")
    with pytest.raises(ValidationError):
        sm4_gcm_decrypt(key, sealed[:-1] + bytes([sealed[-1] ^ 1]), aad=b"app")


def test_default_user_id_is_gmt_0009() -> None:
    assert b"1234567812345678" == DEFAULT_USER_ID == sm.DEFAULT_USER_ID


@settings(max_examples=80, deadline=None)
@given(der=st.binary(max_size=200), label=st.sampled_from(["PRIVATE KEY", "EC PRIVATE KEY"]))
def test_hostile_key_der_raises_validation_error_only(der: bytes, label: str) -> None:
    import base64

    pem = f"-----BEGIN {label}-----\n{base64.b64encode(der).decode()}\n-----END {label}-----\n"
    with pytest.raises(ValidationError):
        Sm2PrivateKey.from_pem(pem)
    public = pem.replace(label, "PUBLIC KEY")
    with pytest.raises(ValidationError):
        Sm2PublicKey.from_pem(public)
