"""JSON Web Signature (RFC 7515), unencoded payloads (RFC 7797) and UK Open Banking.

Compact serialisation only, because that is what banks put in headers. Three shapes:

* attached: ``header.payload.signature``;
* detached (RFC 7515 App. F): ``header..signature``, the payload travels as the HTTP body;
* unencoded (RFC 7797): ``"b64": false`` listed in ``crit``; the signing input holds the raw
  payload bytes instead of their base64url form.

Algorithm confusion is ruled out by types: ``HS256`` verifies only with an :class:`HMACKey`,
which the caller must construct on purpose, and ``RS256``/``PS256``/``ES256`` only with the
matching asymmetric key. ``alg: none`` is always refused. Every failure raises a
:class:`~walletlink.errors.SignatureError` subclass; nothing returns a bool.

The UK Open Banking ``x-jws-signature`` (Read/Write API v3.1.x) sits on top: see
:class:`OBJwsSigner`, :class:`OBJwsVerifier`, :func:`sign_ob_detached` and
:func:`verify_ob_detached`.
"""

from __future__ import annotations

import enum
import hmac
import json
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeAlias, cast

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

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
from walletlink.signing._b64 import b64url_bytes, b64url_decode, b64url_encode
from walletlink.signing.keys import KeyRing, SigningKey

__all__ = [
    "OB_CLAIM_IAT",
    "OB_CLAIM_ISS",
    "OB_CLAIM_TAN",
    "HMACKey",
    "JwsKeys",
    "JwsSigningKey",
    "JwsVerifyingKey",
    "OBJwsSigner",
    "OBJwsVerifier",
    "OBVersion",
    "VerifiedJws",
    "detach",
    "sign_compact",
    "sign_ob_detached",
    "verify_compact",
    "verify_ob_detached",
]

OB_CLAIM_IAT = "http://openbanking.org.uk/iat"
OB_CLAIM_ISS = "http://openbanking.org.uk/iss"
OB_CLAIM_TAN = "http://openbanking.org.uk/tan"
_OB_CLAIMS = frozenset({OB_CLAIM_IAT, OB_CLAIM_ISS, OB_CLAIM_TAN})

# RFC 7515 §4.1: names a producer must not list in ``crit`` because every JWS
# implementation already understands them.
_REGISTERED = frozenset(
    {"alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit"}
)
_MIN_HMAC_BYTES = 32  # RFC 7518 §3.2: a key at least as long as the hash output
_MIN_RSA_BITS = 2048  # RFC 7518 §3.3 / §3.5


@attrs.frozen(repr=False)
class HMACKey:
    """A shared secret for ``HS256``: the only key type that ``HS256`` accepts.

    Wrapping the bytes makes HMAC an explicit choice: a verifier configured with an RSA
    public key can never be tricked into using that key's bytes as an HMAC secret.
    """

    secret: bytes = attrs.field()

    @secret.validator
    def _check(self, _: attrs.Attribute[bytes], value: bytes) -> None:
        if len(value) < _MIN_HMAC_BYTES:
            raise ConfigurationError(f"an HS256 key needs at least {_MIN_HMAC_BYTES} bytes")

    def __repr__(self) -> str:
        return "HMACKey(<redacted>)"


JwsSigningKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | HMACKey | SigningKey
JwsVerifyingKey: TypeAlias = (
    SigningKey
    | rsa.RSAPublicKey
    | ec.EllipticCurvePublicKey
    | HMACKey
    | x509.Certificate
    | rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
)

#: What a verifier trusts: one key, a ``kid`` → key mapping, or a :class:`KeyRing`.
JwsKeys: TypeAlias = JwsVerifyingKey | Mapping[str, JwsVerifyingKey] | KeyRing

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_SHA512 = hashes.SHA512()


@attrs.frozen
class _Alg:
    kind: str  # "rsa-pss", "rsa-pkcs1", "ec", "hmac"
    hash: hashes.HashAlgorithm
    curve: type[ec.EllipticCurve] | None = None
    coord_bytes: int = 0


_ALGS: dict[str, _Alg] = {
    "PS256": _Alg("rsa-pss", _SHA256),
    "RS256": _Alg("rsa-pkcs1", _SHA256),
    "ES256": _Alg("ec", _SHA256, ec.SECP256R1, 32),
    "ES512": _Alg("ec", _SHA512, ec.SECP521R1, 66),
    "HS256": _Alg("hmac", _SHA256),
}


_ECDSA: dict[str, ec.ECDSA] = {
    name: ec.ECDSA(alg.hash) for name, alg in _ALGS.items() if alg.kind == "ec"
}


def _alg(name: object, allowed: Collection[str]) -> _Alg:
    if not isinstance(name, str):
        raise ClaimError("the protected header has no string 'alg'")
    if name.lower() == "none":
        raise AlgorithmNotAllowedError("alg 'none' is never accepted")
    if name not in allowed or name not in _ALGS:
        raise AlgorithmNotAllowedError(f"alg {name!r} is not in the allow-list")
    return _ALGS[name]


def _unwrap(key: SigningKey) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | HMACKey | object:
    """A :class:`~walletlink.signing.keys.SigningKey` as the raw key this module checks."""
    if key.secret is not None:
        return HMACKey(key.secret)
    return key.private_key if key.private_key is not None else key.public_key


def _signing_key(
    key: JwsSigningKey,
) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | HMACKey:
    if not isinstance(key, SigningKey):
        family, private = _family(key)
        if family == "hmac" or (family and private):
            return key
        if family:
            raise ConfigurationError("JWS signing needs a private key, not a public one")
        raise ConfigurationError(
            f"JWS signing needs a SigningKey, HMACKey or cryptography key, not {type(key).__name__}"
        )
    if key.secret is not None:
        return HMACKey(key.secret)
    if isinstance(key.private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return key.private_key
    raise AlgorithmNotAllowedError(f"key {key.kid!r} holds no RSA, EC or HMAC private key")


_FAMILIES: dict[type, tuple[str, bool]] = {}


def _family(key: object) -> tuple[str, bool]:
    """``("rsa" | "ec" | "hmac" | "", is private)`` for ``key``, worked out once per class.

    ``isinstance`` against cryptography's abstract key classes costs ~0.3 µs a check, and
    the answer depends only on the concrete class, so it is remembered per class.
    """
    found = _FAMILIES.get(type(key))
    if found is None:
        if isinstance(key, HMACKey):
            found = ("hmac", False)
        elif isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
            found = ("rsa", isinstance(key, rsa.RSAPrivateKey))
        elif isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
            found = ("ec", isinstance(key, ec.EllipticCurvePrivateKey))
        else:
            found = ("", False)
        _FAMILIES[type(key)] = found
    return found


def _public(key: JwsVerifyingKey) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey | HMACKey:
    if isinstance(key, SigningKey):
        unwrapped = _unwrap(key)
        if not isinstance(unwrapped, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | HMACKey):
            if isinstance(unwrapped, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
                return unwrapped
            raise AlgorithmNotAllowedError(f"key {key.kid!r} is not usable for JWS")
        key = unwrapped
    if isinstance(key, x509.Certificate):
        pub = key.public_key()
        if not isinstance(pub, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise AlgorithmNotAllowedError("the certificate's key is neither RSA nor EC")
        return pub
    family, private = _family(key)
    if private:  # an RSA or EC private key
        return cast(rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, key).public_key()
    if not family:
        raise _not_a_verifying_key(key)
    return cast(rsa.RSAPublicKey | ec.EllipticCurvePublicKey | HMACKey, key)


def _not_a_verifying_key(key: object) -> ConfigurationError:
    return ConfigurationError(
        "a JWS key is a SigningKey, HMACKey, certificate or cryptography key,"
        f" not {type(key).__name__}"
    )


def _check_keys(keys: object) -> None:
    """Refuse, before any token arrives, a trust set holding something that is not a key."""
    if isinstance(keys, KeyRing):
        return
    for key in keys.values() if isinstance(keys, Mapping) else (keys,):
        if not (isinstance(key, SigningKey | x509.Certificate) or _family(key)[0]):
            raise _not_a_verifying_key(key)


def _check_key(name: str, alg: _Alg, key: object) -> None:
    """Refuse a key whose type, curve or size does not fit ``alg`` (no confusion)."""
    family = _family(key)[0]
    if alg.kind == "hmac":
        if family == "hmac":
            return
    elif alg.kind.startswith("rsa"):
        if family == "rsa":
            if cast(rsa.RSAPublicKey, key).key_size < _MIN_RSA_BITS:
                raise AlgorithmNotAllowedError(f"{name} needs an RSA key of {_MIN_RSA_BITS}+ bits")
            return
    elif family == "ec":
        curve = cast(ec.EllipticCurvePublicKey, key).curve
        if alg.curve is None or not isinstance(curve, alg.curve):
            raise AlgorithmNotAllowedError(f"{name} does not fit a key on {curve.name}")
        return
    raise AlgorithmNotAllowedError(f"{name} does not fit a {type(key).__name__}")


def _sign_bytes(name: str, key: JwsSigningKey, data: bytes) -> bytes:
    alg = _ALGS.get(name)
    if alg is None:
        raise AlgorithmNotAllowedError(f"cannot sign with alg {name!r}")
    key = _signing_key(key)
    _check_key(name, alg, key)
    family = _family(key)
    if family[0] == "hmac":
        return hmac.digest(cast(HMACKey, key).secret, data, "sha256")
    if family == ("rsa", True):
        pad = _PSS if alg.kind == "rsa-pss" else _PKCS1
        return cast(rsa.RSAPrivateKey, key).sign(data, pad, alg.hash)
    signer = cast(ec.EllipticCurvePrivateKey, key)
    r, s = decode_dss_signature(signer.sign(data, _ECDSA.get(name) or ec.ECDSA(alg.hash)))
    return r.to_bytes(alg.coord_bytes, "big") + s.to_bytes(alg.coord_bytes, "big")


def _verify_bytes(name: str, alg: _Alg, key: JwsVerifyingKey, data: bytes, sig: bytes) -> None:
    pub = _public(key)
    _check_key(name, alg, pub)
    family = _family(pub)
    try:
        if family[0] == "hmac":
            secret = cast(HMACKey, pub).secret
            if not hmac.compare_digest(hmac.digest(secret, data, "sha256"), sig):
                raise InvalidSignature
        elif family == ("rsa", False):
            rsa_public = cast(rsa.RSAPublicKey, pub)
            rsa_public.verify(sig, data, _PSS if alg.kind == "rsa-pss" else _PKCS1, alg.hash)
        else:
            # JWS carries ECDSA as fixed-width r||s (RFC 7518 §3.4), never DER.
            if len(sig) != 2 * alg.coord_bytes:
                raise InvalidSignature
            half = alg.coord_bytes
            der = encode_dss_signature(
                int.from_bytes(sig[:half], "big"), int.from_bytes(sig[half:], "big")
            )
            ec_public = cast(ec.EllipticCurvePublicKey, pub)
            ec_public.verify(der, data, _ECDSA.get(name) or ec.ECDSA(alg.hash))
    except InvalidSignature:
        raise SignatureMismatchError(f"the {name} signature does not verify") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ClaimError(f"the protected header repeats {name!r}")
        result[name] = value
    return result


# json.loads with a hook builds a decoder per call; these are built once. The bytes are
# decoded to text exactly as json.loads does it.
_HEADER_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates)
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_COMPACT_ASCII = json.JSONEncoder(separators=(",", ":"))


def _decode_header(part: str) -> dict[str, Any]:
    try:
        raw = b64url_decode(part)
        header = _HEADER_DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: deep nesting
        raise ClaimError("the protected header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise ClaimError("the protected header is not a JSON object")
    return header


def _check_crit(header: Mapping[str, Any], understood: Collection[str]) -> None:
    """RFC 7515 §4.1.11 and RFC 7797 §6: ``crit`` rules and the ``b64`` pairing."""
    b64 = header.get("b64", True)
    if not isinstance(b64, bool):
        raise ClaimError("'b64' must be a JSON boolean")
    if "crit" not in header:
        if "b64" in header:
            raise ClaimError("'b64' is present but not listed in 'crit'")
        return
    crit = header["crit"]
    if not isinstance(crit, list) or not crit or not all(isinstance(c, str) for c in crit):
        raise ClaimError("'crit' must be a non-empty list of strings")
    if len(set(crit)) != len(crit):
        raise ClaimError("'crit' lists a name twice")
    for name in crit:
        if name in _REGISTERED:
            raise ClaimError(f"'crit' must not list the registered name {name!r}")
        if name != "b64" and name not in understood:
            raise ClaimError(f"'crit' lists {name!r}, which this verifier does not understand")
        if name not in header:
            raise ClaimError(f"'crit' lists {name!r} but the header lacks it")
    if "b64" in header and "b64" not in crit:
        raise ClaimError("'b64' is present but not listed in 'crit'")


def _header_bytes(alg: str, header: Mapping[str, Any] | bytes, b64: bool) -> bytes:
    if isinstance(header, bytes):
        parsed = json.loads(header)
        if parsed.get("alg") != alg or parsed.get("b64", True) is not b64:
            raise ClaimError("the given header bytes disagree with alg or b64")
        return header
    merged: dict[str, Any] = {"alg": alg, **header}
    if not b64:
        merged["b64"] = False
        crit = list(merged.get("crit", []))
        merged["crit"] = crit if "b64" in crit else ["b64", *crit]
    return _COMPACT.encode(merged).encode()


def sign_compact(
    payload: bytes,
    key: JwsSigningKey,
    *,
    alg: str,
    header: Mapping[str, Any] | bytes | None = None,
    detached: bool = False,
    b64: bool = True,
) -> str:
    """Sign ``payload`` and return the compact JWS (``header..sig`` when ``detached``).

    ``header`` adds protected-header parameters, or gives the exact header JSON bytes (for
    reproducing published vectors). ``b64=False`` produces an RFC 7797 unencoded payload and
    adds ``"b64": false`` and ``crit: ["b64"]`` to a mapping header.
    """
    if alg.lower() == "none":
        raise AlgorithmNotAllowedError("alg 'none' is never produced")
    protected = b64url_bytes(_header_bytes(alg, header or {}, b64))
    if b64:
        body = b64url_bytes(payload)
    elif not detached and b"." in payload:
        raise ClaimError("an attached unencoded payload must not contain '.'; detach it")
    else:
        body = payload
    signature = b64url_encode(_sign_bytes(alg, key, protected + b"." + body))
    middle = "" if detached else body.decode("utf-8")
    return f"{protected.decode('ascii')}.{middle}.{signature}"


def detach(token: str) -> str:
    """Remove the payload from a compact JWS (RFC 7515 Appendix F)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise SignatureMismatchError("not a compact JWS: expected three dot-separated parts")
    return f"{parts[0]}..{parts[2]}"


@attrs.frozen(kw_only=True)
class VerifiedJws:
    """What a verified JWS says: its protected header and the payload bytes it covers."""

    header: Mapping[str, Any]
    payload: bytes


def _resolve(keys: JwsKeys, kid: object) -> JwsVerifyingKey:
    if not isinstance(keys, Mapping | KeyRing):
        return keys
    if not isinstance(kid, str):
        raise KeyNotFoundError("the protected header names no 'kid'")
    if isinstance(keys, KeyRing):
        return keys.get(kid)
    try:
        return keys[kid]
    except KeyError:
        raise KeyNotFoundError(f"no trusted key for kid {kid!r}") from None


def verify_compact(
    token: str,
    keys: JwsKeys,
    *,
    algorithms: Collection[str],
    payload: bytes | None = None,
    understood_crit: Collection[str] = (),
) -> VerifiedJws:
    """Verify a compact JWS; give ``payload`` for a detached one.

    ``keys`` is one trusted key or a mapping of ``kid`` to key. ``algorithms`` is the
    allow-list (never inferred from the key). ``understood_crit`` names the extension
    parameters the caller checks itself; ``crit`` may list only those and ``b64``.
    """
    _check_keys(keys)
    parts = token.split(".")
    if len(parts) != 3 or not parts[0] or not parts[2]:
        raise SignatureMismatchError("not a compact JWS: expected header.payload.signature")
    return _verify_parts(
        parts, _decode_header(parts[0]), keys, algorithms, payload, understood_crit
    )


def _verify_parts(
    parts: list[str],
    header: dict[str, Any],
    keys: JwsKeys,
    algorithms: Collection[str],
    payload: bytes | None,
    understood_crit: Collection[str],
) -> VerifiedJws:
    """:func:`verify_compact` once the token is split and its header decoded."""
    alg = _alg(header.get("alg"), algorithms)
    _check_crit(header, understood_crit)
    encoded = header.get("b64", True)
    if payload is None:
        body = parts[1].encode("utf-8")
        content = _decode_payload(parts[1]) if encoded else body
    elif parts[1]:
        raise SignatureMismatchError("expected a detached JWS but it carries a payload")
    else:
        body = b64url_bytes(payload) if encoded else payload
        content = payload
    try:
        signature = b64url_decode(parts[2])
    except ValueError:
        raise SignatureMismatchError("the signature is not base64url") from None
    key = _resolve(keys, header.get("kid"))
    _verify_bytes(header["alg"], alg, key, parts[0].encode("ascii") + b"." + body, signature)
    return VerifiedJws(header=header, payload=content)


def _decode_payload(part: str) -> bytes:
    try:
        return b64url_decode(part)
    except ValueError:
        raise SignatureMismatchError("the payload is not base64url") from None


# --------------------------------------------------------------------------- UK Open Banking


class OBVersion(enum.Enum):
    """Which generation of the OB Read/Write message-signing rules applies."""

    #: v3.0 – v3.1.3: ``"b64": false`` in the header and in ``crit``; raw body in the input.
    V3_1_3 = "3.1.3"
    #: v3.1.4 and later (incl. 4.0): no ``b64``; the body is base64url-encoded in the input.
    V3_1_4 = "3.1.4"

    @classmethod
    def for_spec(cls, version: str) -> OBVersion:
        """Map a spec version such as ``"3.1.2"`` or ``"3.1.11"`` onto its signing rules."""
        try:
            numbers = tuple(int(part) for part in version.removeprefix("v").split("."))
        except ValueError:
            raise ConfigurationError(f"not an OB spec version: {version!r}") from None
        return cls.V3_1_3 if numbers < (3, 1, 4) else cls.V3_1_4

    @property
    def b64(self) -> bool:
        return self is OBVersion.V3_1_4

    @property
    def crit(self) -> tuple[str, ...]:
        claims = (OB_CLAIM_IAT, OB_CLAIM_ISS, OB_CLAIM_TAN)
        return claims if self.b64 else ("b64", *claims)


_OB_ALLOWED = frozenset({"alg", "kid", "typ", "cty", "crit", *_OB_CLAIMS})


def sign_ob_detached(
    body: bytes,
    key: JwsSigningKey,
    *,
    kid: str,
    iss: str,
    now: datetime,
    tan: str = "openbanking.org.uk",
    version: OBVersion = OBVersion.V3_1_4,
    alg: str = "PS256",
    typ: str | None = "JOSE",
    cty: str | None = "application/json",
) -> str:
    """The ``x-jws-signature`` value for ``body``: a detached JWS with the OB claims."""
    header: dict[str, Any] = {"alg": alg, "kid": kid}
    if not version.b64:
        header["b64"] = False
    if typ is not None:
        header["typ"] = typ
    if cty is not None:
        header["cty"] = cty
    header[OB_CLAIM_IAT] = int(now.timestamp())
    header[OB_CLAIM_ISS] = iss
    header[OB_CLAIM_TAN] = tan
    header["crit"] = list(version.crit)
    raw = _COMPACT_ASCII.encode(header).encode()
    return sign_compact(body, key, alg=alg, header=raw, detached=True, b64=version.b64)


def _check_ob_claims(
    header: Mapping[str, Any],
    *,
    iss: str,
    tan: str,
    now: datetime,
    version: OBVersion,
    clock_skew: timedelta,
) -> None:
    allowed = _OB_ALLOWED if version.b64 else _OB_ALLOWED | {"b64"}
    for name in header:
        if name not in allowed:
            raise ClaimError(f"claim {name!r} is not allowed in an OB {version.value} signature")
    for name in ("kid", "crit", *_OB_CLAIMS):
        if name not in header:
            raise ClaimError(f"the OB signature lacks the mandatory claim {name!r}")
    if "typ" in header and header["typ"] != "JOSE":
        raise ClaimError("'typ' must be 'JOSE'")
    if "cty" in header and header["cty"] not in ("json", "application/json"):
        raise ClaimError("'cty' must be 'json' or 'application/json' for a JSON body")
    if version.b64 and "b64" in header:
        raise ClaimError(f"'b64' is not allowed from OB 3.1.4 on (verifying as {version.value})")
    if not version.b64 and header.get("b64") is not False:
        raise ClaimError("OB up to 3.1.3 requires 'b64': false")
    crit = header["crit"]
    if not isinstance(crit, list) or sorted(crit) != sorted(version.crit):
        raise ClaimError(f"'crit' must list exactly {list(version.crit)}")
    iat = header[OB_CLAIM_IAT]
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise ClaimError(f"{OB_CLAIM_IAT!r} must be a JSON number")
    if iat > (now + clock_skew).timestamp():
        raise SignatureExpiredError(f"{OB_CLAIM_IAT!r} is in the future")
    if header[OB_CLAIM_ISS] != iss:
        raise ClaimError(f"{OB_CLAIM_ISS!r} is not the expected issuer")
    if header[OB_CLAIM_TAN] != tan:
        raise ClaimError(f"{OB_CLAIM_TAN!r} is not the trusted anchor")


def verify_ob_detached(
    signature: str | None,
    body: bytes,
    *,
    keys: JwsKeys,
    iss: str,
    now: datetime,
    tan: str = "openbanking.org.uk",
    version: OBVersion = OBVersion.V3_1_4,
    algorithms: Collection[str] = ("PS256",),
    clock_skew: timedelta = timedelta(seconds=30),
) -> Mapping[str, Any]:
    """Verify an ``x-jws-signature`` over the exact ``body`` bytes; return its header.

    ``iss`` is the expected issuer (``{org-id}/{software-statement-id}`` for a TPP,
    ``{org-id}`` for an ASPSP); ``tan`` the trust anchor; ``clock_skew`` how far in the future
    ``iat`` may be before it counts as not in the past.
    """
    _check_keys(keys)
    if not signature:
        raise SignatureMissingError("the x-jws-signature header is missing")
    parts = signature.split(".")
    if len(parts) != 3 or parts[1]:
        raise SignatureMismatchError("x-jws-signature must be a detached JWS (header..sig)")
    header = _decode_header(parts[0])
    _check_ob_claims(header, iss=iss, tan=tan, now=now, version=version, clock_skew=clock_skew)
    if not parts[0] or not parts[2]:  # what verify_compact would refuse; the header is decoded
        raise SignatureMismatchError("not a compact JWS: expected header.payload.signature")
    return _verify_parts(parts, header, keys, algorithms, body, _OB_CLAIMS).header


@attrs.frozen(kw_only=True)
class OBJwsSigner:
    """A client ``RequestSigner`` that adds ``x-jws-signature`` over the exact body bytes.

    Requests without a body (GETs) pass through unchanged: OB signs only payloads.
    """

    key: JwsSigningKey = attrs.field(repr=False)
    kid: str
    iss: str
    tan: str = "openbanking.org.uk"
    version: OBVersion = OBVersion.V3_1_4
    alg: str = "PS256"

    @key.validator
    def _usable(self, _: object, key: JwsSigningKey) -> None:
        _signing_key(key)

    header_name: str = "x-jws-signature"

    def sign(self, body: bytes, now: datetime) -> str:
        return sign_ob_detached(
            body,
            self.key,
            kid=self.kid,
            iss=self.iss,
            now=now,
            tan=self.tan,
            version=self.version,
            alg=self.alg,
        )

    def __call__(self, request: PreparedRequest, url: str, now: datetime) -> PreparedRequest:
        if request.body is None:
            return request
        return request.with_headers({self.header_name: self.sign(request.body, now)})


@attrs.frozen(kw_only=True)
class OBJwsVerifier:
    """A client ``ResponseVerifier`` (and mock-bank request check) for ``x-jws-signature``.

    ``keys`` maps each trusted ``kid`` to its public key or certificate (for example the
    bank's keys from the OB Directory JWKS). ES256 is accepted only when listed in
    ``algorithms``.
    """

    keys: Mapping[str, JwsVerifyingKey] | KeyRing = attrs.field(repr=False)
    iss: str

    @keys.validator
    def _usable(self, _: object, keys: object) -> None:
        _check_keys(keys)

    tan: str = "openbanking.org.uk"
    version: OBVersion = OBVersion.V3_1_4
    algorithms: frozenset[str] = frozenset({"PS256"})
    clock_skew: timedelta = timedelta(seconds=30)
    header_name: str = "x-jws-signature"

    def verify(self, signature: str | None, body: bytes, now: datetime) -> Mapping[str, Any]:
        return verify_ob_detached(
            signature,
            body,
            keys=self.keys,
            iss=self.iss,
            now=now,
            tan=self.tan,
            version=self.version,
            algorithms=self.algorithms,
            clock_skew=self.clock_skew,
        )

    def __call__(self, response: RawResponse, now: datetime) -> None:
        self.verify(response.header(self.header_name), response.body, now)
