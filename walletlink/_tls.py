"""TLS material and TLS failures, in words an operator can act on.

Two jobs, both about certificates:

* :func:`check_client_cert` and :func:`check_ca_bundle` load the configured PEM files the way
  the transport will (through :mod:`ssl`), so a missing, unreadable or malformed file is a
  :class:`ConfigurationError` naming the setting when the config is built, not an
  ``OSError`` on the first payment;
* :func:`describe_tls_failure` turns the ``ssl`` exception buried in a ``requests`` error
  into its reason: an untrusted CA, an expired certificate, a host name mismatch and a bank
  asking for a client certificate all read differently. The messages hold OpenSSL's reason
  and verification text only, which name no key material.
"""

from __future__ import annotations

import os
import ssl
from typing import Final

from walletlink.errors import ConfigurationError

__all__ = [
    "abrupt_close_hint",
    "check_ca_bundle",
    "check_client_cert",
    "describe_tls_failure",
    "find_ssl_error",
    "is_abrupt_close",
    "is_handshake_refusal",
]

# X.509 verification codes (OpenSSL x509_vfy.h) grouped by what the operator must fix.
_UNTRUSTED: Final = frozenset({2, 18, 19, 20, 21, 27})
_TIME: Final = {9: "certificate not yet valid", 10: "certificate expired"}
_HOST: Final = frozenset({62, 63, 64})

# OpenSSL reason codes for alerts the *bank* sent about *our* side of the handshake.
_CLIENT_SIDE: Final = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the bank requires a client certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the bank refused our client certificate",
    "TLSV1_ALERT_UNKNOWN_CA": "the bank does not trust our client certificate's CA",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the bank says our client certificate expired",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "the bank says our client certificate is revoked",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the bank refused our client certificate",
    "TLSV1_ALERT_ACCESS_DENIED": "the bank denied access to our client certificate",
}


def find_ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The ``ssl.SSLError`` inside a ``requests``/``urllib3`` error chain, if any."""
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return current
        stack.extend(current.args)
        stack.extend((getattr(current, "reason", None), current.__cause__, current.__context__))
    return None


def is_handshake_refusal(error: ssl.SSLError | None) -> bool:
    """Whether the bank refused the handshake over our client certificate (so the HTTP
    request, even if written, was never served)."""
    return error is not None and error.reason in _CLIENT_SIDE


def is_abrupt_close(error: ssl.SSLError | None) -> bool:
    """Whether the bank just hung up mid-TLS: ambiguous, since it may follow a served request
    (a bank dying mid-reply) as well as a refused handshake (a TLS 1.3 bank that wants a
    client certificate may close without an alert)."""
    return isinstance(error, ssl.SSLEOFError | ssl.SSLZeroReturnError | ssl.SSLSyscallError)


def abrupt_close_hint(*, client_cert_configured: bool) -> str:
    if client_cert_configured:
        return "if it happens on every request, the bank may be refusing client_cert"
    return "no client_cert is configured, and a bank that requires one may do this"


def describe_tls_failure(exc: BaseException) -> str:
    """Why the TLS handshake failed, e.g. ``"certificate expired (certificate has expired)"``."""
    found = find_ssl_error(exc)
    if isinstance(found, ssl.SSLCertVerificationError):
        code, text = found.verify_code, found.verify_message or "verification failed"
        if code in _UNTRUSTED:
            return f"the bank's certificate is not issued by a trusted CA ({text})"
        if code in _TIME:
            return f"the bank's {_TIME[code]} ({text})"
        if code in _HOST:
            return f"the bank's certificate is for another host ({text})"
        return f"the bank's certificate did not verify ({text})"
    reason = getattr(found, "reason", None)
    if isinstance(reason, str) and reason in _CLIENT_SIDE:
        return f"{_CLIENT_SIDE[reason]} ({reason})"
    if isinstance(reason, str):
        return f"TLS error {reason}"
    return f"TLS error {type(found or exc).__name__}"


def _readable_file(path: str, setting: str) -> None:
    if not os.path.exists(path):
        raise ConfigurationError(f"{setting}: no file at {path!r}")
    if not os.access(path, os.R_OK):
        raise ConfigurationError(f"{setting}: {path!r} is not readable")


def check_client_cert(value: str | tuple[str, str]) -> None:
    """Load the client certificate and key as the transport will; a bad one is refused."""
    cert, key = (value, None) if isinstance(value, str) else value
    _readable_file(cert, "client_cert")
    if key is not None:
        _readable_file(key, "client_cert key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        # A password callback that gives nothing: requests cannot unlock an encrypted key,
        # and without it OpenSSL would prompt on the terminal.
        context.load_cert_chain(cert, key, password=lambda: b"")
    except ssl.SSLError as exc:
        why = {"KEY_VALUES_MISMATCH": "the key does not match the certificate"}.get(
            exc.reason or "", exc.reason or "no usable PEM certificate and key"
        )
        files = repr(cert) if key is None else f"{cert!r} and {key!r}"
        raise ConfigurationError(
            f"client_cert: {files} must hold a PEM certificate and its unencrypted "
            f"private key ({why})"
        ) from exc
    except OSError as exc:
        raise ConfigurationError(f"client_cert: cannot read {cert!r}") from exc


def check_ca_bundle(path: str) -> None:
    """Load the pinned CA bundle (a PEM file or an OpenSSL hashed directory)."""
    if os.path.isdir(path):
        if not os.access(path, os.R_OK | os.X_OK):
            raise ConfigurationError(f"ca_bundle: {path!r} is not readable")
        return
    _readable_file(path, "ca_bundle")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=path)
    except ssl.SSLError as exc:
        raise ConfigurationError(
            f"ca_bundle: {path!r} holds no PEM certificate ({exc.reason or 'no usable PEM'})"
        ) from exc
    except OSError as exc:
        raise ConfigurationError(f"ca_bundle: cannot read {path!r}") from exc
