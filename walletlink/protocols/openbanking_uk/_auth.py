"""UK Open Banking client authentication: OAuth2 client credentials and request signing.

* :class:`TokenCache` keeps one access token per scope and says when it must be renewed,
  reading the injected clock (tokens are state, not I/O, so the cache lives in the adapter).
* :func:`client_assertion` builds the ``private_key_jwt`` assertion (RFC 7523, PS256).
* :class:`ObRequestSigner` is the client's per-attempt signing hook: it puts a fresh
  assertion (new ``jti``, current ``iat``) into each token request attempt, so a retried
  token request is never refused as a replay, and adds ``x-jws-signature`` over the exact
  bytes of every other request body.
* :func:`request_object` is the signed OpenID request object that carries the consent id
  to the bank's authorisation endpoint (the PSU redirect).
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlencode

import attrs

from walletlink.http import PreparedRequest
from walletlink.signing.jws import JwsSigningKey, OBJwsSigner, sign_compact

__all__ = [
    "ASSERTION_TYPE",
    "TOKEN_OPERATION",
    "ObRequestSigner",
    "TokenCache",
    "client_assertion",
    "request_object",
]

ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: ``PreparedRequest.operation`` of token requests: the signer and verifier recognise them.
TOKEN_OPERATION: Final = "token"  # noqa: S105 - an operation name, not a secret
# FAPI asks for short-lived assertions; five minutes covers any clock skew we accept.
_ASSERTION_LIFETIME: Final = timedelta(minutes=5)
# Renew this long before expiry, so a token never lapses between two requests of one flow.
_REFRESH_MARGIN: Final = timedelta(seconds=60)


def _jwt(claims: dict[str, Any], key: JwsSigningKey, kid: str) -> str:
    payload = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    return sign_compact(payload, key, alg="PS256", header={"kid": kid, "typ": "JWT"})


def client_assertion(
    *, client_id: str, audience: str, key: JwsSigningKey, kid: str, now: datetime
) -> str:
    """A ``private_key_jwt`` client assertion: iss = sub = client_id, aud = token endpoint."""
    issued = int(now.timestamp())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": issued,
        "exp": issued + int(_ASSERTION_LIFETIME.total_seconds()),
        "jti": str(uuid.uuid4()),
    }
    return _jwt(claims, key, kid)


def request_object(
    *,
    client_id: str,
    audience: str,
    redirect_uri: str,
    scope: str,
    consent_id: str,
    state: str,
    key: JwsSigningKey,
    kid: str,
    now: datetime,
) -> str:
    """The signed request object of the OB hybrid flow, binding the consent id
    (``openbanking_intent_id``) to this client and redirect URI."""
    issued = int(now.timestamp())
    intent = {"value": consent_id, "essential": True}
    claims = {
        "iss": client_id,
        "aud": audience,
        "client_id": client_id,
        "response_type": "code id_token",
        "redirect_uri": redirect_uri,
        "scope": f"openid {scope}",
        "state": state,
        "nonce": str(uuid.uuid4()),
        "iat": issued,
        "exp": issued + 600,
        "claims": {
            "userinfo": {"openbanking_intent_id": intent},
            "id_token": {"openbanking_intent_id": intent},
        },
    }
    return _jwt(claims, key, kid)


@attrs.frozen
class _Token:
    value: str
    expires_at: datetime


class TokenCache:
    """Access tokens by scope, renewed ``_REFRESH_MARGIN`` before they expire. Thread-safe."""

    def __init__(self) -> None:
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()

    def get(self, scope: str, now: datetime) -> str | None:
        """A token still good for a while, or ``None`` when a new one is needed."""
        with self._lock:
            token = self._tokens.get(scope)
        if token is None or token.expires_at - _REFRESH_MARGIN <= now:
            return None
        return token.value

    def put(self, scope: str, value: str, expires_in: float, now: datetime) -> None:
        with self._lock:
            self._tokens[scope] = _Token(value, now + timedelta(seconds=expires_in))

    def clear(self) -> None:
        """Forget every token (the bank refused one: it may have been revoked)."""
        with self._lock:
            self._tokens.clear()


@attrs.frozen(kw_only=True)
class ObRequestSigner:
    """The ``RequestSigner`` of the adapter; called by the client once per attempt."""

    jws: OBJwsSigner
    client_id: str
    token_url: str
    key: JwsSigningKey = attrs.field(repr=False)
    kid: str
    private_key_jwt: bool

    def __call__(self, request: PreparedRequest, url: str, now: datetime) -> PreparedRequest:
        if request.operation == TOKEN_OPERATION:
            return self._with_assertion(request, now) if self.private_key_jwt else request
        return self.jws(request, url, now)

    def _with_assertion(self, request: PreparedRequest, now: datetime) -> PreparedRequest:
        assertion = client_assertion(
            client_id=self.client_id, audience=self.token_url, key=self.key, kid=self.kid, now=now
        )
        extra = urlencode({"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion})
        body = (request.body or b"") + b"&" + extra.encode("ascii")
        return attrs.evolve(request, body=body)
