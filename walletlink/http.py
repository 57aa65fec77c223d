"""The HTTP message types every layer shares: what an adapter wants sent, what came back.

They sit below adapters, signing and the transport alike, so none of those imports another
to speak of a request: adapters build :class:`PreparedRequest`, signers sign it, the transport
sends it and hands back a :class:`RawResponse`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import requests

from walletlink._redact import redact_url
from walletlink.errors import ProtocolError, ValidationError

__all__ = ["PreparedRequest", "RawResponse", "wire_url"]


def wire_url(url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """``url`` with ``params`` exactly as the transport puts it on the wire.

    The transport hands ``url`` and ``params`` to ``requests``, which form-encodes the
    params, appends them after any query ``url`` already has, IDNA-encodes the host, adds
    ``/`` for an empty path and re-quotes the rest. This asks ``requests`` to do the very
    same preparation, so a signer signs the URL that is sent, byte for byte.
    """
    return _prepared_url(url, tuple(params))


# requests' preparation costs 20-90 µs; a retry re-signs the same URL, and adapters mostly
# call a handful of endpoints, so the last few hundred answers are kept.
@functools.lru_cache(maxsize=512)
def _prepared_url(url: str, params: tuple[tuple[str, str], ...]) -> str:
    prepared = requests.PreparedRequest()
    try:
        prepared.prepare_url(url, list(params) or None)
    except (requests.exceptions.RequestException, ValueError):
        raise ValidationError("not a valid absolute request URL") from None
    assert prepared.url is not None  # prepare_url always sets it
    return prepared.url


def _headers(value: Mapping[str, str]) -> dict[str, str]:
    return dict(value)


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(str(item) for item in value)


@attrs.frozen(kw_only=True, repr=False)
class PreparedRequest:
    """One HTTP request an adapter wants sent.

    ``path`` is relative to ``BankConfig.base_url`` (or absolute, for a ``next`` link).
    ``body`` is the exact bytes to send: the client never re-serialises it, so a retry sends
    identical bytes and a signature over them stays valid. ``idempotent`` tells the retry
    policy whether re-sending after the bank may have seen it is safe (GET, or a write that
    carries an idempotency key the bank honours). ``sensitive`` lists the identifiers the
    adapter put into ``path`` or ``params`` (account numbers, the bank's resource ids for
    accounts, consent ids): wherever the client logs the URL they show only their last four,
    whatever their shape (an 8-digit UK account number looks like nothing to a pattern).
    ``shared`` names a request whose reply is the same for every caller (a client-credentials
    token, a certificate list): the client sends at most one with that name per bank at a
    time, and a flow that asked for it while another flow's was on the wire is handed that
    reply instead of sending its own (:class:`walletlink._core.SharedReplies`).
    """

    method: str
    path: str
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_headers)
    body: bytes | None = None
    params: tuple[tuple[str, str], ...] = ()
    idempotent: bool = False
    operation: str = ""
    #: Non-2xx statuses the flow wants to see itself (e.g. 404 on a lookup means "absent").
    accept_status: frozenset[int] = frozenset()
    sensitive: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    shared: str = ""

    @classmethod
    def json(
        cls,
        method: str,
        path: str,
        payload: Any,
        *,
        headers: Mapping[str, str] | None = None,
        **options: Any,
    ) -> PreparedRequest:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        merged = {"Content-Type": "application/json", **(headers or {})}
        return cls(method=method, path=path, headers=merged, body=body, **options)

    def with_headers(self, extra: Mapping[str, str]) -> PreparedRequest:
        return attrs.evolve(self, headers={**self.headers, **extra})

    def __repr__(self) -> str:
        # Hooks receive requests, and a repr ends up in logs and tracebacks: the headers
        # carry credentials and the body account numbers, so neither is shown.
        return (
            f"PreparedRequest(method={self.method!r}, "
            f"path={redact_url(self.path, self.sensitive)!r}, operation={self.operation!r}, "
            f"body=<{len(self.body or b'')} bytes>)"
        )


@attrs.frozen(kw_only=True, repr=False)
class RawResponse:
    """What came back: status, headers (case-insensitive lookup via ``header``) and bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str = ""
    request: PreparedRequest | None = None

    def __repr__(self) -> str:
        sensitive = self.request.sensitive if self.request is not None else ()
        return (
            f"RawResponse(status={self.status}, url={redact_url(self.url, sensitive)!r}, "
            f"body=<{len(self.body)} bytes>)"
        )

    def header(self, name: str, default: str | None = None) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return default

    def json(self) -> Any:
        """The body as JSON; a malformed body is a :class:`ProtocolError`, not a crash."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProtocolError(
                f"malformed JSON from the bank ({type(exc).__name__})", http_status=self.status
            ) from None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; anything else is a :class:`ProtocolError`."""
        value = self.json()
        if not isinstance(value, dict):
            raise ProtocolError("expected a JSON object from the bank", http_status=self.status)
        return value
