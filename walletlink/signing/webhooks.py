"""Webhook and callback signatures: Standard Webhooks, Stripe-style and WeChat Pay v3.

Every verifier works on the raw body bytes, before any JSON parsing, compares in constant
time, takes ``now`` from the caller (no hidden clock) and raises a
:class:`~walletlink.errors.SignatureError` subclass naming what failed. Messages never
contain a secret or the expected signature.

Timestamps are checked in both directions: a message older *or* newer than the tolerance
(300 s by default) raises :class:`~walletlink.errors.SignatureExpiredError`; exactly at the
tolerance it is accepted.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from walletlink.errors import (
    AlgorithmNotAllowedError,
    CertificateMismatchError,
    ConfigurationError,
    KeyNotFoundError,
    SignatureExpiredError,
    SignatureMismatchError,
    SignatureMissingError,
    ValidationError,
)
from walletlink.http import PreparedRequest, RawResponse
from walletlink.signing._b64 import b64decode, b64encode
from walletlink.signing._keyinput import RsaPrivateInput, rsa_private, rsa_public
from walletlink.signing._message import full_url, target_of
from walletlink.signing.keys import SigningKey

if TYPE_CHECKING:
    pass  # the hash-object type; typeshed's name, not a runtime one

__all__ = [
    "DEFAULT_TOLERANCE",
    "StandardWebhook",
    "StripeWebhook",
    "WeChatPaySigner",
    "WeChatPayVerifier",
    "decrypt_wechatpay_resource",
    "encrypt_wechatpay_resource",
    "verify_wechatpay_authorization",
    "wechatpay_response_headers",
]

DEFAULT_TOLERANCE = timedelta(seconds=300)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup; the exact lower-case name is tried first (the common case)."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == name:
            return candidate
    return None


def _require(headers: Mapping[str, str], name: str) -> str:
    value = _header(headers, name)
    if not value:
        raise SignatureMissingError(f"the {name} header is missing")
    return value


class _Fields:
    """:func:`_header` / :func:`_require` for several names of one mapping.

    A name not found as spelt is looked up in a lower-cased copy built on first need (the
    first key of each lower-case spelling wins, as :func:`_header`'s scan finds it), rather
    than scanning every key once per name.
    """

    __slots__ = ("_headers", "_lowered")

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = headers
        self._lowered: dict[str, str] | None = None

    def get(self, name: str) -> str | None:
        value = self._headers.get(name)
        if value is not None:
            return value
        if self._lowered is None:
            self._lowered = {}
            for key, candidate in self._headers.items():
                self._lowered.setdefault(key.lower(), candidate)
        return self._lowered.get(name)

    def require(self, name: str) -> str:
        value = self.get(name)
        if not value:
            raise SignatureMissingError(f"the {name} header is missing")
        return value


def _timestamp(text: str, name: str) -> int:
    # Digits only: int() would also accept "+12", " 12" or "1_2".
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise SignatureMismatchError(f"{name} is not a unix timestamp in seconds")
    return int(text)


def _check_window(signed_at: int, now: datetime, tolerance: timedelta, what: str) -> None:
    age = now.timestamp() - signed_at
    limit = tolerance.total_seconds()
    if age > limit:
        raise SignatureExpiredError(f"{what} is older than the {limit:.0f} s tolerance")
    if age < -limit:
        raise SignatureExpiredError(f"{what} is more than {limit:.0f} s in the future")


def _unix(moment: datetime | int) -> int:
    return moment if isinstance(moment, int) else int(moment.timestamp())


# --------------------------------------------------------------------------- Standard Webhooks


@attrs.frozen(eq=False, repr=False)
class _KeyedSha256:
    """HMAC-SHA256 with the key schedule done once: one secret, many messages.

    ``hmac.digest`` sets the key up on every call, which on OpenSSL 3 costs about as much as
    hashing a 700-byte webhook body. The standard library's keyed ``HMAC`` object is made
    once per secret and copied per message: ``mac(m) == hmac.digest(secret, m, "sha256")``.
    """

    keyed: hmac.HMAC

    @classmethod
    def of(cls, secret: bytes) -> _KeyedSha256:
        return cls(hmac.new(secret, digestmod=hashlib.sha256))

    def mac(self, message: bytes) -> bytes:
        mac = self.keyed.copy()
        mac.update(message)
        return mac.digest()


def _b64_hmac(keyed: _KeyedSha256, content: bytes) -> bytes:
    return binascii.b2a_base64(keyed.mac(content), newline=False)


_MIN_SECRET, _MAX_SECRET = 24, 64  # Standard Webhooks: 192 to 512 bits


@attrs.frozen
class _Secrets:
    hmac: tuple[bytes, ...] = ()
    signing: tuple[ed25519.Ed25519PrivateKey, ...] = ()
    public: tuple[ed25519.Ed25519PublicKey, ...] = ()
    # ``hmac`` with the key schedule done, in the same order (see _keyed).
    keyed: tuple[_KeyedSha256, ...] = attrs.field(
        default=attrs.Factory(lambda self: tuple(map(_KeyedSha256.of, self.hmac)), takes_self=True),
        eq=False,
        repr=False,
    )


_SecretInput: TypeAlias = (
    str | bytes | SigningKey | ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey
)


def _decode_secret(text: str, prefix: str) -> bytes:
    try:
        return b64decode(text.removeprefix(prefix))
    except ValueError:
        raise ConfigurationError(f"a {prefix or 'webhook'} secret is not valid base64") from None


def _ed25519_private(raw: bytes) -> ed25519.Ed25519PrivateKey:
    # 32 bytes is the seed; 64 bytes is libsodium's seed || public key.
    if len(raw) not in (32, 64):
        raise ConfigurationError("a whsk_ key must hold 32 (or 64) bytes")
    key = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])
    if len(raw) == 64 and key.public_key().public_bytes_raw() != raw[32:]:
        raise ConfigurationError("a 64-byte whsk_ key's public half does not match its seed")
    return key


def _unwrap_secret(key: SigningKey) -> bytes | ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey:
    """A :class:`SigningKey` as the HMAC secret or Ed25519 key Standard Webhooks uses."""
    if key.secret is not None:
        return key.secret
    material = key.private_key or key.public_key
    if not isinstance(material, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        raise AlgorithmNotAllowedError(f"key {key.kid!r}: Standard Webhooks needs HMAC or Ed25519")
    return material


def _parse_secrets(items: Iterable[_SecretInput]) -> _Secrets:
    hmac_keys: list[bytes] = []
    signing: list[ed25519.Ed25519PrivateKey] = []
    public: list[ed25519.Ed25519PublicKey] = []
    for item in items:
        if isinstance(item, SigningKey):
            item = _unwrap_secret(item)
        if isinstance(item, ed25519.Ed25519PrivateKey):
            signing.append(item)
        elif isinstance(item, ed25519.Ed25519PublicKey):
            public.append(item)
        elif isinstance(item, str) and item.startswith("whsk_"):
            signing.append(_ed25519_private(_decode_secret(item, "whsk_")))
        elif isinstance(item, str) and item.startswith("whpk_"):
            raw = _decode_secret(item, "whpk_")
            if len(raw) != 32:
                raise ConfigurationError("a whpk_ key must hold 32 bytes")
            public.append(ed25519.Ed25519PublicKey.from_public_bytes(raw))
        elif isinstance(item, str | bytes):
            # whsec_ or bare base64 (as the reference library accepts), or raw bytes.
            raw = item if isinstance(item, bytes) else _decode_secret(item, "whsec_")
            if not _MIN_SECRET <= len(raw) <= _MAX_SECRET:
                raise ConfigurationError(
                    f"a webhook secret must hold {_MIN_SECRET} to {_MAX_SECRET} bytes"
                )
            hmac_keys.append(raw)
        else:
            raise ConfigurationError(
                "a webhook key is a whsec_/whsk_/whpk_ string, bytes, a SigningKey or an"
                f" Ed25519 key, not {type(item).__name__}"
            )
    public.extend(key.public_key() for key in signing)
    if not hmac_keys and not public:
        raise ConfigurationError("a webhook verifier needs at least one secret or public key")
    return _Secrets(tuple(hmac_keys), tuple(signing), tuple(public))


@attrs.frozen
class StandardWebhook:
    """Sign and verify `Standard Webhooks <https://www.standardwebhooks.com>`_ messages.

    ``secrets`` lists every trusted key, newest first: ``whsec_…`` HMAC secrets (``v1``),
    ``whsk_…`` Ed25519 private keys (``v1a``, sign and verify) and ``whpk_…`` Ed25519 public
    keys (``v1a``, verify only); raw bytes are taken as an HMAC secret. During a rotation
    list the old and the new key: a message verifies if any listed key matches, and the
    signer signs with all of them. Unknown signature versions are skipped.
    """

    secrets: Sequence[_SecretInput] = attrs.field(repr=False)
    tolerance: timedelta = attrs.field(default=DEFAULT_TOLERANCE, kw_only=True)
    _keys: _Secrets = attrs.field(init=False, repr=False)
    _limit: float = attrs.field(init=False, repr=False, eq=False)  # the tolerance in seconds

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_keys", _parse_secrets(self.secrets))
        object.__setattr__(self, "_limit", self.tolerance.total_seconds())

    def sign(self, msg_id: str, timestamp: datetime | int, body: bytes) -> dict[str, str]:
        """The three ``webhook-*`` headers for ``body``."""
        if "." in msg_id or not msg_id:
            raise ValidationError("a webhook id must be non-empty and contain no '.'")
        stamp = str(_unix(timestamp))
        content = f"{msg_id}.{stamp}.".encode() + body
        entries = [f"v1,{b64encode(k.mac(content))}" for k in self._keys.keyed]
        entries += [f"v1a,{b64encode(k.sign(content))}" for k in self._keys.signing]
        if not entries:
            raise ConfigurationError("only public keys configured: this instance cannot sign")
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": stamp,
            "webhook-signature": " ".join(entries),
        }

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        """Raise unless one listed signature matches a trusted key within the tolerance."""
        # The exact lower-case names first (what frameworks hand over); _require does the
        # case-insensitive search and raises for a missing or empty field, in this order.
        get = headers.get
        msg_id = get("webhook-id") or _require(headers, "webhook-id")
        stamp = get("webhook-timestamp") or _require(headers, "webhook-timestamp")
        listed = get("webhook-signature") or _require(headers, "webhook-signature")
        if stamp.isdigit() and stamp.isascii() and len(stamp) <= 12:
            signed_at = int(stamp)  # what _timestamp returns, without the call
        else:
            signed_at = _timestamp(stamp, "webhook-timestamp")
        age = now.timestamp() - signed_at
        if age > self._limit or age < -self._limit:
            _check_window(signed_at, now, self.tolerance, "the webhook")  # raises
        content = b"".join((msg_id.encode(), b".", stamp.encode(), b".", body))
        # Hot path: compare base64 text to base64 text, so the HMAC is computed once per
        # secret and nothing is decoded; a signature that is not canonical base64 just fails.
        keyed = self._keys.keyed
        expected: list[bytes] | None = None
        for entry in listed.split(" "):
            version, _, signature = entry.partition(",")
            if version == "v1" and keyed:
                if expected is None:
                    expected = [_b64_hmac(key, content) for key in keyed]
                given = signature.encode("utf-8", "replace")
                for candidate in expected:
                    if hmac.compare_digest(candidate, given):
                        return
            elif version == "v1a" and self._keys.public and self._ed25519(content, signature):
                return
        raise SignatureMismatchError("no webhook signature matches a trusted key")

    def _ed25519(self, content: bytes, signature: str) -> bool:
        try:
            raw = b64decode(signature)
        except ValueError:
            return False
        for key in self._keys.public:
            try:
                key.verify(raw, content)
            except InvalidSignature:
                continue
            return True
        return False


# --------------------------------------------------------------------------- Stripe-style


@attrs.frozen
class StripeWebhook:
    """``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`` over ``{t}.{body}``.

    Each secret (``whsec_…`` as Stripe shows it) is the HMAC key *as text*, not decoded;
    list several during a rotation. Entries other than ``t`` and ``v1`` are ignored.
    """

    secrets: Sequence[str] = attrs.field(repr=False)
    tolerance: timedelta = attrs.field(default=DEFAULT_TOLERANCE, kw_only=True)
    header_name: str = attrs.field(default="stripe-signature", kw_only=True)
    # Keyed HMAC states by secret text, made on first use (``secrets`` is read on every
    # call, as before, so a caller's list stays the source of truth).
    _keyed: dict[str, _KeyedSha256] = attrs.field(init=False, factory=dict, repr=False, eq=False)

    _limit: float = attrs.field(init=False, repr=False, eq=False)  # the tolerance in seconds

    def __attrs_post_init__(self) -> None:
        if not self.secrets or not all(isinstance(s, str) and s for s in self.secrets):
            raise ConfigurationError("a Stripe webhook verifier needs non-empty secret strings")
        object.__setattr__(self, "_limit", self.tolerance.total_seconds())

    def _hexmac(self, secret: str, content: bytes) -> str:
        """``hmac.new(secret.encode(), content, "sha256").hexdigest()``."""
        keyed = self._keyed.get(secret)
        if keyed is None:
            keyed = self._keyed[secret] = _KeyedSha256.of(secret.encode())
        return keyed.mac(content).hex()

    def sign(self, timestamp: datetime | int, body: bytes) -> str:
        """The ``Stripe-Signature`` header value, one ``v1`` per secret."""
        stamp = _unix(timestamp)
        content = f"{stamp}.".encode() + body
        v1 = [self._hexmac(s, content) for s in self.secrets]
        return ",".join([f"t={stamp}", *(f"v1={sig}" for sig in v1)])

    def verify(self, header: str | None, body: bytes, now: datetime) -> None:
        if not header:
            raise SignatureMissingError(f"the {self.header_name} header is missing")
        stamps: list[str] = []
        given: list[bytes] = []
        for item in header.split(","):
            name, _, value = item.strip().partition("=")
            if name == "t":
                stamps.append(value)
            elif name == "v1":
                given.append(value.encode("utf-8", "replace"))
        if len(stamps) != 1:
            raise SignatureMismatchError(f"{self.header_name} must carry exactly one 't='")
        if not given:
            raise SignatureMissingError(f"{self.header_name} carries no v1 signature")
        stamp = stamps[0]
        signed_at = _timestamp(stamp, "t")
        age = now.timestamp() - signed_at
        if age > self._limit or age < -self._limit:
            _check_window(signed_at, now, self.tolerance, "the webhook")  # raises
        content = f"{stamp}.".encode() + body
        for secret in self.secrets:
            expected = self._hexmac(secret, content).encode()
            for candidate in given:
                if hmac.compare_digest(expected, candidate):
                    return
        raise SignatureMismatchError("no v1 signature matches a trusted secret")

    def verify_headers(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        self.verify(_header(headers, self.header_name), body, now)


# --------------------------------------------------------------------------- WeChat Pay v3

WECHATPAY_SCHEME = "WECHATPAY2-SHA256-RSA2048"
_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_WeChatKey: TypeAlias = rsa.RSAPublicKey | x509.Certificate
#: What a WeChat Pay verifier trusts per serial: a certificate (checked for validity), a raw
#: RSA public key, or a :class:`SigningKey` holding either.
WeChatKeyInput: TypeAlias = SigningKey | rsa.RSAPublicKey | x509.Certificate


def _serial_of(certificate: x509.Certificate) -> str:
    return format(certificate.serial_number, "X")


def _rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return b64encode(key.sign(message, _PKCS1, _SHA256))


def _rsa_verify(key: rsa.RSAPublicKey, message: bytes, signature: str, what: str) -> None:
    try:
        key.verify(b64decode(signature), message, _PKCS1, _SHA256)
    except (ValueError, InvalidSignature):
        # Also what WeChat Pay's deliberate "WECHATPAY/SIGNTEST/" probes end up as.
        raise SignatureMismatchError(f"the {what} signature does not verify") from None


def _public_key(key: _WeChatKey, serial: str, now: datetime) -> rsa.RSAPublicKey:
    if isinstance(key, x509.Certificate):
        if not key.not_valid_before_utc <= now <= key.not_valid_after_utc:
            raise CertificateMismatchError(f"certificate {serial} is not valid at this time")
        public = key.public_key()
    else:
        public = key
    if not isinstance(public, rsa.RSAPublicKey):
        raise AlgorithmNotAllowedError(f"the key for serial {serial} is not an RSA key")
    return public


def _wechat_key(key: object, serial: str) -> _WeChatKey:
    """A trusted key as the certificate (validity is checked) or the RSA public key."""
    if isinstance(key, SigningKey) and key.certificate is not None:
        key = key.certificate
    if isinstance(key, x509.Certificate):
        rsa_public(key, f"WeChat Pay serial {serial}")  # an RSA certificate, or refused now
        return key
    return rsa_public(key, f"WeChat Pay serial {serial}")


def _upper_keys(keys: Mapping[str, WeChatKeyInput]) -> dict[str, _WeChatKey]:
    if not isinstance(keys, Mapping):
        raise ConfigurationError("WeChat Pay keys are a mapping of serial to key")
    return {serial.upper(): _wechat_key(key, serial) for serial, key in keys.items()}


def _default_nonce() -> str:
    return secrets.token_hex(16).upper()


@attrs.frozen(kw_only=True)
class WeChatPayVerifier:
    """Verify WeChat Pay v3 responses and callbacks (``Wechatpay-*`` headers).

    ``platform_keys`` maps a ``Wechatpay-Serial`` (platform certificate serial in hex, or a
    ``PUB_KEY_ID_…`` in public-key mode) to the certificate or public key. Serials are
    compared case-insensitively. A certificate is only trusted inside its validity period.
    """

    platform_keys: Mapping[str, _WeChatKey] = attrs.field(repr=False, converter=_upper_keys)
    tolerance: timedelta = DEFAULT_TOLERANCE

    @classmethod
    def from_certificates(
        cls, certificates: Iterable[x509.Certificate], *, tolerance: timedelta = DEFAULT_TOLERANCE
    ) -> WeChatPayVerifier:
        return cls(platform_keys={_serial_of(c): c for c in certificates}, tolerance=tolerance)

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        """Raise unless ``Wechatpay-Signature`` verifies over ``timestamp\\nnonce\\nbody\\n``."""
        fields = _Fields(headers)
        kind = fields.get("wechatpay-signature-type")
        if kind is not None and kind != WECHATPAY_SCHEME:
            raise AlgorithmNotAllowedError(f"signature type {kind!r} is not {WECHATPAY_SCHEME}")
        stamp = fields.require("wechatpay-timestamp")
        nonce = fields.require("wechatpay-nonce")
        signature = fields.require("wechatpay-signature")
        serial = fields.require("wechatpay-serial")
        _check_window(_timestamp(stamp, "Wechatpay-Timestamp"), now, self.tolerance, "the reply")
        key = self.platform_keys.get(serial.upper())
        if key is None:
            raise KeyNotFoundError(f"no trusted platform key for serial {serial!r}")
        message = f"{stamp}\n{nonce}\n".encode() + body + b"\n"
        _rsa_verify(_public_key(key, serial, now), message, signature, "Wechatpay")

    def __call__(self, response: RawResponse, now: datetime) -> None:
        self.verify(response.headers, response.body, now)

    def verify_notification(
        self, headers: Mapping[str, str], body: bytes, now: datetime, api_v3_key: bytes | str
    ) -> Any:
        """Verify a callback over its raw bytes, then decrypt and parse its ``resource``."""
        self.verify(headers, body, now)
        try:
            resource = json.loads(body)["resource"]
        except (ValueError, KeyError, TypeError):
            raise SignatureMissingError("the callback carries no encrypted resource") from None
        return json.loads(decrypt_wechatpay_resource(resource, api_v3_key))


def _aesgcm(api_v3_key: bytes | str) -> AESGCM:
    key = api_v3_key.encode() if isinstance(api_v3_key, str) else api_v3_key
    # Real API v3 keys are 32 characters (AES-256); the SDK test vectors use 16 (AES-128).
    if len(key) not in (16, 24, 32):
        raise ConfigurationError("an API v3 key must be 16, 24 or 32 bytes")
    return AESGCM(key)


def decrypt_wechatpay_resource(resource: Mapping[str, Any], api_v3_key: bytes | str) -> bytes:
    """Decrypt an ``AEAD_AES_256_GCM`` resource (callback body or platform certificate)."""
    algorithm = resource.get("algorithm", "AEAD_AES_256_GCM")
    if algorithm != "AEAD_AES_256_GCM":
        raise AlgorithmNotAllowedError(f"resource algorithm {algorithm!r} is not supported")
    try:
        ciphertext = b64decode(resource["ciphertext"])
        nonce = str(resource["nonce"]).encode()
        aad = str(resource.get("associated_data") or "").encode()
    except (KeyError, ValueError, TypeError):  # TypeError: a JSON null or number, not text
        raise SignatureMissingError("the resource lacks a base64 ciphertext or nonce") from None
    try:
        return _aesgcm(api_v3_key).decrypt(nonce, ciphertext, aad)
    except (InvalidTag, ValueError):
        raise SignatureMismatchError("the resource does not authenticate under the key") from None


def encrypt_wechatpay_resource(
    plaintext: bytes, api_v3_key: bytes | str, *, nonce: str, associated_data: str = ""
) -> dict[str, str]:
    """The platform side of :func:`decrypt_wechatpay_resource` (used by the mock bank)."""
    sealed = _aesgcm(api_v3_key).encrypt(nonce.encode(), plaintext, associated_data.encode())
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": b64encode(sealed),
        "associated_data": associated_data,
        "nonce": nonce,
    }


def wechatpay_response_headers(
    body: bytes,
    *,
    key: RsaPrivateInput,
    serial: str,
    now: datetime,
    nonce: str | None = None,
) -> dict[str, str]:
    """The ``Wechatpay-*`` headers a platform (the mock bank) puts on a reply or callback."""
    private = rsa_private(key, "WeChat Pay signing")
    nonce = nonce or _default_nonce()
    stamp = str(_unix(now))
    signature = _rsa_sign(private, f"{stamp}\n{nonce}\n".encode() + body + b"\n")
    return {
        "Wechatpay-Timestamp": stamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": signature,
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": WECHATPAY_SCHEME,
    }


def _request_message(method: str, url: str, stamp: str, nonce: str, body: bytes) -> bytes:
    # An origin-form target ("/v3/…?…", what a server sees on the request line) is signed as
    # it is; an absolute URL is reduced to one (no userinfo, "/" for an empty path).
    canonical = url.partition("#")[0] if url.startswith("/") else target_of(url).request_target
    return f"{method.upper()}\n{canonical}\n{stamp}\n{nonce}\n".encode() + body + b"\n"


def _merchant_key(key: RsaPrivateInput) -> rsa.RSAPrivateKey:
    return rsa_private(key, "WeChatPaySigner")


@attrs.frozen(kw_only=True)
class WeChatPaySigner:
    """A client ``RequestSigner`` adding ``Authorization: WECHATPAY2-SHA256-RSA2048 …``.

    ``serial_no`` is the merchant API certificate serial (upper-case hex); ``nonce`` makes
    the nonce injectable for reproducible tests.
    """

    mchid: str
    serial_no: str
    key: rsa.RSAPrivateKey = attrs.field(repr=False, converter=_merchant_key)
    nonce: Callable[[], str] = _default_nonce

    def authorization(self, method: str, url: str, body: bytes, now: datetime) -> str:
        stamp, nonce = str(_unix(now)), self.nonce()
        signature = _rsa_sign(self.key, _request_message(method, url, stamp, nonce, body))
        return (
            f'{WECHATPAY_SCHEME} mchid="{self.mchid}",nonce_str="{nonce}",'
            f'timestamp="{stamp}",serial_no="{self.serial_no}",signature="{signature}"'
        )

    def __call__(self, request: PreparedRequest, url: str, now: datetime) -> PreparedRequest:
        # The URL as sent, params included: the platform checks the signature against it.
        value = self.authorization(request.method, full_url(request, url), request.body or b"", now)
        return request.with_headers({"Authorization": value})


def _authorization_params(header: str) -> dict[str, str]:
    scheme, _, rest = header.partition(" ")
    if scheme != WECHATPAY_SCHEME:
        raise AlgorithmNotAllowedError(f"authorization scheme is not {WECHATPAY_SCHEME}")
    params: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or len(value) < 2 or value[0] != '"' or value[-1] != '"':
            raise SignatureMismatchError("malformed WECHATPAY2 authorization parameter")
        params[name] = value[1:-1]
    return params


def verify_wechatpay_authorization(
    header: str | None,
    *,
    method: str,
    url: str,
    body: bytes,
    merchant_keys: Mapping[str, WeChatKeyInput],
    now: datetime,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> str:
    """Verify a merchant's ``Authorization`` header (the mock bank's side); return ``mchid``.

    ``merchant_keys`` maps the merchant certificate serial to its public key or certificate.
    """
    if not header:
        raise SignatureMissingError("the Authorization header is missing")
    params = _authorization_params(header)
    missing = {"mchid", "nonce_str", "timestamp", "serial_no", "signature"} - params.keys()
    if missing:
        raise SignatureMissingError(f"authorization lacks {sorted(missing)}")
    stamp = params["timestamp"]
    _check_window(_timestamp(stamp, "timestamp"), now, tolerance, "the request")
    key = _upper_keys(merchant_keys).get(params["serial_no"].upper())
    if key is None:
        raise KeyNotFoundError(f"no merchant key for serial {params['serial_no']!r}")
    message = _request_message(method, url, stamp, params["nonce_str"], body)
    _rsa_verify(_public_key(key, params["serial_no"], now), message, params["signature"], "request")
    return params["mchid"]
