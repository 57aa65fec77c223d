"""Sorted-parameter signing: Alipay and the Chinese bank open-platform family.

The signed content is ``k=v&k=v…`` over the parameters sorted by key (ASCII order), values
raw (not URL-encoded), empty values and ``sign`` left out. Two rules differ by direction:

* a **request** keeps ``sign_type`` in the content;
* an **async notification** drops both ``sign`` and ``sign_type`` (Alipay ``rsaCheckV1``).

``RSA2`` is SHA256withRSA (PKCS#1 v1.5); the legacy ``RSA`` (SHA1withRSA) can only be
*verified*, and only when the caller opts in. A **sync response** is verified over the exact
raw text of its ``<method>_response`` (or ``error_response``) member as it appears in the
body, found by scanning the raw JSON, never by re-serialising a parsed dict.

``biz_content`` encryption is AES-CBC with PKCS#7 padding, a zero IV and base64, keyed by
the base64 AES key from the open-platform console (AES-128; 192/256 accepted).

The gateway side has public signers too (:func:`sign_notification`,
:func:`sign_sync_response`), so a mock gateway and the tests build messages with the very
rules the verifiers check. In **public-key certificate mode** requests also carry
``app_cert_sn`` and ``alipay_root_cert_sn`` and replies ``alipay_cert_sn``: those SNs are
:func:`alipay_cert_sn` and :func:`alipay_root_cert_sn`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import SignatureAlgorithmOID

from walletlink.errors import (
    AlgorithmNotAllowedError,
    ConfigurationError,
    ParseError,
    SignatureMismatchError,
    SignatureMissingError,
)
from walletlink.signing._b64 import b64decode, b64encode
from walletlink.signing._keyinput import RsaPrivateInput, RsaPublicInput, rsa_private, rsa_public

__all__ = [
    "CHINA_TZ",
    "VerifiedResponse",
    "alipay_cert_sn",
    "alipay_request_params",
    "alipay_root_cert_sn",
    "china_timestamp",
    "decrypt_content",
    "encrypt_content",
    "notification_content",
    "parse_china_timestamp",
    "sign_content",
    "sign_notification",
    "sign_params",
    "sign_sync_response",
    "verify_content",
    "verify_notification",
    "verify_notification_form",
    "verify_sync_response",
]

#: China Standard Time: a fixed UTC+8 with no daylight saving, so no tz database is needed.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
_CHINA_FORMAT = "%Y-%m-%d %H:%M:%S"

_PKCS1 = padding.PKCS1v15()
_HASHES: dict[str, hashes.HashAlgorithm] = {"RSA2": hashes.SHA256(), "RSA": hashes.SHA1()}  # noqa: S303 - legacy RSA is verify-only and opt-in


def china_timestamp(now: datetime) -> str:
    """``now`` as Alipay's ``timestamp`` parameter: ``yyyy-MM-dd HH:mm:ss`` in China time."""
    if now.tzinfo is None:
        raise ConfigurationError("china_timestamp needs an aware datetime")
    return now.astimezone(CHINA_TZ).strftime(_CHINA_FORMAT)


def parse_china_timestamp(text: str) -> datetime:
    """Parse ``yyyy-MM-dd HH:mm:ss`` (China time) into an aware datetime."""
    try:
        return datetime.strptime(text, _CHINA_FORMAT).replace(tzinfo=CHINA_TZ)
    except ValueError:
        raise ParseError(f"not a yyyy-MM-dd HH:mm:ss timestamp: {text[:40]!r}") from None


def _text(value: object) -> str:
    # Non-string values (a biz_content dict, a number) are sent as compact JSON.
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def sign_content(
    params: Mapping[str, object], *, exclude: frozenset[str] = frozenset({"sign"})
) -> str:
    """The request sign content: sorted ``k=v`` joined by ``&``; ``sign_type`` included."""
    items = [
        (k, v if isinstance(v, str) else _text(v))
        for k, v in params.items()
        if k not in exclude and v is not None
    ]
    items.sort()
    return "&".join([f"{k}={v}" for k, v in items if v != ""])


_NOTIFICATION_EXCLUDE = frozenset({"sign", "sign_type"})


def notification_content(params: Mapping[str, object]) -> str:
    """The async-notification content: like :func:`sign_content` minus ``sign_type``."""
    return sign_content(params, exclude=_NOTIFICATION_EXCLUDE)


def _encode(content: str, charset: str) -> bytes:
    try:
        return content.encode(charset)
    except LookupError:
        raise ConfigurationError(f"unknown charset {charset!r}") from None
    except UnicodeEncodeError:
        raise ConfigurationError(f"the content cannot be encoded as {charset}") from None


def sign_params(
    params: Mapping[str, object], key: RsaPrivateInput, *, charset: str = "utf-8"
) -> dict[str, str]:
    """Return ``params`` as strings with ``sign_type`` (``RSA2``) and ``sign`` added.

    Signing with the legacy SHA-1 ``RSA`` is refused: new signatures are RSA2 only.
    """
    private = rsa_private(key, "RSA2 signing")
    out = {k: _text(v) for k, v in params.items() if v is not None and k != "sign"}
    sign_type = out.setdefault("sign_type", "RSA2")
    if sign_type != "RSA2":
        raise AlgorithmNotAllowedError(f"signing with sign_type {sign_type!r} is refused; use RSA2")
    data = _encode(sign_content(out), charset)
    out["sign"] = b64encode(private.sign(data, _PKCS1, _HASHES["RSA2"]))
    return out


def sign_notification(
    params: Mapping[str, object], key: RsaPrivateInput, *, charset: str = "utf-8"
) -> dict[str, str]:
    """The gateway's side of :func:`verify_notification`: ``params`` as strings with
    ``sign_type`` (``RSA2``) and a ``sign`` over :func:`notification_content`."""
    private = rsa_private(key, "RSA2 signing")
    out = {k: _text(v) for k, v in params.items() if v is not None and k != "sign"}
    if out.setdefault("sign_type", "RSA2") != "RSA2":
        raise AlgorithmNotAllowedError("notifications are signed with RSA2 only")
    data = _encode(notification_content(out), charset)
    out["sign"] = b64encode(private.sign(data, _PKCS1, _HASHES["RSA2"]))
    return out


def sign_sync_response(
    method: str | None,
    node: Mapping[str, Any],
    key: RsaPrivateInput,
    *,
    encrypt_key: str | None = None,
    cert_sn: str | None = None,
    charset: str = "utf-8",
) -> bytes:
    """The gateway's side of :func:`verify_sync_response`: the reply body for ``method``.

    ``{"<method>_response": <node>, "alipay_cert_sn": …, "sign": …}``: the node is compact
    JSON (or, with ``encrypt_key``, the JSON string of its AES ciphertext), and ``sign`` is
    RSA2 over exactly that text. ``method=None`` answers as ``error_response``.
    ``cert_sn`` (certificate mode) names the gateway certificate that signed it.
    """
    private = rsa_private(key, "RSA2 signing")
    name = method.replace(".", "_") + "_response" if method else "error_response"
    text = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
    if encrypt_key is not None:
        text = json.dumps(encrypt_content(text, encrypt_key, charset=charset))
    signature = b64encode(private.sign(_encode(text, charset), _PKCS1, _HASHES["RSA2"]))
    members = [f"{json.dumps(name)}:{text}"]
    if cert_sn is not None:
        members.append(f'"alipay_cert_sn":{json.dumps(cert_sn)}')
    members.append(f'"sign":"{signature}"')
    return ("{" + ",".join(members) + "}").encode(charset)


def verify_content(
    content: str,
    signature: str | None,
    key: RsaPublicInput,
    *,
    sign_type: str = "RSA2",
    charset: str = "utf-8",
    allow_legacy_rsa: bool = False,
) -> None:
    """Raise unless ``signature`` (base64) is a valid ``sign_type`` signature of ``content``."""
    public = rsa_public(key, "RSA2 verification")
    if not signature:
        raise SignatureMissingError("the 'sign' parameter is missing")
    if sign_type not in _HASHES or (sign_type == "RSA" and not allow_legacy_rsa):
        raise AlgorithmNotAllowedError(f"sign_type {sign_type!r} is not allowed")
    try:
        public.verify(b64decode(signature), _encode(content, charset), _PKCS1, _HASHES[sign_type])
    except (ValueError, InvalidSignature):
        raise SignatureMismatchError(f"the {sign_type} signature does not verify") from None


def verify_notification(
    params: Mapping[str, str], key: RsaPublicInput, *, allow_legacy_rsa: bool = False
) -> None:
    """Verify a decoded async notification (``rsaCheckV1``: no ``sign``, no ``sign_type``)."""
    verify_content(
        notification_content(params),
        params.get("sign"),
        key,
        sign_type=params.get("sign_type") or "RSA2",
        charset=params.get("charset") or "utf-8",
        allow_legacy_rsa=allow_legacy_rsa,
    )


def verify_notification_form(
    body: bytes, key: RsaPublicInput, *, allow_legacy_rsa: bool = False
) -> dict[str, str]:
    """Form-decode a notification body, verify it, and return its parameters."""
    rsa_public(key, "RSA2 verification")  # before parsing: a wrong key is a setup error
    try:
        pairs = parse_qsl(
            body.decode("ascii"), keep_blank_values=True, strict_parsing=True, errors="strict"
        )
    except (UnicodeDecodeError, ValueError):
        raise ParseError("the notification is not application/x-www-form-urlencoded") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise SignatureMismatchError(f"the notification repeats {name!r}")
        params[name] = value
    verify_notification(params, key, allow_legacy_rsa=allow_legacy_rsa)
    return params


# --------------------------------------------------------------------------- sync responses

_DECODER = json.JSONDecoder()
_WS = " \t\n\r"


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WS:
        index += 1
    return index


def _members(text: str) -> Iterator[tuple[str, int, int, Any]]:
    """Yield each top-level member as (name, start, end, value) with its raw text span."""
    index = _skip(text, 0)
    if not text.startswith("{", index):
        raise ParseError("the response is not a JSON object", position=f"offset {index}")
    index = _skip(text, index + 1)
    if text.startswith("}", index):
        return
    while True:
        try:
            if not text.startswith('"', index):
                raise ValueError
            name, index = _DECODER.raw_decode(text, index)
            index = _skip(text, index)
            if not text.startswith(":", index):
                raise ValueError
            start = _skip(text, index + 1)
            value, end = _DECODER.raw_decode(text, start)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
            raise ParseError("malformed JSON in the response", position=f"offset {index}") from None
        yield name, start, end, value
        index = _skip(text, end)
        if text.startswith(",", index):
            index = _skip(text, index + 1)
        elif text.startswith("}", index) and not text[_skip(text, index + 1) :]:
            return
        else:
            raise ParseError("malformed JSON in the response", position=f"offset {index}")


@attrs.frozen(kw_only=True)
class VerifiedResponse:
    """A sync response: which node answered, its parsed content, and whether it was signed.

    ``signed`` is ``False`` only for an unsigned ``error_response`` (the gateway cannot sign
    when it does not know the app); its content is then a rejection, never trusted data.
    """

    node: str
    content: Any
    signed: bool
    #: The reply's ``alipay_cert_sn`` (certificate mode): which gateway certificate signed it.
    cert_sn: str | None = None


def verify_sync_response(
    raw: bytes | str,
    method: str,
    key: RsaPublicInput | Mapping[str, RsaPublicInput],
    *,
    charset: str = "utf-8",
    allow_unsigned_error: bool = True,
) -> VerifiedResponse:
    """Verify ``{"<method>_response": {...}, "sign": "..."}`` over the raw member text.

    ``key`` may be a mapping of gateway certificate SN → key (certificate mode): the reply's
    ``alipay_cert_sn`` then chooses the key, and an SN not in the mapping is refused (the
    gateway has rotated to a certificate the caller has not installed).
    """
    keys = (
        {sn: rsa_public(k, "RSA2 verification") for sn, k in key.items()}
        if isinstance(key, Mapping)
        else None
    )
    if keys is None:
        key = rsa_public(key, "RSA2 verification")  # even for an unsigned error reply
    try:
        text = raw.decode(charset) if isinstance(raw, bytes) else raw
    except (UnicodeDecodeError, LookupError):
        raise ParseError(f"the response is not {charset} text") from None
    node_name = method.replace(".", "_") + "_response"
    found: dict[str, tuple[str, Any]] = {}
    for name, start, end, value in _members(text):
        if name in found:
            # Two nodes of the same name would let one be verified and the other be used.
            raise SignatureMismatchError(f"the response repeats {name!r}")
        found[name] = (text[start:end], value)
    node = node_name if node_name in found else "error_response"
    if node not in found:
        raise ParseError(f"the response has neither {node_name!r} nor 'error_response'")
    raw_node, content = found[node]
    sign = found.get("sign", ("", None))[1]
    if sign is None and node == "error_response" and allow_unsigned_error:
        return VerifiedResponse(node=node, content=content, signed=False)
    if not isinstance(sign, str):
        raise SignatureMissingError(f"the {node} carries no string 'sign'")
    cert_sn = found.get("alipay_cert_sn", ("", None))[1]
    if cert_sn is not None and not isinstance(cert_sn, str):
        raise ParseError("'alipay_cert_sn' is not a string")
    if keys is not None:
        if cert_sn is None:
            raise SignatureMissingError("the reply names no alipay_cert_sn (certificate mode)")
        if cert_sn not in keys:
            raise SignatureMismatchError(
                f"the reply is signed with gateway certificate {cert_sn[:40]!r}, which is not "
                "installed: download the gateway's new certificate and add it"
            )
        key = keys[cert_sn]
    verify_content(raw_node, sign, key, charset=charset)  # type: ignore[arg-type]
    return VerifiedResponse(node=node, content=content, signed=True, cert_sn=cert_sn)


# --------------------------------------------------------------------------- certificate SNs

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----")
# The root chain's certificates that count for alipay_root_cert_sn, as the official SDKs
# filter them: RSA-signed ones only (the chain also holds SM2 and ECDSA roots).
_ROOT_SN_ALGORITHMS = frozenset(
    {
        SignatureAlgorithmOID.RSA_WITH_SHA1.dotted_string,
        SignatureAlgorithmOID.RSA_WITH_SHA256.dotted_string,
    }
)


def alipay_cert_sn(cert: x509.Certificate) -> str:
    """A certificate's SN as the gateway computes it: the MD5 (hex) of the issuer DN and the
    decimal serial number.

    The DN is written as Java's ``X500Principal.getName()`` (RFC 2253) writes it, which is
    how the official SDKs build it: RDNs in reverse order, ``CN=…,OU=…,O=…,C=…``, no spaces.
    """
    text = cert.issuer.rfc4514_string() + str(cert.serial_number)
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _der_header(data: bytes, index: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at ``index``."""
    if index + 2 > len(data):
        raise ValueError
    tag, length = data[index], data[index + 1]
    index += 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4 or index + size > len(data):
            raise ValueError
        length = int.from_bytes(data[index : index + size], "big")
        index += size
    if index + length > len(data):
        raise ValueError
    return tag, index, index + length


def _signature_oid(der: bytes) -> str:
    """The outer signatureAlgorithm OID, read without parsing the rest: the root chain holds
    certificates ``cryptography`` refuses (an ECDSA root with NULL parameters)."""
    _, body, _ = _der_header(der, 0)  # Certificate
    _, _, tbs_end = _der_header(der, body)  # tbsCertificate
    _, alg, _ = _der_header(der, tbs_end)  # signatureAlgorithm
    tag, start, end = _der_header(der, alg)
    if tag != 0x06:
        raise ValueError
    return _oid_text(der[start:end])


def _oid_text(content: bytes) -> str:
    if not content or content[-1] & 0x80:  # empty, or its last arc never ends
        raise ValueError
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(n) for n in [first, arcs[0] - 40 * first, *arcs[1:]])


def alipay_root_cert_sn(chain_pem: str | bytes) -> str:
    """``alipay_root_cert_sn``: the ``_``-joined :func:`alipay_cert_sn` of the root chain's
    RSA-signed (sha1WithRSA / sha256WithRSA) certificates, in file order."""
    data = chain_pem.encode("ascii", "replace") if isinstance(chain_pem, str) else chain_pem
    sns: list[str] = []
    for block in _PEM_CERT.findall(data):
        body = b"".join(block.split(b"-----")[2].split())
        try:
            der = b64decode(body.decode("ascii"))
            oid = _signature_oid(der)
        except ValueError:
            raise ConfigurationError(
                "the root certificate chain holds an unreadable certificate"
            ) from None
        if oid not in _ROOT_SN_ALGORITHMS:
            continue
        try:
            sns.append(alipay_cert_sn(x509.load_der_x509_certificate(der)))
        except ValueError:
            raise ConfigurationError(
                "the root certificate chain holds an unreadable RSA certificate"
            ) from None
    if not sns:
        raise ConfigurationError("the root certificate chain holds no RSA certificate")
    return "_".join(sns)


# --------------------------------------------------------------------------- AES content


def _aes_key(key_b64: str) -> bytes:
    try:
        key = b64decode(key_b64)
    except ValueError:
        raise ConfigurationError("the AES key is not base64") from None
    if len(key) not in (16, 24, 32):
        raise ConfigurationError("the AES key must decode to 16, 24 or 32 bytes")
    return key


_ZERO_IV = bytes(16)  # as specified by the open platform: CBC with an all-zero IV


def encrypt_content(plaintext: str, key_b64: str, *, charset: str = "utf-8") -> str:
    """Encrypt ``biz_content`` (AES-CBC, PKCS#7, zero IV) and return it base64-encoded."""
    padder = sym_padding.PKCS7(128).padder()
    data = padder.update(_encode(plaintext, charset)) + padder.finalize()
    encryptor = Cipher(algorithms.AES(_aes_key(key_b64)), modes.CBC(_ZERO_IV)).encryptor()
    return b64encode(encryptor.update(data) + encryptor.finalize())


def decrypt_content(ciphertext_b64: str, key_b64: str, *, charset: str = "utf-8") -> str:
    """Reverse :func:`encrypt_content`; a wrong key or corrupt text is a ``ParseError``."""
    key = _aes_key(key_b64)
    try:
        data = b64decode(ciphertext_b64)
        decryptor = Cipher(algorithms.AES(key), modes.CBC(_ZERO_IV)).decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        unpadder = sym_padding.PKCS7(128).unpadder()
        return (unpadder.update(padded) + unpadder.finalize()).decode(charset)
    except (ValueError, UnicodeDecodeError):
        raise ParseError("the encrypted content does not decrypt under the key") from None


def alipay_request_params(
    *,
    app_id: str,
    method: str,
    biz_content: Mapping[str, Any] | str,
    now: datetime,
    key: RsaPrivateInput,
    notify_url: str | None = None,
    encrypt_key: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The full signed parameter set for one gateway call (``sign_type`` RSA2, utf-8).

    With ``encrypt_key`` the ``biz_content`` is AES-encrypted and ``encrypt_type=AES`` is
    added; the signature covers the encrypted text, as the gateway expects.
    """
    content = _text(biz_content)
    params: dict[str, object] = {
        "app_id": app_id,
        "method": method,
        "format": "JSON",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": china_timestamp(now),
        "version": "1.0",
        "notify_url": notify_url,
        **(extra or {}),
    }
    if encrypt_key is not None:
        params["encrypt_type"] = "AES"
        content = encrypt_content(content, encrypt_key)
    params["biz_content"] = content
    return sign_params(params, key)
