"""The ``cn_bank_sm`` envelope, shared by the adapter and the mock bank.

Every message either way is one JSON object of strings: the app id, a timestamp, a nonce,
the SM4-encrypted business content and, in a reply, a result code and message. It is signed
with ``SM3withSM2``. Banks differ in the names of those fields, where the signature travels
(a header over the exact body bytes, or a body field over the sorted ``k=v`` text of the
other fields), its encoding (DER or raw ``r‖s``; base64 or hex), the cipher (SM4-GCM or
SM4-CBC) and the timestamp style; a :class:`Profile` names each choice, and
:data:`PROFILES` holds the two presets documented in ``docs/cn_bank_sm.md``.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import attrs

from walletlink.errors import (
    ConfigurationError,
    ProtocolError,
    SignatureMismatchError,
    SignatureMissingError,
    ValidationError,
)
from walletlink.signing.params import CHINA_TZ
from walletlink.signing.sm import (
    DEFAULT_USER_ID,
    SignatureFormat,
    Sm2PrivateKey,
    Sm2PublicKey,
    hmac_sm3,
    sm2_sign,
    sm2_verify,
    sm4_cbc_decrypt,
    sm4_cbc_encrypt,
    sm4_gcm_decrypt,
    sm4_gcm_encrypt,
)

__all__ = ["PROFILES", "Profile", "decrypt_biz", "encrypt_biz", "open_envelope", "seal"]

_PATHS: Final[Mapping[str, str]] = {
    "create_transfer": "/api/transfer/create",
    "query_transfer": "/api/transfer/query",
    "balance": "/api/account/balance",
    "transactions": "/api/account/transactions",
}


@attrs.frozen(kw_only=True)
class Profile:
    """How one bank lays out the envelope (see the module docstring)."""

    name: str
    app_id_field: str
    timestamp_field: str
    nonce_field: str
    biz_field: str
    code_field: str
    message_field: str
    sign_location: Literal["header", "body"]
    sign_name: str
    signature_format: SignatureFormat
    signature_encoding: Literal["base64", "hex"]
    cipher: Literal["sm4-gcm", "sm4-cbc"]
    timestamp_style: Literal["millis", "china"]
    success_code: str
    #: The body that acknowledges a notification (anything else means "deliver again").
    ack_body: bytes
    ack_content_type: str
    paths: Mapping[str, str] = attrs.field(factory=lambda: dict(_PATHS))

    def fields(self) -> tuple[str, ...]:
        return (self.app_id_field, self.timestamp_field, self.nonce_field, self.biz_field)


#: CIB-style: camelCase fields, the signature in a header over the exact body, raw r‖s in
#: base64, SM4-GCM, millisecond timestamps, a JSON ack.
CIB_STYLE: Final = Profile(
    name="cib",
    app_id_field="appId",
    timestamp_field="timestamp",
    nonce_field="nonce",
    biz_field="bizContent",
    code_field="code",
    message_field="msg",
    sign_location="header",
    sign_name="X-SM2-Signature",
    signature_format="raw",
    signature_encoding="base64",
    cipher="sm4-gcm",
    timestamp_style="millis",
    success_code="0000",
    ack_body=b'{"code":"0000","msg":"success"}',
    ack_content_type="application/json",
)

#: CMB-style: snake_case fields, the signature in a ``sign`` field over the sorted ``k=v``
#: text of the others, DER in hex, SM4-CBC, ``yyyyMMddHHmmss`` China time, a plain-text ack.
CMB_STYLE: Final = Profile(
    name="cmb",
    app_id_field="app_id",
    timestamp_field="timestamp",
    nonce_field="nonce_str",
    biz_field="biz_content",
    code_field="return_code",
    message_field="return_msg",
    sign_location="body",
    sign_name="sign",
    signature_format="der",
    signature_encoding="hex",
    cipher="sm4-cbc",
    timestamp_style="china",
    success_code="SUCCESS",
    ack_body=b"SUCCESS",
    ack_content_type="text/plain",
)

PROFILES: Final[Mapping[str, Profile]] = {"cib": CIB_STYLE, "cmb": CMB_STYLE}


def profile_from(name: object, overrides: object) -> Profile:
    """A preset by name, with the fields a bank names differently replaced."""
    if not isinstance(name, str) or name not in PROFILES:
        raise ConfigurationError(f"option 'profile' is one of {', '.join(sorted(PROFILES))}")
    profile = PROFILES[name]
    if not overrides:
        return profile
    if not isinstance(overrides, Mapping):
        raise ConfigurationError("option 'profile_overrides' is a mapping")
    known = {a.name for a in attrs.fields(Profile)} - {"name"}
    unknown = set(overrides) - known
    if unknown:
        raise ConfigurationError(f"unknown profile fields: {', '.join(sorted(unknown))}")
    changes = dict(overrides)
    if isinstance(changes.get("ack_body"), str):
        changes["ack_body"] = changes["ack_body"].encode()
    if "paths" in changes:
        changes["paths"] = {**profile.paths, **changes["paths"]}
    return attrs.evolve(profile, **changes)


# -- time and nonces ---------------------------------------------------------------------------


def format_time(profile: Profile, now: datetime) -> str:
    if profile.timestamp_style == "millis":
        return str(int(now.timestamp() * 1000))
    return now.astimezone(CHINA_TZ).strftime("%Y%m%d%H%M%S")


def parse_time(profile: Profile, text: str) -> datetime:
    try:
        if profile.timestamp_style == "millis":
            if not text.isdigit() or len(text) > 15:
                raise ValueError
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(text))
        if len(text) != 14 or not text.isdigit():
            raise ValueError
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=CHINA_TZ)
    except (ValueError, OverflowError):
        raise ProtocolError("the envelope's timestamp is malformed") from None


def new_nonce() -> str:
    return secrets.token_hex(16)


# -- business content --------------------------------------------------------------------------


def encrypt_biz(profile: Profile, key: bytes, biz: Mapping[str, Any]) -> str:
    """SM4 over the compact JSON of ``biz``, base64.

    The iv (or GCM nonce) is synthetic: HMAC-SM3 of the plaintext under a key derived from
    the SM4 key. The same content always encrypts to the same text, so a rebuilt request
    carries identical bytes, and two different contents never share a nonce.
    """
    plaintext = json.dumps(biz, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    data = plaintext.encode()
    synthetic = hmac_sm3(hmac_sm3(key, b"walletlink cn_bank_sm iv"), data)
    if profile.cipher == "sm4-gcm":
        sealed = sm4_gcm_encrypt(key, data, nonce=synthetic[:12])
    else:
        sealed = sm4_cbc_encrypt(key, data, iv=synthetic[:16])
    return base64.b64encode(sealed).decode()


def decrypt_biz(profile: Profile, key: bytes, text: str) -> dict[str, Any]:
    try:
        sealed = base64.b64decode(text, validate=True)
        if profile.cipher == "sm4-gcm":
            plaintext = sm4_gcm_decrypt(key, sealed)
        else:
            plaintext = sm4_cbc_decrypt(key, sealed)
        biz = json.loads(plaintext)
    except (binascii.Error, ValidationError, ValueError):
        raise ProtocolError("the business content does not decrypt to JSON") from None
    if not isinstance(biz, dict):
        raise ProtocolError("the business content is not a JSON object")
    return biz


# -- signing -----------------------------------------------------------------------------------


def _sorted_content(profile: Profile, fields: Mapping[str, str]) -> bytes:
    pairs = sorted((k, v) for k, v in fields.items() if k != profile.sign_name and v != "")
    return "&".join(f"{k}={v}" for k, v in pairs).encode()


def _encode_signature(profile: Profile, signature: bytes) -> str:
    if profile.signature_encoding == "hex":
        return signature.hex()
    return base64.b64encode(signature).decode()


def _decode_signature(profile: Profile, text: str) -> bytes:
    try:
        if profile.signature_encoding == "hex":
            return bytes.fromhex(text)
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise SignatureMismatchError("the SM2 signature is not readable") from None


def seal(
    profile: Profile,
    fields: Mapping[str, str],
    key: Sm2PrivateKey,
    user_id: bytes = DEFAULT_USER_ID,
) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a signed envelope carrying ``fields``."""
    headers = {"Content-Type": "application/json;charset=utf-8"}
    if profile.sign_location == "header":
        body = _json(fields)
        signature = sm2_sign(body, key, user_id=user_id, form=profile.signature_format)
        headers[profile.sign_name] = _encode_signature(profile, signature)
        return headers, body
    signature = sm2_sign(
        _sorted_content(profile, fields), key, user_id=user_id, form=profile.signature_format
    )
    return headers, _json({**fields, profile.sign_name: _encode_signature(profile, signature)})


def open_envelope(
    profile: Profile,
    headers: Mapping[str, str],
    body: bytes,
    key: Sm2PublicKey,
    user_id: bytes = DEFAULT_USER_ID,
) -> dict[str, str]:
    """The fields of a signed envelope, after its signature verified; raises otherwise."""
    fields = _fields(body)
    if profile.sign_location == "header":
        text = _header(headers, profile.sign_name)
        content = body
    else:
        text = fields.pop(profile.sign_name, None)
        content = _sorted_content(profile, fields)
    if not text:
        raise SignatureMissingError(f"the message carries no {profile.sign_name}")
    sm2_verify(
        _decode_signature(profile, text),
        content,
        key,
        user_id=user_id,
        form=profile.signature_format,
    )
    return fields


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _json(fields: Mapping[str, str]) -> bytes:
    return json.dumps(dict(fields), ensure_ascii=False, separators=(",", ":")).encode()


def _fields(body: bytes) -> dict[str, str]:
    try:
        loaded = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise SignatureMismatchError("the message is not a JSON envelope") from None
    if not isinstance(loaded, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()
    ):
        raise SignatureMismatchError("the envelope must be an object of strings")
    return loaded
