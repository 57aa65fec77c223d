"""draft-cavage-http-signatures-12 and the Berlin Group NextGenPSD2 profile of it.

The ``Signature`` header carries ``keyId``, ``algorithm``, ``headers`` and ``signature``; the
signing string is one ``name: value`` line per listed header, joined by LF. Berlin Group adds
an RFC 3230 ``Digest``, a ``TPP-Signature-Certificate`` (base64 DER) and a ``keyId`` derived
from that certificate, ``SN=<serial hex>,CA=<issuer DN>``.

:class:`CavageSigner` / :class:`CavageVerifier` are the generic scheme (keys by ``keyId``);
:class:`BerlinGroupSigner` / :class:`BerlinGroupVerifier` add the XS2A rules and check in the
order the reference ASPSP does: headers present, digest, certificate, keyId, coverage,
signature.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterable
from email.utils import format_datetime
from typing import Final
from urllib.parse import unquote

import attrs
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding

from walletlink.errors import (
    AlgorithmNotAllowedError,
    CertificateMismatchError,
    SignatureError,
    SignatureExpiredError,
    SignatureMissingError,
)
from walletlink.http import PreparedRequest
from walletlink.signing._algorithms import Algorithm, algorithm
from walletlink.signing._b64 import b64decode
from walletlink.signing._keyinput import keyring, signing_key
from walletlink.signing._message import HttpMessage, replace_headers
from walletlink.signing.digest import legacy_digest, verify_legacy_digest
from walletlink.signing.keys import KeyRing, KeyType, SigningKey, load_der

__all__ = [
    "BerlinGroupSigner",
    "BerlinGroupVerifier",
    "CavageSignature",
    "CavageSigner",
    "CavageVerifier",
    "VerifiedTppSignature",
    "berlin_group_key_id",
    "check_key_id",
    "parse_signature_header",
    "resolve_algorithm",
    "sign_cavage",
    "signing_string",
]

# Names in the wild → the primitive in _algorithms. All RSA ones are PKCS#1 v1.5.
_NAMED: Final[dict[str, str]] = {
    "rsa-sha256": "rsa-v1_5-sha256",
    "sha-256withrsa": "rsa-v1_5-sha256",
    "sha256withrsa": "rsa-v1_5-sha256",
    "rsa-sha512": "rsa-v1_5-sha512",
    "sha-512withrsa": "rsa-v1_5-sha512",
    "sha512withrsa": "rsa-v1_5-sha512",
    "hmac-sha256": "hmac-sha256",
}
# hs2019: the key decides; draft-12 fixes SHA-512 for the signing-string hash.
_HS2019: Final[dict[KeyType, str]] = {
    KeyType.RSA: "rsa-pss-sha512",
    KeyType.ED25519: "ed25519",
    KeyType.OCT: "hmac-sha512",
}
# The quoted value is the unrolled form of ``"(?:[^"\\]|\\.)*"``: the same strings, matched by
# runs instead of one alternation per character (a signature is ~350 characters).
_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*("[^"\\]*(?:\\.[^"\\]*)*"|-?[0-9]+)\s*(,|$)')


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def resolve_algorithm(name: str, key: SigningKey) -> Algorithm:
    """The primitive for cavage algorithm ``name`` with ``key``; type mismatches are refused."""
    lowered = name.lower()
    if lowered == "hs2019":
        found = _HS2019.get(key.key_type)
        if found is None:
            raise AlgorithmNotAllowedError(f"hs2019 is not supported for {key.key_type.value}")
        chosen = algorithm(found)
    elif lowered in _NAMED:
        chosen = algorithm(_NAMED[lowered])
    else:
        raise AlgorithmNotAllowedError(f"cavage algorithm {name[:40]!r} is not supported")
    chosen.check_key(key)
    return chosen


@attrs.frozen(kw_only=True)
class CavageSignature:
    """The parsed parameters of one ``Signature`` header."""

    key_id: str
    algorithm: str | None
    headers: tuple[str, ...]
    signature: bytes = attrs.field(repr=False)
    created: int | None = None
    expires: int | None = None

    def to_header(self) -> str:
        parts = [f'keyId="{self.key_id}"']
        if self.algorithm:
            parts.append(f'algorithm="{self.algorithm}"')
        if self.created is not None:
            parts.append(f"created={self.created}")
        if self.expires is not None:
            parts.append(f"expires={self.expires}")
        parts.append(f'headers="{" ".join(self.headers)}"')
        parts.append(f'signature="{base64.b64encode(self.signature).decode()}"')
        return ",".join(parts)


def _default_headers(algorithm_name: str | None) -> tuple[str, ...]:
    # -12 defaults to (created), which rsa-*/hmac-* may not use; older drafts and banks: date.
    return ("(created)",) if (algorithm_name or "").lower() == "hs2019" else ("date",)


_QUOTED_NAME = re.compile(r"(,?)([A-Za-z]+)=")


def _split_quoted(value: str) -> dict[str, str] | None:
    """``name="value"`` pairs joined by ``,``, no spaces, no escapes: what signers write.

    Without a backslash every ``"`` delimits a value, so ``str.split`` finds them all at
    C speed; any other shape returns ``None`` for the general pattern to parse (and reject).
    """
    if "\\" in value:
        return None
    parts = value.split('"')
    if len(parts) < 3 or len(parts) % 2 == 0 or parts[-1]:
        return None
    params: dict[str, str] = {}
    for index in range(0, len(parts) - 1, 2):
        match = _QUOTED_NAME.fullmatch(parts[index])
        if match is None or match.group(1) != ("," if index else ""):
            return None
        name = match.group(2)
        if name in params:
            return None
        params[name] = parts[index + 1]
    return params


def _split_params(value: str) -> dict[str, str]:
    fast = _split_quoted(value)
    if fast is not None:
        return fast
    params: dict[str, str] = {}
    pos = 0
    while pos < len(value):
        match = _PARAM.match(value, pos)
        if match is None:
            raise SignatureError(f"malformed Signature header near offset {pos}")
        name, raw = match.group(1), match.group(2)
        if name in params:
            raise SignatureError(f"Signature header repeats {name!r}")
        params[name] = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
        pos = match.end()
        if match.group(3) == "" and pos < len(value):
            raise SignatureError("malformed Signature header")
    return params


def parse_signature_header(value: str) -> CavageSignature:
    """Parse a ``Signature`` (or ``Authorization: Signature …``) value; lenient on spaces."""
    text = value.strip()
    if text[:10].lower() == "signature ":
        text = text[10:]
    params = _split_params(text)
    for required in ("keyId", "signature"):
        if not params.get(required):
            raise SignatureMissingError(f"Signature header has no {required}")
    try:
        signature = b64decode(params["signature"])
    except ValueError:  # not canonical base64, or a non-ASCII character
        raise SignatureError("Signature header signature is not base64") from None
    headers = tuple(params["headers"].lower().split()) if "headers" in params else ()
    if "headers" in params and not headers:
        raise SignatureError("Signature header lists no headers")
    try:
        created = int(params["created"]) if "created" in params else None
        expires = int(params["expires"]) if "expires" in params else None
    except ValueError:
        raise SignatureError("created/expires must be integers") from None
    algorithm_name = params.get("algorithm")
    return CavageSignature(
        key_id=params["keyId"],
        algorithm=algorithm_name,
        headers=headers or _default_headers(algorithm_name),
        signature=signature,
        created=created,
        expires=expires,
    )


def _pseudo(name: str, value: int | None, algorithm_name: str | None) -> str:
    if (algorithm_name or "").lower().startswith(("rsa", "hmac", "ecdsa")):
        raise SignatureError(f"{name} may not be used with algorithm {algorithm_name!r}")
    if value is None:
        raise SignatureMissingError(f"{name} is listed but the parameter is absent")
    return f"{name}: {value}"


def signing_string(
    message: HttpMessage,
    headers: Iterable[str],
    *,
    algorithm_name: str | None = None,
    created: int | None = None,
    expires: int | None = None,
) -> bytes:
    """The draft-cavage-12 §2.3 signing string: ``name: value`` lines joined by LF."""
    lines = []
    for raw_name in headers:
        name = raw_name.lower()
        if name == "(request-target)":
            if message.method is None:
                raise SignatureError("(request-target) applies to requests")
            target = message.target.request_target
            lines.append(f"{name}: {message.method.lower()} {target}")
        elif name == "(created)":
            lines.append(_pseudo(name, created, algorithm_name))
        elif name == "(expires)":
            lines.append(_pseudo(name, expires, algorithm_name))
        else:
            value = message.header(name)
            if value is None:
                raise SignatureMissingError(f"signed header {name!r} is missing")
            lines.append(f"{name}: {value}")
    text = "\n".join(lines)
    if "\r" in text or not text.isascii():
        raise SignatureError("signing string must be ASCII without CR")
    return text.encode("ascii")


def sign_cavage(
    message: HttpMessage,
    key: SigningKey,
    *,
    headers: tuple[str, ...],
    algorithm_name: str = "rsa-sha256",
    key_id: str | None = None,
    created: int | None = None,
    expires: int | None = None,
) -> CavageSignature:
    """Sign ``message`` over ``headers`` and return the header parameters."""
    key = signing_key(key, "draft-cavage signing")
    chosen = resolve_algorithm(algorithm_name, key)
    base = signing_string(
        message, headers, algorithm_name=algorithm_name, created=created, expires=expires
    )
    return CavageSignature(
        key_id=key_id or key.kid,
        algorithm=algorithm_name,
        headers=tuple(h.lower() for h in headers),
        signature=chosen.sign(key, base),
        created=created,
        expires=expires,
    )


def _cavage_key(key: SigningKey) -> SigningKey:
    return signing_key(key, "CavageSigner")


def _cavage_keys(keys: KeyRing | SigningKey) -> KeyRing:
    return keyring(keys, "CavageVerifier")


def _berlin_key(key: SigningKey) -> SigningKey:
    return signing_key(key, "BerlinGroupSigner")


def _trusted_keys(keys: KeyRing | SigningKey | None) -> KeyRing | None:
    return None if keys is None else keyring(keys, "BerlinGroupVerifier")


def _signature_of(message: HttpMessage) -> CavageSignature:
    value = message.header("Signature")
    if value is None:
        auth = message.header("Authorization") or ""
        value = auth if auth[:10].lower() == "signature " else None
    if value is None:
        raise SignatureMissingError("Signature header is missing")
    return parse_signature_header(value)


@attrs.frozen(kw_only=True)
class CavageSigner:
    """Generic draft-cavage signer (``keyId`` = the key's kid); a client ``RequestSigner``."""

    key: SigningKey = attrs.field(converter=_cavage_key)
    algorithm: str = "rsa-sha256"
    headers: tuple[str, ...] = ("(request-target)", "host", "date")
    digest: str | None = "SHA-256"

    def signature_headers(self, message: HttpMessage, now: dt.datetime) -> dict[str, str]:
        added: dict[str, str] = {}
        if "date" in self.headers and not message.has_header("Date"):
            added["Date"] = format_datetime(now.astimezone(dt.UTC), usegmt=True)
        if "host" in self.headers and not message.has_header("Host"):
            added["Host"] = message.target.authority
        if self.digest and message.body is not None:
            added["Digest"] = legacy_digest(message.body, self.digest)
        message = message.with_headers(added)
        headers = self.headers + (("digest",) if "Digest" in added else ())
        signed = sign_cavage(message, self.key, headers=headers, algorithm_name=self.algorithm)
        return {**added, "Signature": signed.to_header()}

    def __call__(self, request: PreparedRequest, url: str, now: dt.datetime) -> PreparedRequest:
        added = self.signature_headers(HttpMessage.from_request(request, url), now)
        return attrs.evolve(request, headers=replace_headers(request.headers, added))


def _check_times(signature: CavageSignature, now: dt.datetime, max_age: dt.timedelta) -> None:
    stamp = now.timestamp()
    if signature.created is not None and signature.created > stamp + 30:
        raise SignatureExpiredError("signature was created in the future")
    if signature.created is not None and stamp - signature.created > max_age.total_seconds():
        raise SignatureExpiredError("signature is older than the max age")
    if signature.expires is not None and stamp > signature.expires:
        raise SignatureExpiredError("signature has expired")


@attrs.frozen(kw_only=True)
class CavageVerifier:
    """Generic draft-cavage verifier: the key comes from ``keys`` by ``keyId``.

    The algorithm is the key's (``alg`` hint, ``hs2019`` semantics otherwise); a declared
    ``algorithm`` that contradicts it is an :class:`AlgorithmNotAllowedError`.
    """

    keys: KeyRing = attrs.field(converter=_cavage_keys)
    required_headers: tuple[str, ...] = ()
    max_age: dt.timedelta = dt.timedelta(minutes=5)
    clock: Callable[[], dt.datetime] = _utc_now

    def verify(self, message: HttpMessage, now: dt.datetime | None = None) -> CavageSignature:
        signature = _signature_of(message)
        _require_covered(signature, self.required_headers)
        _check_times(signature, now or self.clock(), self.max_age)
        key = self.keys.get(signature.key_id)
        declared = signature.algorithm or "hs2019"
        chosen = resolve_algorithm(declared, key)
        if key.alg is not None and chosen.name != key.alg:
            raise AlgorithmNotAllowedError(
                f"algorithm {declared!r} contradicts key {key.kid!r} ({key.alg})"
            )
        base = signing_string(
            message,
            signature.headers,
            algorithm_name=signature.algorithm,
            created=signature.created,
            expires=signature.expires,
        )
        chosen.verify(key, base, signature.signature)
        return signature


def _require_covered(signature: CavageSignature, required: Iterable[str]) -> None:
    missing = [name for name in required if name.lower() not in signature.headers]
    if missing:
        raise SignatureMissingError(f"signature does not cover {', '.join(missing)}")


# --------------------------------------------------------------------------- Berlin Group


def berlin_group_key_id(certificate: x509.Certificate, *, uppercase_serial: bool = False) -> str:
    """``SN=<serial hex>,CA=<issuer DN>`` as the XS2A reference implementation builds it.

    The serial is hex without leading zeros (lower-case unless ``uppercase_serial``), the
    issuer is the RFC 4514 string with spaces written ``%20``.
    """
    serial = (
        f"{certificate.serial_number:X}" if uppercase_serial else (f"{certificate.serial_number:x}")
    )
    return f"SN={serial},CA={certificate.issuer.rfc4514_string().replace(' ', '%20')}"


_KEY_ID = re.compile(r"^SN=([0-9A-Fa-f]+),CA=(.+)$")
_DN_SPLIT = re.compile(r"(?<!\\),")


def _dn_parts(dn: str) -> list[tuple[str, str]]:
    parts = []
    for rdn in _DN_SPLIT.split(dn):
        name, sep, value = rdn.partition("=")
        if not sep:
            raise CertificateMismatchError("keyId CA is not a distinguished name")
        parts.append((name.strip().upper(), value.strip().lower()))
    return parts


def check_key_id(key_id: str, certificate: x509.Certificate) -> None:
    """Raise :class:`CertificateMismatchError` unless ``key_id`` names ``certificate``.

    Tolerant of the spellings seen in the wild: hex case, ``%20`` or spaces, attribute case.
    """
    match = _KEY_ID.match(key_id.strip())
    if match is None:
        raise CertificateMismatchError("keyId is not of the form SN=<hex>,CA=<issuer>")
    if int(match.group(1), 16) != certificate.serial_number:
        raise CertificateMismatchError("keyId serial does not match the certificate")
    issuer = certificate.issuer.rfc4514_string()
    if _dn_parts(unquote(match.group(2))) != _dn_parts(issuer):
        raise CertificateMismatchError("keyId CA does not match the certificate issuer")


def _certificate_header(certificate: x509.Certificate) -> str:
    return base64.b64encode(certificate.public_bytes(Encoding.DER)).decode()


def _parse_certificate(value: str) -> x509.Certificate:
    try:
        if "-----BEGIN" in value:
            certificate = x509.load_pem_x509_certificate(value.encode())
        else:
            certificate = x509.load_der_x509_certificate(b64decode(value))
        # cryptography parses these lazily: read them now, so a malformed key or name is
        # refused here rather than raised later from the key id check or the key loader.
        certificate.public_key()
        certificate.issuer.rfc4514_string()
        certificate.subject.rfc4514_string()
    except (ValueError, UnsupportedAlgorithm):
        raise SignatureError("TPP-Signature-Certificate is not a certificate") from None
    return certificate


_CONDITIONAL: Final = ("psu-id", "psu-corporate-id", "tpp-redirect-uri")
_MANDATORY: Final = ("digest", "x-request-id")


def _berlin_required(message: HttpMessage) -> tuple[str, ...]:
    return _MANDATORY + tuple(name for name in _CONDITIONAL if message.has_header(name))


@attrs.frozen(kw_only=True)
class BerlinGroupSigner:
    """Signs XS2A requests with a QSealC key; a client ``RequestSigner``.

    Adds ``Digest``, ``X-Request-ID`` (when the adapter set none), ``Date`` (when covered and
    absent), ``TPP-Signature-Certificate`` and ``Signature`` over ``digest x-request-id``,
    the conditional ``psu-id`` / ``psu-corporate-id`` / ``tpp-redirect-uri`` when sent, and
    ``extra_headers``.
    """

    key: SigningKey = attrs.field(converter=_berlin_key)
    algorithm: str = "rsa-sha256"
    digest: str = "SHA-256"
    extra_headers: tuple[str, ...] = ("date",)
    uppercase_serial: bool = False
    request_id_factory: Callable[[], str] = lambda: str(uuid.uuid4())

    @key.validator
    def _has_certificate(self, _: object, key: SigningKey) -> None:
        if key.certificate is None or key.private_key is None:
            raise SignatureError(f"key {key.kid!r}: Berlin Group signing needs key + certificate")

    def signature_headers(self, message: HttpMessage, now: dt.datetime) -> dict[str, str]:
        assert self.key.certificate is not None  # checked by the validator
        added = {"Digest": legacy_digest(message.body, self.digest)}
        if not message.has_header("X-Request-ID"):
            added["X-Request-ID"] = self.request_id_factory()
        if "date" in self.extra_headers and not message.has_header("Date"):
            added["Date"] = format_datetime(now.astimezone(dt.UTC), usegmt=True)
        added["TPP-Signature-Certificate"] = _certificate_header(self.key.certificate)
        message = message.with_headers(added)
        headers = _berlin_required(message) + tuple(
            h for h in self.extra_headers if h not in _berlin_required(message)
        )
        signed = sign_cavage(
            message,
            self.key,
            headers=headers,
            algorithm_name=self.algorithm,
            key_id=berlin_group_key_id(
                self.key.certificate, uppercase_serial=self.uppercase_serial
            ),
        )
        return {**added, "Signature": signed.to_header()}

    def __call__(self, request: PreparedRequest, url: str, now: dt.datetime) -> PreparedRequest:
        added = self.signature_headers(HttpMessage.from_request(request, url), now)
        return attrs.evolve(request, headers=replace_headers(request.headers, added))


@attrs.frozen
class VerifiedTppSignature:
    """A Berlin Group signature that verified, and the certificate it was made with."""

    signature: CavageSignature
    certificate: x509.Certificate


@attrs.frozen(kw_only=True)
class BerlinGroupVerifier:
    """What an ASPSP (a mock bank) runs on an incoming signed XS2A request.

    ``trusted`` (optional) restricts certificates to those in the ring, matched by serial and
    issuer; without it any parseable certificate is accepted, as sandboxes do.
    """

    trusted: KeyRing | None = attrs.field(default=None, converter=_trusted_keys)
    extra_required: tuple[str, ...] = ()
    allowed_algorithms: frozenset[str] = frozenset(_NAMED) - {"hmac-sha256"}

    def verify(self, message: HttpMessage) -> VerifiedTppSignature:
        for name in ("Digest", "Signature", "TPP-Signature-Certificate"):
            if not message.has_header(name):
                raise SignatureMissingError(f"{name} header is missing")
        verify_legacy_digest(message.header("Digest"), message.body)
        certificate = _parse_certificate(message.header("TPP-Signature-Certificate") or "")
        signature = _signature_of(message)
        check_key_id(signature.key_id, certificate)
        key = self._key_for(certificate)
        _require_covered(signature, _berlin_required(message) + self.extra_required)
        name = (signature.algorithm or "").lower()
        if name not in self.allowed_algorithms:
            raise AlgorithmNotAllowedError(f"algorithm {name[:40]!r} is not allowed for XS2A")
        base = signing_string(message, signature.headers, algorithm_name=signature.algorithm)
        resolve_algorithm(name, key).verify(key, base, signature.signature)
        return VerifiedTppSignature(signature, certificate)

    def _key_for(self, certificate: x509.Certificate) -> SigningKey:
        sent = load_der(
            certificate.public_bytes(Encoding.DER), kid=berlin_group_key_id(certificate)
        )
        if self.trusted is None:
            return sent
        known = self.trusted.find_certificate(certificate.serial_number, certificate.issuer)
        if known.certificate != certificate:
            raise CertificateMismatchError("certificate differs from the trusted one")
        return sent
