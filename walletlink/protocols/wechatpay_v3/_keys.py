"""The platform keys a WeChat Pay merchant trusts, routed by ``Wechatpay-Serial``.

Two modes, and merchants mid-migration hold both:

* **platform certificates**: a hex serial. They are downloaded from ``/v3/certificates``,
  decrypted with the API v3 key and cached; the download is repeated before the newest
  expires, on the client's clock (what the client's signer and verifier are handed, so a
  test's fake clock drives it). Trust is never bootstrapped from the download itself: the
  download's reply must verify with a key already trusted, which on the first download is
  the certificate or public key pinned in the configuration. A new certificate is trusted
  only after that reply verified and its ciphertext authenticated under the API v3 key.
* **WeChat Pay public key**: a ``PUB_KEY_ID_…`` serial, configured, never downloaded.
  A merchant in this mode gets 403 from ``/v3/certificates``; that ends the attempt for
  the refresh interval instead of being asked again on every call (the loop SDKs fell into).

Verification itself is :class:`walletlink.signing.webhooks.WeChatPayVerifier`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from walletlink.errors import (
    ConfigurationError,
    KeyNotFoundError,
    ProtocolError,
    SignatureMismatchError,
)
from walletlink.http import RawResponse
from walletlink.signing.webhooks import WeChatPayVerifier, decrypt_wechatpay_resource

__all__ = ["PUBLIC_KEY_PREFIX", "PlatformKeys"]

PUBLIC_KEY_PREFIX: Final = "PUB_KEY_ID_"
_WeChatKey = rsa.RSAPublicKey | x509.Certificate
_NEVER: Final = datetime.max.replace(tzinfo=UTC)


def _spki(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class PlatformKeys:
    """Trusted keys by serial, the certificate download schedule and the client's clock.

    Thread-safe: a client shared by threads verifies with one store.
    """

    def __init__(
        self,
        *,
        pinned: Mapping[str, _WeChatKey],
        api_v3_key: bytes,
        download: bool,
        refresh_every: timedelta = timedelta(hours=12),
        refresh_before_expiry: timedelta = timedelta(days=1),
        tolerance: timedelta = timedelta(minutes=5),
    ) -> None:
        self._pinned = {serial.upper(): key for serial, key in pinned.items()}
        self._api_v3_key = api_v3_key
        self.download = download
        self.refresh_every = refresh_every
        self.refresh_before_expiry = refresh_before_expiry
        self.tolerance = tolerance
        self._certificates: dict[str, x509.Certificate] = {}
        self._attempted_at: datetime | None = None
        self._seen: datetime | None = None
        self._unknown_seen = False
        self._downloading = False
        self._lock = threading.Lock()
        self._verifier = self._build()

    # -- the client's clock -----------------------------------------------------------------

    def observe(self, now: datetime) -> None:
        """Remember the client's clock (the signer and verifier call this every attempt)."""
        with self._lock:
            self._seen = now

    @property
    def now(self) -> datetime | None:
        with self._lock:
            return self._seen

    # -- trust ------------------------------------------------------------------------------

    def _build(self) -> WeChatPayVerifier:
        keys: dict[str, _WeChatKey] = dict(self._pinned)
        keys.update(self._certificates)  # a downloaded certificate also checks its validity
        return WeChatPayVerifier(platform_keys=keys, tolerance=self.tolerance)

    @property
    def serials(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._verifier.platform_keys)

    def verify(self, response: RawResponse, now: datetime) -> None:
        """Raise unless the reply verifies with a trusted key (routed by its serial)."""
        with self._lock:
            self._seen = now
            verifier = self._verifier
        try:
            verifier(response, now)
        except KeyNotFoundError:
            # A serial we do not know: the platform may have rotated. The next flow asks
            # for the list (still no sooner than ``tolerance`` after the last download),
            # and trusts a new certificate only if that reply verifies with a known key.
            with self._lock:
                self._unknown_seen = True
            raise

    def verify_message(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        with self._lock:
            verifier = self._verifier
        verifier.verify(headers, body, now)

    def encryption_key(self, now: datetime | None) -> tuple[str, rsa.RSAPublicKey]:
        """The serial and key to encrypt a sensitive field with (for ``Wechatpay-Serial``).

        The WeChat Pay public key when one is configured (it does not rotate); else the
        pinned certificate while it is valid at ``now``; else the downloaded certificate
        valid longest. The choice stays the same across calls as long as the keys do, so a
        rebuilt request encrypts under the same key (see :mod:`._sensitive`). ``now`` None
        (no call seen yet) trusts the pinned certificate's dates: the platform judges them.
        """
        with self._lock:
            pinned = dict(self._pinned)
            downloaded = dict(self._certificates)
        for serial, key in sorted(pinned.items()):
            if serial.startswith(PUBLIC_KEY_PREFIX) and isinstance(key, rsa.RSAPublicKey):
                return serial, key
        candidates: list[tuple[int, datetime, str, rsa.RSAPublicKey]] = []
        for rank, source in ((1, pinned), (0, downloaded)):
            for serial, key in source.items():
                if isinstance(key, rsa.RSAPublicKey):  # a bare key pinned under a serial
                    candidates.append((rank, _NEVER, serial, key))
                    continue
                public = key.public_key()
                valid = now is None or key.not_valid_before_utc <= now <= key.not_valid_after_utc
                if valid and isinstance(public, rsa.RSAPublicKey):
                    candidates.append((rank, key.not_valid_after_utc, serial, public))
        if not candidates:
            raise ConfigurationError(
                "no valid WeChat Pay platform key to encrypt a sensitive field with"
            )
        _, _, serial, chosen = max(candidates, key=lambda c: (c[0], c[1], c[2]))
        return serial, chosen

    # -- the download schedule --------------------------------------------------------------

    def due(self) -> bool:
        """Whether the next flow should download the certificates first.

        The first flow downloads; later ones every ``refresh_every``, or sooner once the
        newest certificate is within ``refresh_before_expiry`` of its end, judged on the
        client's clock as the previous call showed it (a flow decides before its first
        request is signed). At most once per ``tolerance`` whatever happens: a failing
        download is not asked again on every call.
        """
        if not self.download:
            return False
        with self._lock:
            if self._downloading:
                # Another flow's download is on the wire: ask too, and the client hands
                # this flow that reply (a shared request) rather than a second download,
                # so no reply is checked before the certificates it needs are in.
                return True
            attempted, now, unknown = self._attempted_at, self._seen, self._unknown_seen
            latest = max((c.not_valid_after_utc for c in self._certificates.values()), default=None)
        if attempted is None:
            return True
        if now is None or now - attempted < self.tolerance:
            return False
        if unknown or now - attempted >= self.refresh_every:
            return True
        return latest is None or latest - now <= self.refresh_before_expiry

    def attempted(self, now: datetime) -> None:
        """A download is being sent (the signer says so, with the client's clock): whatever
        comes of it, the next waits at least ``tolerance``."""
        with self._lock:
            self._seen = now
            self._attempted_at = now
            self._unknown_seen = False
            self._downloading = True

    def settled(self) -> None:
        """The flow that asked for a download has its reply, or its failure."""
        with self._lock:
            self._downloading = False

    def accept(self, body: bytes) -> frozenset[str]:
        """Trust the certificates of a *verified* ``/v3/certificates`` reply; their serials.

        Each must decrypt under the API v3 key, carry the serial it is listed under, be an
        RSA certificate valid now, and, when it has a pinned serial, the pinned key.
        """
        now = self.now
        try:
            data = json.loads(body)["data"]
            if not isinstance(data, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise ProtocolError("the certificate list is not {'data': [...]}") from None
        accepted = dict(map(self._certificate, data))
        if now is not None:
            accepted = {
                serial: cert
                for serial, cert in accepted.items()
                if cert.not_valid_before_utc <= now <= cert.not_valid_after_utc
            }
        with self._lock:
            self._certificates = accepted
            self._verifier = self._build()
        return frozenset(accepted)

    def _certificate(self, entry: Any) -> tuple[str, x509.Certificate]:
        if not isinstance(entry, dict) or not isinstance(entry.get("serial_no"), str):
            raise ProtocolError("a certificate entry lacks its serial_no")
        serial = entry["serial_no"].upper()
        sealed = entry.get("encrypt_certificate")
        if not isinstance(sealed, dict):
            raise ProtocolError("a certificate entry lacks encrypt_certificate")
        pem = decrypt_wechatpay_resource(sealed, self._api_v3_key)
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise ProtocolError("a downloaded certificate is not PEM") from None
        if format(certificate.serial_number, "X") != serial:
            raise SignatureMismatchError(f"certificate {serial} carries another serial")
        public = certificate.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            raise ProtocolError(f"certificate {serial} is not an RSA certificate")
        pinned = self._pinned.get(serial)
        if pinned is not None:
            expected = pinned.public_key() if isinstance(pinned, x509.Certificate) else pinned
            if not isinstance(expected, rsa.RSAPublicKey) or _spki(expected) != _spki(public):
                raise SignatureMismatchError(f"certificate {serial} differs from the pinned key")
        return serial, certificate
