"""Per-bank configuration, validated when it is built.

Secrets live in :class:`Credentials`, whose ``repr`` names the keys it holds and never their
values, so a config can be logged or shown in a traceback without leaking anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final, TypeAlias
from urllib.parse import urlsplit

import attrs

from walletlink._tls import check_ca_bundle, check_client_cert
from walletlink.errors import ConfigurationError

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "BankConfig", "Credentials", "Timeout", "as_timeout"]


@attrs.frozen(repr=False, eq=False)
class Credentials(Mapping[str, Any]):
    """A read-only mapping of secrets (API keys, private keys, webhook secrets).

    Values are whatever the adapter needs: strings, bytes, or loaded key objects.
    """

    _values: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def require(self, key: str, bank_id: str) -> Any:
        """The value of ``key``, or a :class:`ConfigurationError` that names the key."""
        try:
            return self._values[key]
        except KeyError:
            raise ConfigurationError(f"credentials need {key!r}", bank_id=bank_id) from None

    def __repr__(self) -> str:
        return f"Credentials(<redacted: {', '.join(sorted(self._values))}>)"

    __str__ = __repr__


def _credentials(value: Mapping[str, Any] | Credentials) -> Credentials:
    return value if isinstance(value, Credentials) else Credentials(value)


def _check_bank_id(instance: BankConfig, attribute: object, value: str) -> None:
    if not value or not all(ch.isalnum() or ch in "-_." for ch in value):
        raise ConfigurationError("bank_id must be non-empty and use only [A-Za-z0-9._-]")


def _check_base_url(instance: BankConfig, attribute: object, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ConfigurationError(f"base_url must be an absolute http(s) URL, got {value!r}")
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        # Plain HTTP would send credentials in clear; loopback is for mock banks only.
        raise ConfigurationError("base_url must use https (http is allowed on loopback only)")
    if parts.username or parts.password:
        raise ConfigurationError("base_url must not carry credentials")


def _strip_slash(url: str) -> str:
    return str(url).rstrip("/")


def _seconds(name: str, value: object, ceiling: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= ceiling:
        raise ConfigurationError(f"{name} timeout must be between 0 and {ceiling:.0f} seconds")


def _check_connect(instance: Timeout, attribute: object, value: float) -> None:
    _seconds("the connect", value, 300)


def _check_read(instance: Timeout, attribute: object, value: float) -> None:
    _seconds("the read", value, 300)


def _check_total(instance: Timeout, attribute: object, value: float | None) -> None:
    if value is not None:
        _seconds("the total", value, 3600)


@attrs.frozen(kw_only=True)
class Timeout:
    """How long to wait, in seconds.

    ``connect`` bounds opening a connection (a slow connect means the bank is unreachable,
    so it is short); ``read`` bounds each wait for the bank's bytes (patient: a slow read may
    be a payment being executed); ``total``, when set, bounds one whole logical call (every
    request of its flow and every retry), measured on the retry policy's clock: no attempt
    starts after it, and each attempt's read timeout is cut to what is left of it.
    """

    connect: float = attrs.field(default=5.0, validator=_check_connect)
    read: float = attrs.field(default=30.0, validator=_check_read)
    total: float | None = attrs.field(default=None, validator=_check_total)


#: What a ``timeout=`` argument accepts: seconds (the read timeout), a ``(connect, read)``
#: pair, or a :class:`Timeout`.
TimeoutLike: TypeAlias = "Timeout | float | tuple[float, float]"


def as_timeout(value: TimeoutLike) -> Timeout:
    """A :class:`Timeout` from any accepted form; :class:`ConfigurationError` otherwise."""
    if isinstance(value, Timeout):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Timeout(read=value)
    if isinstance(value, tuple) and len(value) == 2:
        return Timeout(connect=value[0], read=value[1])
    raise ConfigurationError(
        "timeout must be seconds, a (connect, read) pair of seconds or a Timeout"
    )


def _check_client_cert(
    instance: BankConfig, attribute: object, value: str | tuple[str, str] | None
) -> None:
    if value is None:
        return
    if not (
        isinstance(value, str)
        or (isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value))
    ):
        raise ConfigurationError("client_cert must be a PEM path or a (cert, key) pair of paths")
    check_client_cert(value)


def _check_ca_bundle(instance: BankConfig, attribute: object, value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise ConfigurationError("ca_bundle must be a path to a PEM file or directory")
    check_ca_bundle(value)


#: Default cap on a decoded reply body. JSON replies are kilobytes; see
#: ``docs/security.md`` for statements, which need more.
DEFAULT_MAX_RESPONSE_BYTES: Final = 10 * 1024 * 1024


def _check_max_response_bytes(instance: BankConfig, attribute: object, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
        raise ConfigurationError("max_response_bytes must be an integer of at least 1024")


@attrs.frozen(kw_only=True)
class BankConfig:
    """How to reach one bank.

    ``client_cert`` is a PEM path (or ``(cert, key)`` paths) for mTLS; ``ca_bundle`` pins the
    bank's CA; both are loaded when the config is built, so a missing or malformed file is a
    :class:`ConfigurationError` here rather than an ``OSError`` on the first request. TLS
    verification itself has no switch: it is always on. ``max_response_bytes`` caps every
    reply's *decoded* body: a larger reply is refused with ``ProtocolError`` while it streams.
    ``timeout`` takes seconds (the read timeout), a ``(connect, read)`` pair or a
    :class:`Timeout`; it is always stored as a :class:`Timeout`.
    """

    bank_id: str = attrs.field(validator=_check_bank_id)
    protocol: str
    base_url: str = attrs.field(converter=_strip_slash, validator=_check_base_url)
    credentials: Credentials = attrs.field(factory=Credentials, converter=_credentials)
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)
    client_cert: str | tuple[str, str] | None = attrs.field(
        default=None, validator=_check_client_cert
    )
    ca_bundle: str | None = attrs.field(default=None, validator=_check_ca_bundle)
    timeout: Timeout = attrs.field(factory=Timeout, converter=as_timeout)
    max_response_bytes: int = attrs.field(
        default=DEFAULT_MAX_RESPONSE_BYTES, validator=_check_max_response_bytes
    )

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)
