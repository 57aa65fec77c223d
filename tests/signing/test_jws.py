"""JWS (RFC 7515 / RFC 7797) and the UK Open Banking x-jws-signature."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jws as jose_jws
from joserfc.jwk import ECKey, OctKey, RSAKey
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter

from walletlink.errors import (
    AlgorithmNotAllowedError,
    ClaimError,
    ConfigurationError,
    KeyNotFoundError,
    SignatureExpiredError,
    SignatureMismatchError,
    SignatureMissingError,
)
from walletlink.http import PreparedRequest, RawResponse
from walletlink.signing._b64 import b64url_decode, b64url_encode
from walletlink.signing.jws import (
    OB_CLAIM_IAT,
    OB_CLAIM_ISS,
    OB_CLAIM_TAN,
    HMACKey,
    OBJwsSigner,
    OBJwsVerifier,
    OBVersion,
    detach,
    sign_compact,
    sign_ob_detached,
    verify_compact,
    verify_ob_detached,
)

VECTORS = Path(__file__).parent.parent / "vectors" / "jws"
RFC7515 = json.loads((VECTORS / "rfc7515.json").read_text())
RFC7797 = json.loads((VECTORS / "rfc7797.json").read_text())
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
ISS = "0015800001041RHAAY/HQuZPIt3ipkh33Uxytox1E"
ALL_ALGS = ("HS256", "RS256", "PS256", "ES256", "ES512")


def _int(value: str) -> int:
    return int.from_bytes(b64url_decode(value), "big")


def _jwk_key(jwk: dict[str, str]) -> Any:
    """Private key from a JWK, built from its numbers (independent of walletlink.keys)."""
    if jwk["kty"] == "oct":
        return HMACKey(b64url_decode(jwk["k"]))
    if jwk["kty"] == "RSA":
        public = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"]))
        names = ("p", "q", "d", "dp", "dq", "qi")
        return rsa.RSAPrivateNumbers(*(_int(jwk[n]) for n in names), public).private_key()
    curve = {"P-256": ec.SECP256R1(), "P-521": ec.SECP521R1()}[jwk["crv"]]
    public_ec = ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]), curve)
    return ec.EllipticCurvePrivateNumbers(_int(jwk["d"]), public_ec).private_key()


@cache
def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def _ec() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


# ------------------------------------------------------------------------------ RFC vectors


@pytest.mark.parametrize("name", ["A.1", "A.2"])
def test_rfc7515_deterministic_vectors_reproduce_exactly(name: str) -> None:
    vector = RFC7515[name]
    header_part, payload_part, _ = vector["token"].split(".")
    key = _jwk_key(vector["jwk"])

    token = sign_compact(
        b64url_decode(payload_part), key, alg=vector["alg"], header=b64url_decode(header_part)
    )

    assert vector["token"] == token


@pytest.mark.parametrize("name", ["A.1", "A.2", "A.3", "A.4"])
def test_rfc7515_vectors_verify(name: str) -> None:
    vector = RFC7515[name]
    key = _jwk_key(vector["jwk"])

    verified = verify_compact(vector["token"], key, algorithms=[vector["alg"]])

    assert b64url_decode(vector["token"].split(".")[1]) == verified.payload
    assert vector["alg"] == verified.header["alg"]


@pytest.mark.parametrize("name", ["A.3", "A.4"])
def test_rfc7515_ecdsa_sign_then_verify(name: str) -> None:
    """ECDSA is randomised: our own signature must verify, and be fixed-width r||s."""
    vector = RFC7515[name]
    key = _jwk_key(vector["jwk"])

    token = sign_compact(b"Payload", key, alg=vector["alg"])

    width = {"ES256": 64, "ES512": 132}[vector["alg"]]
    assert width == len(b64url_decode(token.split(".")[2]))
    assert verify_compact(token, key.public_key(), algorithms=[vector["alg"]]).payload == b"Payload"


def test_rfc7797_examples_reproduce_exactly() -> None:
    key = _jwk_key(RFC7797["key_jwk"])
    payload = RFC7797["payload"].encode()

    encoded = sign_compact(payload, key, alg="HS256")
    unencoded = sign_compact(
        payload,
        key,
        alg="HS256",
        header=RFC7797["unencoded_header"].encode(),
        b64=False,
        detached=True,
    )

    assert RFC7797["encoded_token"] == encoded
    assert RFC7797["unencoded_detached_token"] == unencoded
    assert RFC7797["unencoded_detached_token"] == sign_compact(
        payload, key, alg="HS256", b64=False, detached=True
    )


def test_rfc7797_unencoded_detached_verifies_over_raw_payload() -> None:
    key = _jwk_key(RFC7797["key_jwk"])
    token = RFC7797["unencoded_detached_token"]

    verified = verify_compact(token, key, algorithms=["HS256"], payload=b"$.02")

    assert verified.payload == b"$.02"
    with pytest.raises(SignatureMismatchError):
        verify_compact(token, key, algorithms=["HS256"], payload=b"$.03")


# ------------------------------------------------------------------------------ round trips


def _key_for(alg: str) -> Any:
    return {
        "HS256": HMACKey(b"k" * 32),
        "RS256": _rsa(),
        "PS256": _rsa(),
        "ES256": _ec(),
    }[alg]


@settings(max_examples=25, deadline=None)
@given(
    payload=st.binary(max_size=300),
    alg=st.sampled_from(["HS256", "RS256", "PS256", "ES256"]),
    detached=st.booleans(),
    b64=st.booleans(),
)
def test_sign_then_verify_round_trips(payload: bytes, alg: str, detached: bool, b64: bool) -> None:
    key = _key_for(alg)
    if not b64 and not detached and b"." in payload:
        detached = True
    if not b64 and not detached:
        payload = payload.replace(b"\x80", b"")  # an attached unencoded payload must be text
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            detached = True
    token = sign_compact(payload, key, alg=alg, header={"kid": "k1"}, detached=detached, b64=b64)

    verified = verify_compact(
        token, {"k1": key}, algorithms=[alg], payload=payload if detached else None
    )

    assert payload == verified.payload


def test_detach_removes_the_payload_part() -> None:
    key = HMACKey(b"k" * 32)
    token = sign_compact(b"hello", key, alg="HS256")

    detached = detach(token)

    assert detached.split(".")[1] == ""
    assert verify_compact(detached, key, algorithms=["HS256"], payload=b"hello").payload == b"hello"


# ------------------------------------------------------------------------------ negatives


def _tamper(token: str, index: int) -> str:
    parts = token.split(".")
    raw = bytearray(b64url_decode(parts[index]))
    raw[len(raw) // 2] ^= 0x01
    parts[index] = b64url_encode(bytes(raw))
    return ".".join(parts)


@pytest.mark.parametrize("alg", ["HS256", "RS256", "PS256", "ES256"])
@pytest.mark.parametrize("index", [0, 1, 2])
def test_tampering_any_part_is_refused(alg: str, index: int) -> None:
    key = _key_for(alg)
    token = sign_compact(b'{"amount":"10.00"}', key, alg=alg)

    with pytest.raises((SignatureMismatchError, ClaimError)):
        verify_compact(_tamper(token, index), key, algorithms=[alg])


def test_wrong_key_is_refused() -> None:
    token = sign_compact(b"x", _rsa(), alg="PS256")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    with pytest.raises(SignatureMismatchError):
        verify_compact(token, other.public_key(), algorithms=["PS256"])


def test_alg_none_is_refused_even_if_allowed() -> None:
    header = b64url_encode(b'{"alg":"none"}')
    token = f"{header}.{b64url_encode(b'x')}.c2ln"

    with pytest.raises(AlgorithmNotAllowedError):
        verify_compact(token, HMACKey(b"k" * 32), algorithms=["none", "HS256"])
    with pytest.raises(AlgorithmNotAllowedError):
        sign_compact(b"x", HMACKey(b"k" * 32), alg="none")


def test_hmac_with_rsa_public_key_bytes_is_impossible() -> None:
    """The classic confusion: HS256 'signed' with the RSA public key's PEM bytes."""
    from cryptography.hazmat.primitives import serialization

    public = _rsa().public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    forged = sign_compact(b"x", HMACKey(pem), alg="HS256")

    with pytest.raises(AlgorithmNotAllowedError):
        verify_compact(forged, public, algorithms=["RS256", "HS256"])


def test_key_type_must_match_alg() -> None:
    with pytest.raises(AlgorithmNotAllowedError):
        sign_compact(b"x", _ec(), alg="PS256")
    with pytest.raises(AlgorithmNotAllowedError):
        sign_compact(b"x", _rsa(), alg="ES256")
    with pytest.raises(AlgorithmNotAllowedError):
        sign_compact(b"x", HMACKey(b"k" * 32), alg="RS256")
    p521 = _jwk_key(RFC7515["A.4"]["jwk"])
    with pytest.raises(AlgorithmNotAllowedError):
        sign_compact(b"x", p521, alg="ES256")


def test_alg_outside_allow_list_is_refused() -> None:
    token = sign_compact(b"x", _rsa(), alg="RS256")

    with pytest.raises(AlgorithmNotAllowedError):
        verify_compact(token, _rsa(), algorithms=["PS256"])


def test_short_hmac_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        HMACKey(b"short")


def test_hmac_key_repr_hides_the_secret() -> None:
    assert "secret-bytes" not in repr(HMACKey(b"secret-bytes" * 4))


def _raw_token(header: dict[str, Any], key: HMACKey, payload: bytes = b"x") -> str:
    protected = b64url_encode(json.dumps(header).encode())
    encoded = header.get("b64", True)
    body = b64url_encode(payload) if encoded else payload.decode()
    import hmac as _hmac

    sig = _hmac.digest(key.secret, f"{protected}.{body}".encode(), "sha256")
    return f"{protected}.{body}.{b64url_encode(sig)}"


@pytest.mark.parametrize(
    ("header", "understood"),
    [
        ({"alg": "HS256", "crit": ["exp"], "exp": 1}, ()),  # not understood
        ({"alg": "HS256", "crit": ["x-a"]}, ("x-a",)),  # listed but absent
        ({"alg": "HS256", "crit": []}, ()),  # empty
        ({"alg": "HS256", "crit": ["kid"], "kid": "a"}, ()),  # registered name
        ({"alg": "HS256", "crit": ["x-a", "x-a"], "x-a": 1}, ("x-a",)),  # duplicate
        ({"alg": "HS256", "b64": False}, ()),  # b64 without crit
        ({"alg": "HS256", "b64": "false", "crit": ["b64"]}, ()),  # b64 not a bool
    ],
)
def test_crit_rules_are_enforced(header: dict[str, Any], understood: tuple[str, ...]) -> None:
    key = HMACKey(b"k" * 32)
    token = _raw_token(header, key)

    with pytest.raises(ClaimError):
        verify_compact(token, key, algorithms=["HS256"], understood_crit=understood)


def test_duplicate_header_names_are_refused() -> None:
    key = HMACKey(b"k" * 32)
    protected = b64url_encode(b'{"alg":"HS256","alg":"none"}')

    with pytest.raises(ClaimError):
        verify_compact(f"{protected}.eA.c2ln", key, algorithms=["HS256"])


def test_b64_mismatch_between_signer_and_verifier_fails() -> None:
    """A b64=false signature must not verify when the verifier encodes the payload."""
    key = HMACKey(b"k" * 32)
    token = sign_compact(b"x", key, alg="HS256", b64=False, detached=True)
    protected = json.loads(b64url_decode(token.split(".")[0]))
    protected.pop("b64")
    protected.pop("crit")
    swapped = b64url_encode(json.dumps(protected).encode()) + "." + "." + token.split(".")[2]

    with pytest.raises(SignatureMismatchError):
        verify_compact(swapped, key, algorithms=["HS256"], payload=b"x")


def test_unknown_kid_is_key_not_found() -> None:
    token = sign_compact(b"x", _rsa(), alg="PS256", header={"kid": "gone"})

    with pytest.raises(KeyNotFoundError):
        verify_compact(token, {"other": _rsa().public_key()}, algorithms=["PS256"])


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "..", "e30.eA."])
def test_malformed_tokens_raise_typed_errors(token: str) -> None:
    with pytest.raises((SignatureMismatchError, ClaimError)):
        verify_compact(token, HMACKey(b"k" * 32), algorithms=["HS256"])


def test_attached_payload_where_detached_expected_is_refused() -> None:
    key = HMACKey(b"k" * 32)
    token = sign_compact(b"x", key, alg="HS256")

    with pytest.raises(SignatureMismatchError):
        verify_compact(token, key, algorithms=["HS256"], payload=b"x")


# ------------------------------------------------------------------------------ joserfc


def test_joserfc_verifies_our_tokens() -> None:
    for alg, key, jkey in [
        ("PS256", _rsa(), RSAKey.import_key(_rsa().public_key())),
        ("RS256", _rsa(), RSAKey.import_key(_rsa().public_key())),
        ("ES256", _ec(), ECKey.import_key(_ec().public_key())),
    ]:
        token = sign_compact(b'{"a":1}', key, alg=alg)
        assert jose_jws.deserialize_compact(token, jkey, algorithms=[alg]).payload == b'{"a":1}'


def test_we_verify_joserfc_unencoded_detached_tokens() -> None:
    secret = b"s" * 32
    header = {"alg": "HS256", "b64": False, "crit": ["b64"]}
    token = jose_jws.serialize_compact(header, "$.02", OctKey.import_key(secret))
    detached = jose_jws.detach_content(token)

    verified = verify_compact(detached, HMACKey(secret), algorithms=["HS256"], payload=b"$.02")

    assert verified.payload == b"$.02"


# ------------------------------------------------------------------------------ UK Open Banking


def _ob_registry(algorithms: list[str]) -> JWSRegistry:
    return JWSRegistry(
        header_registry={
            OB_CLAIM_IAT: HeaderParameter("iat", "int", True),
            OB_CLAIM_ISS: HeaderParameter("iss", "str", True),
            OB_CLAIM_TAN: HeaderParameter("tan", "str", True),
        },
        algorithms=algorithms,
    )


def _ob_header(signature: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(b64url_decode(signature.split(".")[0]))
    return header


@pytest.mark.parametrize("version", list(OBVersion))
def test_ob_signature_has_the_exact_header_for_its_version(version: OBVersion) -> None:
    signature = sign_ob_detached(b"{}", _rsa(), kid="90210ABAD", iss=ISS, now=NOW, version=version)

    header = _ob_header(signature)
    expected: dict[str, Any] = {"alg": "PS256", "kid": "90210ABAD"}
    if version is OBVersion.V3_1_3:
        expected["b64"] = False
    expected |= {
        "typ": "JOSE",
        "cty": "application/json",
        OB_CLAIM_IAT: int(NOW.timestamp()),
        OB_CLAIM_ISS: ISS,
        OB_CLAIM_TAN: "openbanking.org.uk",
        "crit": list(version.crit),
    }
    assert expected == header
    assert signature.split(".")[1] == ""


@pytest.mark.parametrize("version", list(OBVersion))
def test_ob_round_trip_and_joserfc_agrees(version: OBVersion) -> None:
    body = b'{"Data":{"Initiation":{"InstructedAmount":{"Amount":"10.00"}}}}'
    signature = sign_ob_detached(body, _rsa(), kid="k1", iss=ISS, now=NOW, version=version)

    header = verify_ob_detached(
        signature, body, keys={"k1": _rsa().public_key()}, iss=ISS, now=NOW, version=version
    )
    peer = jose_jws.deserialize_compact(
        signature,
        RSAKey.import_key(_rsa().public_key()),
        payload=body,
        registry=_ob_registry(["PS256"]),
    )

    assert header[OB_CLAIM_ISS] == ISS
    assert body == peer.payload


def test_ob_verifies_a_joserfc_signature() -> None:
    header = {
        "alg": "PS256",
        "kid": "k1",
        OB_CLAIM_IAT: int(NOW.timestamp()) - 5,
        OB_CLAIM_ISS: ISS,
        OB_CLAIM_TAN: "openbanking.org.uk",
        "crit": [OB_CLAIM_IAT, OB_CLAIM_ISS, OB_CLAIM_TAN],
    }
    body = b'{"x":1}'
    token = jose_jws.serialize_compact(
        header, body, RSAKey.import_key(_rsa()), registry=_ob_registry(["PS256"])
    )

    verify_ob_detached(detach(token), body, keys={"k1": _rsa()}, iss=ISS, now=NOW)


def _ob_sign_header(header: dict[str, Any], body: bytes, b64: bool = True) -> str:
    raw = json.dumps(header).encode()
    return sign_compact(body, _rsa(), alg=header["alg"], header=raw, detached=True, b64=b64)


def _good_header(**changes: Any) -> dict[str, Any]:
    header: dict[str, Any] = {
        "alg": "PS256",
        "kid": "k1",
        OB_CLAIM_IAT: int(NOW.timestamp()),
        OB_CLAIM_ISS: ISS,
        OB_CLAIM_TAN: "openbanking.org.uk",
        "crit": [OB_CLAIM_IAT, OB_CLAIM_ISS, OB_CLAIM_TAN],
    }
    for name, value in changes.items():
        name = {"iat": OB_CLAIM_IAT, "iss": OB_CLAIM_ISS, "tan": OB_CLAIM_TAN}.get(name, name)
        if value is None:
            header.pop(name)
        else:
            header[name] = value
    return header


def _verify_ob(signature: str | None, body: bytes = b"{}", **options: Any) -> None:
    verify_ob_detached(
        signature, body, keys={"k1": _rsa().public_key()}, iss=ISS, now=NOW, **options
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "someone-else"},
        {"tan": "evil.example"},
        {"iss": None},
        {"tan": None},
        {"iat": None},
        {"iat": "1714564800"},
        {"typ": "JWT"},
        {"cty": "text/plain"},
        {"x-extra": 1},
        {"crit": [OB_CLAIM_IAT, OB_CLAIM_ISS]},
        {"crit": None},
        {"kid": None},
    ],
)
def test_ob_claim_violations_are_claim_errors(changes: dict[str, Any]) -> None:
    header = _good_header(**changes)
    with pytest.raises((ClaimError, KeyNotFoundError)):
        _verify_ob(_ob_sign_header(header, b"{}"))


def test_ob_crit_with_an_extra_entry_is_refused() -> None:
    header = _good_header(**{"x-extra": 1})
    header["crit"] = [*header["crit"], "x-extra"]

    with pytest.raises(ClaimError):
        _verify_ob(_ob_sign_header(header, b"{}"))


def test_ob_iat_in_the_future_is_refused_beyond_the_skew() -> None:
    soon = _ob_sign_header(_good_header(iat=int(NOW.timestamp()) + 10), b"{}")
    later = _ob_sign_header(_good_header(iat=int(NOW.timestamp()) + 301), b"{}")

    _verify_ob(soon)
    with pytest.raises(SignatureExpiredError):
        _verify_ob(later)


def test_ob_b64_must_match_the_version() -> None:
    legacy = sign_ob_detached(b"{}", _rsa(), kid="k1", iss=ISS, now=NOW, version=OBVersion.V3_1_3)
    current = sign_ob_detached(b"{}", _rsa(), kid="k1", iss=ISS, now=NOW)

    with pytest.raises(ClaimError):
        _verify_ob(legacy, version=OBVersion.V3_1_4)
    with pytest.raises(ClaimError):
        _verify_ob(current, version=OBVersion.V3_1_3)


def test_ob_es256_only_when_configured() -> None:
    signature = sign_ob_detached(b"{}", _ec(), kid="k1", iss=ISS, now=NOW, alg="ES256")
    keys = {"k1": _ec().public_key()}

    with pytest.raises(AlgorithmNotAllowedError):
        verify_ob_detached(signature, b"{}", keys=keys, iss=ISS, now=NOW)
    verify_ob_detached(signature, b"{}", keys=keys, iss=ISS, now=NOW, algorithms={"ES256"})


def test_ob_tampered_body_and_missing_signature() -> None:
    signature = sign_ob_detached(b'{"a":1}', _rsa(), kid="k1", iss=ISS, now=NOW)

    with pytest.raises(SignatureMismatchError):
        _verify_ob(signature, b'{"a":2}')
    with pytest.raises(SignatureMissingError):
        _verify_ob(None)
    with pytest.raises(SignatureMismatchError):
        _verify_ob(signature.replace("..", "." + b64url_encode(b"{}") + "."))


def test_ob_version_for_spec() -> None:
    assert OBVersion.for_spec("3.1.2") == OBVersion.V3_1_3
    assert OBVersion.for_spec("v3.1.3") == OBVersion.V3_1_3
    assert OBVersion.for_spec("3.1.11") == OBVersion.V3_1_4
    assert OBVersion.for_spec("4.0") == OBVersion.V3_1_4
    with pytest.raises(ConfigurationError):
        OBVersion.for_spec("latest")


def test_ob_hooks_sign_requests_and_verify_responses() -> None:
    signer = OBJwsSigner(key=_rsa(), kid="k1", iss=ISS)
    verifier = OBJwsVerifier(keys={"k1": _rsa().public_key()}, iss=ISS)
    request = PreparedRequest.json("POST", "/domestic-payments", {"Data": {}})

    signed = signer(request, "https://bank.example/domestic-payments", NOW)
    response = RawResponse(status=201, headers=dict(signed.headers), body=signed.body or b"")

    verifier(response, NOW + timedelta(seconds=1))
    get = PreparedRequest(method="GET", path="/x")
    assert get == signer(get, "https://bank.example/x", NOW)
    with pytest.raises(SignatureMissingError):
        verifier(RawResponse(status=200, headers={}, body=b"{}"), NOW)


def test_base64_std_is_not_accepted_as_base64url() -> None:
    sig = base64.b64encode(b"\xfb\xff" * 20).decode()
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(sig)


def test_walletlink_signing_keys_and_key_rings_work() -> None:
    from walletlink.signing.keys import KeyRing, SigningKey

    rsa_key = SigningKey(kid="r1", private_key=_rsa())
    hmac = SigningKey(kid="h1", secret=b"h" * 32)
    ring = KeyRing.of(SigningKey(kid="r1", public_key=_rsa().public_key()), hmac)

    token = sign_compact(b"x", rsa_key, alg="PS256", header={"kid": "r1"})
    mac = sign_compact(b"x", hmac, alg="HS256", header={"kid": "h1"})

    assert verify_compact(token, ring, algorithms=["PS256"]).payload == b"x"
    assert verify_compact(mac, ring, algorithms=["HS256"]).payload == b"x"
    with pytest.raises(AlgorithmNotAllowedError):
        verify_compact(mac, {"h1": rsa_key}, algorithms=["HS256"])
    unknown = sign_compact(b"x", rsa_key, alg="PS256", header={"kid": "zz"})
    with pytest.raises(KeyNotFoundError):
        verify_compact(unknown, ring, algorithms=["PS256"])
