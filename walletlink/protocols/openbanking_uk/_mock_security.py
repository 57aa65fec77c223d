"""The security half of the ``openbanking_uk`` mock bank: what a real ASPSP gateway checks
before any resource code runs, and the spec's own answers when a check fails.

* :class:`ObieTestMaterial`: throw-away keys and certificates for the TPP and the bank
  (PS256 signing keys, a test CA, the bank's TLS certificate, the TPP's transport
  certificate for mutual TLS);
* :class:`TokenIssuer`: the ``/token`` endpoint (client credentials with ``private_key_jwt``
  or ``tls_client_auth``), certificate-bound tokens that expire on the bank's clock;
* :func:`verify_request_signature`: ``x-jws-signature`` with the TPP's key, every failure
  mapped onto its ``UK.OBIE.Signature.*`` code;
* :class:`ObFail` / :func:`ob_error`: ``OBErrorResponse1`` bodies.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qs

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from walletlink.errors import (
    AlgorithmNotAllowedError,
    ClaimError,
    KeyNotFoundError,
    SignatureError,
    SignatureExpiredError,
    SignatureMismatchError,
    SignatureMissingError,
)
from walletlink.signing.jws import OBVersion, verify_compact, verify_ob_detached
from walletlink.signing.keys import SigningKey, TestCA, generate_rsa_key
from walletlink.testing._http import MockRequest, MockResponse

__all__ = [
    "ASSERTION_TYPE",
    "AccessToken",
    "ObFail",
    "ObieTestMaterial",
    "TokenIssuer",
    "cert_thumbprint",
    "ob_error",
    "test_material",
    "verify_request_signature",
]

ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_SKEW: Final = timedelta(seconds=30)


def ob_error(
    status: int,
    code: str,
    message: str,
    *,
    path: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> MockResponse:
    """An ``OBErrorResponse1``: ``Code`` is the status line, ``Errors[]`` the detail."""
    error: dict[str, str] = {"ErrorCode": code, "Message": message}
    if path is not None:
        error["Path"] = path
    body = {
        "Code": f"{status} {HTTPStatus(status).phrase}",
        "Id": str(uuid.uuid4()),
        "Message": message,
        "Errors": [error],
    }
    return MockResponse.json(status, body, headers)


class ObFail(Exception):
    """Stop handling a request and answer ``response``."""

    def __init__(self, response: MockResponse) -> None:
        super().__init__(response.status)
        self.response = response

    @classmethod
    def ob(cls, status: int, code: str, message: str, *, path: str | None = None) -> ObFail:
        return cls(ob_error(status, code, message, path=path))

    @classmethod
    def unauthorised(cls, description: str) -> ObFail:
        """RFC 6750 §3: a refused bearer token gets 401 and ``WWW-Authenticate``, no body."""
        challenge = f'Bearer error="invalid_token", error_description="{description}"'
        return cls(MockResponse(status=401, headers={"WWW-Authenticate": challenge}))

    @classmethod
    def oauth(cls, status: int, error: str, description: str) -> ObFail:
        """RFC 6749 §5.2: the token endpoint's own error format."""
        body = {"error": error, "error_description": description}
        return cls(MockResponse.json(status, body, {"Cache-Control": "no-store"}))


def cert_thumbprint(cert: x509.Certificate) -> str:
    """RFC 8705 ``x5t#S256``: what binds a token to the certificate it was issued to."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


# -- key material ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ObieTestMaterial:
    """Keys and certificates for one TPP and one bank; never use them outside tests."""

    tpp_signing: SigningKey
    bank_signing: SigningKey
    ca: TestCA
    server: SigningKey
    tpp_transport: SigningKey

    @classmethod
    def generate(cls) -> ObieTestMaterial:
        # Certificates are checked by OpenSSL against the real time, so they are issued
        # at the real time, not on a test's fake clock.
        now = datetime.now(UTC)
        ca = TestCA.create(now=now, subject="walletlink test OB directory CA")
        transport = ca.issue(
            "tpp-transport",
            now=now,
            client=True,
            subject=x509.Name(
                [
                    x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "walletlink test TPP"),
                    x509.NameAttribute(x509.NameOID.COMMON_NAME, "walletlink-test-tpp"),
                ]
            ),
        )
        return cls(
            tpp_signing=generate_rsa_key("tpp-signing-kid", alg="PS256"),
            bank_signing=generate_rsa_key("bank-signing-kid", alg="PS256"),
            ca=ca,
            server=ca.issue("mockbank-server", now=now),
            tpp_transport=transport,
        )


@functools.cache
def test_material() -> ObieTestMaterial:
    """One set of test material per process: RSA key generation is the slow part of a test."""
    return ObieTestMaterial.generate()


test_material.__test__ = False  # type: ignore[attr-defined]  # pytest: not a test


# -- request signatures -----------------------------------------------------------------------


def _signature_code(error: SignatureError) -> str:
    if isinstance(error, SignatureMissingError):
        return "UK.OBIE.Signature.Missing"
    if isinstance(error, ClaimError) and "lacks" in error.message:
        return "UK.OBIE.Signature.MissingClaim"
    if isinstance(error, ClaimError | SignatureExpiredError | AlgorithmNotAllowedError):
        return "UK.OBIE.Signature.InvalidClaim"
    if isinstance(error, KeyNotFoundError | SignatureMismatchError):
        return "UK.OBIE.Signature.Invalid"
    return "UK.OBIE.Signature.Invalid"


def verify_request_signature(
    request: MockRequest,
    *,
    key: SigningKey,
    iss: str,
    version: OBVersion,
    now: datetime,
) -> None:
    """Check ``x-jws-signature`` over the exact body bytes; 400 with the spec's code if not."""
    signature = request.headers.get("x-jws-signature")
    if signature and (signature.count(".") != 2 or signature.split(".")[1]):
        raise ObFail.ob(
            400, "UK.OBIE.Signature.Malformed", "not a detached JWS", path="x-jws-signature"
        )
    try:
        verify_ob_detached(
            request.headers.get("x-jws-signature"),
            request.body,
            keys={key.kid: key},
            iss=iss,
            now=now,
            version=version,
        )
    except SignatureError as error:
        raise ObFail.ob(
            400, _signature_code(error), error.message, path="x-jws-signature"
        ) from None


# -- tokens -----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AccessToken:
    scopes: frozenset[str]
    expires_at: datetime
    #: The ``x5t#S256`` of the client certificate it was issued to (RFC 8705), if any.
    thumbprint: str | None


class TokenIssuer:
    """The bank's OAuth2 token endpoint and the bearer-token check of every resource."""

    SCOPES: Final = frozenset({"payments", "accounts"})

    def __init__(
        self,
        *,
        client_id: str,
        client_key: SigningKey,
        client_cert: x509.Certificate,
        method: str,
        lifetime: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.client_id = client_id
        self.client_key = client_key
        self.client_thumbprint = cert_thumbprint(client_cert)
        self.method = method
        self.lifetime = lifetime
        self._clock = clock
        self._tokens: dict[str, AccessToken] = {}
        self._seen_jti: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def check_certificate(self, request: MockRequest, *, required: bool) -> None:
        """Only the TPP's registered transport certificate may talk to the bank."""
        cert = request.client_cert
        if cert is None:
            if required:
                raise ObFail.unauthorised("a client certificate is required (mutual TLS)")
            return
        if not hmac.compare_digest(cert_thumbprint(cert), self.client_thumbprint):
            raise ObFail.unauthorised("the client certificate is not registered for this TPP")

    # -- /token -----------------------------------------------------------------------

    def issue(self, request: MockRequest) -> MockResponse:
        form = {name: values[0] for name, values in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            raise ObFail.oauth(400, "unsupported_grant_type", "only client_credentials")
        scopes = frozenset(form.get("scope", "").split())
        if not scopes or not scopes <= self.SCOPES:
            raise ObFail.oauth(400, "invalid_scope", f"scope must be within {sorted(self.SCOPES)}")
        if self.method == "private_key_jwt":
            self._check_assertion(form, audience=request.url.split("?", 1)[0])
        elif form.get("client_id") != self.client_id or request.client_cert is None:
            # tls_client_auth: the certificate itself (checked against the registered one
            # before routing) authenticates the client named in the form.
            raise ObFail.oauth(
                401, "invalid_client", "tls_client_auth needs client_id and a certificate"
            )
        value = secrets.token_urlsafe(32)
        thumbprint = cert_thumbprint(request.client_cert) if request.client_cert else None
        with self._lock:
            self._tokens[value] = AccessToken(
                scopes=scopes,
                expires_at=self._clock() + timedelta(seconds=self.lifetime),
                thumbprint=thumbprint,
            )
        body = {
            "access_token": value,
            "token_type": "Bearer",
            "expires_in": int(self.lifetime),
            "scope": " ".join(sorted(scopes)),
        }
        return MockResponse.json(200, body, {"Cache-Control": "no-store"})

    def _check_assertion(self, form: Mapping[str, str], *, audience: str) -> None:
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            raise ObFail.oauth(401, "invalid_client", "private_key_jwt needs a client_assertion")
        try:
            verified = verify_compact(
                form["client_assertion"],
                {self.client_key.kid: self.client_key},
                algorithms=("PS256",),
            )
            claims: Any = json.loads(verified.payload)
        except SignatureError as error:
            raise ObFail.oauth(
                401, "invalid_client", f"client_assertion: {error.message}"
            ) from None
        except ValueError:
            raise ObFail.oauth(401, "invalid_client", "client_assertion is not JSON") from None
        self._check_claims(claims if isinstance(claims, dict) else {}, audience)

    def _check_claims(self, claims: Mapping[str, Any], audience: str) -> None:
        now = self._clock()
        problem = None
        exp, iat, jti = claims.get("exp"), claims.get("iat"), claims.get("jti")
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            problem = "iss and sub must be the client_id"
        elif claims.get("aud") != audience:
            problem = "aud must be the token endpoint"
        elif not isinstance(exp, int) or exp <= now.timestamp():
            problem = "the assertion has expired"
        elif not isinstance(iat, int) or iat > (now + _SKEW).timestamp():
            problem = "iat is in the future"
        elif not isinstance(jti, str) or not jti:
            problem = "jti is missing"
        if problem is None:
            with self._lock:
                self._seen_jti = {j: t for j, t in self._seen_jti.items() if t > now}
                if jti in self._seen_jti:
                    problem = "jti was already used (replayed assertion)"
                else:
                    self._seen_jti[str(jti)] = datetime.fromtimestamp(float(exp), UTC)  # type: ignore[arg-type]
        if problem is not None:
            raise ObFail.oauth(401, "invalid_client", problem)

    def revoke_all(self) -> None:
        """Forget every issued token, as a bank does when it rotates or revokes them."""
        with self._lock:
            self._tokens.clear()

    # -- resources --------------------------------------------------------------------

    def authorise(self, request: MockRequest, scope: str) -> None:
        """The bearer token must exist, be unexpired on the bank's clock, carry ``scope``
        and be presented with the certificate it was issued to."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise ObFail.unauthorised("a bearer token is required")
        with self._lock:
            token = self._tokens.get(value)
        if token is None:
            raise ObFail.unauthorised("unknown token")
        if token.expires_at <= self._clock():
            raise ObFail.unauthorised("the token has expired")
        presented = cert_thumbprint(request.client_cert) if request.client_cert else None
        if token.thumbprint is not None and presented != token.thumbprint:
            raise ObFail.unauthorised("the token is bound to another certificate")
        if scope not in token.scopes:
            raise ObFail.ob(403, "UK.OBIE.Unauthorised", f"the token lacks the {scope} scope")
