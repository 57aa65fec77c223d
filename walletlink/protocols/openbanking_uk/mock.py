"""The server side of UK Open Banking v3.1.x for :class:`~walletlink.testing.MockBank`.

``MockBank("openbanking_uk")`` answers the PISP and AISP endpoints the ``openbanking_uk``
adapter uses, and refuses what a real ASPSP refuses, with the spec's codes: a request
without (or with a wrong or tampered) ``x-jws-signature``, an unknown or expired token, the
wrong client certificate, a payment that differs from its consent, a consent used twice.
Its own replies carry ``x-jws-signature`` with the bank's key.

The account holder's side is an API for tests (see ``docs/openbanking_uk.md``)::

    bank = MockBank("openbanking_uk", clock=clock)
    bank.server.authorise(consent_id)   # or deny(consent_id), or GET the redirect URL
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import uuid
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode, urlsplit

import attrs
from cryptography import x509

from walletlink.errors import InvalidTransitionError, SignatureError
from walletlink.models import ReasonCode, TransferStatus
from walletlink.protocols.openbanking_uk._mock_resources import (
    AIS_PERMISSIONS,
    account_entries,
    account_json,
    balance_entries,
    instruction_from,
    iso_time,
    transaction_entries,
    transactions_window,
    validate_initiation,
)
from walletlink.protocols.openbanking_uk._mock_security import (
    ObFail,
    ObieTestMaterial,
    TokenIssuer,
    ob_error,
    test_material,
    verify_request_signature,
)
from walletlink.signing.jws import OBVersion, sign_ob_detached, verify_compact
from walletlink.testing._http import MockRequest, MockResponse, ServerTLS
from walletlink.testing._routing import NoRoute, find_route
from walletlink.testing.faults import FaultKind
from walletlink.testing.idempotency import ClaimState, IdempotencyStore, request_fingerprint
from walletlink.testing.ledger import AccountNotFoundError, BankTransferView

if TYPE_CHECKING:
    from walletlink.testing.mockbank import MockBank, OutgoingWebhook

__all__ = ["ConsentNotFoundError", "OpenBankingUkServer"]

_LEDGER_STATUS: Final = {
    TransferStatus.PENDING: "Pending",
    TransferStatus.PROCESSING: "AcceptedSettlementInProcess",
    TransferStatus.SETTLED: "AcceptedSettlementCompleted",
    TransferStatus.REJECTED: "Rejected",
    TransferStatus.CANCELLED: "Rejected",
}
#: ISO 20022 ExternalStatusReason1Code of a rejected payment (``Data.StatusReason``).
_ISO_REASONS: Final = {
    ReasonCode.INSUFFICIENT_FUNDS: "AM04",
    ReasonCode.ACCOUNT_CLOSED: "AC04",
    ReasonCode.INVALID_ACCOUNT: "AC01",
}
_MAX_KEY: Final = 40


class ConsentNotFoundError(LookupError):
    """No consent with that id exists at this bank."""


@attrs.define
class _Consent:
    id: str
    kind: str  # "payment" or "accounts"
    status: str
    created_at: datetime
    updated_at: datetime
    content: dict[str, Any]  # Data.Initiation, or Data.Permissions for an AIS consent
    risk: dict[str, Any]
    payment_id: str | None = None


@attrs.define
class _Payment:
    id: str
    consent_id: str
    transfer_id: str  # the ledger's transfer
    initiation: dict[str, Any]


Handler = Callable[..., MockResponse]


class OpenBankingUkServer:
    """Answers UK Open Banking v3.1.x requests for one :class:`MockBank`.

    Options (keywords of ``MockBank(...)``): ``obie_version`` (``"3.1.11"``; ``"3.1.3"`` and
    older sign with ``b64: false``), ``token_auth`` (``"private_key_jwt"`` or
    ``"tls_client_auth"``), ``require_client_cert`` (refuse requests without the TPP's
    certificate; on loopback TLS enforces it anyway), ``token_lifetime`` seconds,
    ``page_size`` of transaction pages, and ``material`` (keys and certificates).
    """

    def __init__(
        self,
        bank: MockBank,
        *,
        obie_version: str = "3.1.11",
        token_auth: str = "private_key_jwt",  # noqa: S107 - a method name, not a secret
        require_client_cert: bool = False,
        token_lifetime: float = 300,
        page_size: int = 25,
        client_id: str = "walletlink-test-tpp",
        financial_id: str = "0015800001041RHAAY",
        tpp_iss: str = "0015800001041RHAAY/walletlink-test-ssa",
        redirect_uri: str = "https://wallet.example/callback",
        prefix: str = "/open-banking/v3.1",
        material: ObieTestMaterial | None = None,
    ) -> None:
        self.bank = bank
        self.obie_version = obie_version
        self.version = OBVersion.for_spec(obie_version)
        self.material = material or test_material()
        self.client_id = client_id
        self.financial_id = financial_id
        self.tpp_iss = tpp_iss
        self.redirect_uri = redirect_uri
        self.prefix = prefix.rstrip("/")
        self.require_client_cert = require_client_cert
        self.page_size = page_size
        self.tokens = TokenIssuer(
            client_id=client_id,
            client_key=self.material.tpp_signing.public(),
            client_cert=_leaf(self.material),
            method=token_auth,
            lifetime=token_lifetime,
            clock=bank.clock.now,
        )
        self._keys: IdempotencyStore[str] = IdempotencyStore(bank.clock.now)
        self._consents: dict[str, _Consent] = {}
        self._payments: dict[str, _Payment] = {}
        self._lock = threading.RLock()
        self._standing_consent: str | None = None
        self._files: Path | None = None
        self._routes = self._route_table()

    def _route_table(self) -> Sequence[tuple[str, re.Pattern[str], Handler, str | None]]:
        pisp, aisp = f"{self.prefix}/pisp", f"{self.prefix}/aisp"
        return tuple(
            (method, re.compile(re.escape(base) + tail), handler, scope)
            for method, base, tail, handler, scope in (
                ("POST", "/token", "", self._token, None),
                ("GET", "/authorize", "", self._psu_redirect, None),
                ("POST", pisp, "/domestic-payment-consents", self._create_consent, "payments"),
                ("GET", pisp, "/domestic-payment-consents/([^/]+)", self._get_consent, "payments"),
                (
                    "GET",
                    pisp,
                    "/domestic-payment-consents/([^/]+)/funds-confirmation",
                    self._funds,
                    "payments",
                ),
                ("POST", pisp, "/domestic-payments", self._create_payment, "payments"),
                ("GET", pisp, "/domestic-payments/([^/]+)", self._get_payment, "payments"),
                ("POST", aisp, "/account-access-consents", self._create_ais, "accounts"),
                ("GET", aisp, "/account-access-consents/([^/]+)", self._get_ais, "accounts"),
                ("GET", aisp, "/accounts", self._accounts, "accounts"),
                ("GET", aisp, "/accounts/([^/]+)/balances", self._balances, "accounts"),
                ("GET", aisp, "/accounts/([^/]+)/transactions", self._transactions, "accounts"),
            )
        )

    # -- what tests and clients are given -------------------------------------------------

    def client_config_fields(self) -> dict[str, Any]:
        """Credentials and options of a client of this bank (``MockBank.config()`` uses them)."""
        return {
            "credentials": {
                "client_id": self.client_id,
                "signing_key": self.material.tpp_signing,
                "bank_signing_keys": self.material.bank_signing.public(),
            },
            "options": {
                "obie_version": self.obie_version,
                "financial_id": self.financial_id,
                "jws_iss": self.tpp_iss,
                "redirect_uri": self.redirect_uri,
                "api_prefix": self.prefix,
                "token_auth": self.tokens.method,
                "account_access_consent_id": self.standing_account_consent(),
            },
        }

    def server_tls(self) -> ServerTLS:
        """TLS for ``bank.serve(tls=...)``: the bank's certificate, and client certificates
        required from the test CA (mutual TLS)."""
        server = self.material.server
        return ServerTLS(
            cert_chain_pem=server.certificate_pem(),
            key_pem=server.private_key_pem(),
            client_ca_pem=self.material.ca.certificate_pem(),
        )

    def tls_files(self) -> tuple[str, str, str]:
        """(client certificate, client key, CA bundle) PEM paths for a loopback client's
        ``BankConfig(client_cert=(cert, key), ca_bundle=ca)``; removed with this server."""
        with self._lock:
            if self._files is None:
                self._files = Path(tempfile.mkdtemp(prefix="walletlink-obie-"))
                weakref.finalize(self, shutil.rmtree, self._files, ignore_errors=True)
                transport = self.material.tpp_transport
                (self._files / "client.pem").write_bytes(transport.certificate_pem())
                (self._files / "client.key").write_bytes(transport.private_key_pem())
                (self._files / "ca.pem").write_bytes(self.material.ca.certificate_pem())
            folder = self._files
        return str(folder / "client.pem"), str(folder / "client.key"), str(folder / "ca.pem")

    # -- the account holder ---------------------------------------------------------------

    def authorise(self, consent_id: str) -> None:
        """The PSU approves the consent at the bank (what the redirect would do)."""
        self._decide(consent_id, "Authorised")

    def deny(self, consent_id: str) -> None:
        """The PSU refuses the consent."""
        self._decide(consent_id, "Rejected")

    def consent_status(self, consent_id: str) -> str:
        with self._lock:
            return self._consent(consent_id).status

    def standing_account_consent(self) -> str:
        """An account-access consent the PSU authorised earlier (covers every account)."""
        with self._lock:
            if self._standing_consent is None:
                consent = self._new_consent("accounts", {"Permissions": list(AIS_PERMISSIONS)}, {})
                consent.status = "Authorised"
                self._standing_consent = consent.id
            return self._standing_consent

    def _decide(self, consent_id: str, status: str) -> None:
        with self._lock:
            consent = self._consent(consent_id)
            if consent.status != "AwaitingAuthorisation":
                raise InvalidTransitionError(f"consent {consent_id} is {consent.status}")
            consent.status = status
            consent.updated_at = self.bank.clock.now()

    # -- the ProtocolServer interface ------------------------------------------------------

    def handle(self, request: MockRequest) -> MockResponse:
        interaction = request.headers.get("x-fapi-interaction-id") or str(uuid.uuid4())
        signed = True
        try:
            self.tokens.check_certificate(request, required=self.require_client_cert)
            response, signed = self._route(request)
        except ObFail as failure:
            response = failure.response
        response = response.with_headers(x_fapi_interaction_id=interaction)
        return self._sign(response) if signed else response

    def fault_response(self, kind: FaultKind, retry_after: int) -> MockResponse:
        if kind is FaultKind.RATE_LIMIT:
            response = ob_error(
                429,
                "UK.OBIE.UnexpectedError",
                "too many requests",
                headers={"Retry-After": str(retry_after)},
            )
        else:
            status = 503 if kind is FaultKind.UNAVAILABLE else 500
            response = ob_error(status, "UK.OBIE.UnexpectedError", "the bank failed")
        return self._sign(response)

    def webhooks_for(self, transfer: BankTransferView) -> list[OutgoingWebhook]:
        # OB event notifications are not modelled: clients poll the payment.
        return []

    # -- plumbing -------------------------------------------------------------------------

    def _sign(self, response: MockResponse) -> MockResponse:
        if not response.body:
            return response
        signature = sign_ob_detached(
            response.body,
            self.material.bank_signing,
            kid=self.material.bank_signing.kid,
            iss=self.financial_id,
            now=self.bank.clock.now(),
            version=self.version,
        )
        return response.with_headers(x_jws_signature=signature)

    def _route(self, request: MockRequest) -> tuple[MockResponse, bool]:
        try:
            (_, _, handler, scope), args = find_route(self._routes, request)
        except NoRoute:
            raise ObFail.ob(404, "UK.OBIE.NotFound", "no such endpoint") from None
        if scope is None:  # the OAuth2 and PSU endpoints: not the resource API
            return handler(request, *args), False
        self.tokens.authorise(request, scope)
        self._check_headers(request)
        return handler(request, *args), True

    def _check_headers(self, request: MockRequest) -> None:
        financial_id = request.headers.get("x-fapi-financial-id")
        if financial_id is None:
            raise ObFail.ob(400, "UK.OBIE.Header.Missing", "missing", path="x-fapi-financial-id")
        if financial_id != self.financial_id:
            raise ObFail.ob(
                403, "UK.OBIE.Header.Invalid", "not this bank", path="x-fapi-financial-id"
            )
        if request.method != "POST":
            return
        if "json" not in request.headers.get("Content-Type", ""):
            raise ObFail.ob(415, "UK.OBIE.Header.Invalid", "need JSON", path="Content-Type")
        verify_request_signature(
            request,
            key=self.material.tpp_signing.public(),
            iss=self.tpp_iss,
            version=self.version,
            now=self.bank.clock.now(),
        )

    def _json(self, request: MockRequest) -> dict[str, Any]:
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("Data"), dict):
            raise ObFail.ob(400, "UK.OBIE.Resource.InvalidFormat", "need a JSON object with Data")
        return body

    def _idempotent(
        self, request: MockRequest, create: Callable[[], str], render: Callable[[str], MockResponse]
    ) -> MockResponse:
        """OB idempotency: the same key and body within 24h returns the *current* state of the
        resource it created (201), creating nothing; another body under the key is refused."""
        key = request.headers.get("x-idempotency-key")
        if not key:
            raise ObFail.ob(400, "UK.OBIE.Header.Missing", "missing", path="x-idempotency-key")
        if len(key) > _MAX_KEY:
            raise ObFail.ob(
                400, "UK.OBIE.Header.Invalid", "at most 40 characters", path="x-idempotency-key"
            )
        scope = f"{self.client_id} {request.path}"
        claim = self._keys.begin(
            scope, key, request_fingerprint("POST", request.path, request.body)
        )
        if claim.state is ClaimState.MISMATCH:
            self.bank.count("idempotency_mismatches")
            raise ObFail.ob(
                400,
                "UK.OBIE.Header.Invalid",
                "key reused with another body",
                path="x-idempotency-key",
            )
        if claim.state is ClaimState.IN_FLIGHT:
            raise ObFail.ob(
                409, "UK.OBIE.Resource.Duplicate", "a request with this key is in progress"
            )
        if claim.state is ClaimState.REPLAY:
            assert claim.response is not None
            self.bank.count("replays")
            return render(claim.response)
        try:
            resource_id = create()
        except BaseException:
            self._keys.release(scope, key)  # refused before creating anything: key is free
            raise
        self._keys.complete(scope, key, resource_id)
        return render(resource_id)

    def _link(self, request: MockRequest, path: str, query: str = "") -> str:
        parts = urlsplit(request.url)
        return f"{parts.scheme}://{parts.netloc}{path}" + (f"?{query}" if query else "")

    def _new_consent(self, kind: str, content: dict[str, Any], risk: dict[str, Any]) -> _Consent:
        with self._lock:
            prefix = "pdc" if kind == "payment" else "aac"
            now = self.bank.clock.now()
            consent = _Consent(
                id=f"{prefix}-{sum(c.kind == kind for c in self._consents.values()) + 1:04d}",
                kind=kind,
                status="AwaitingAuthorisation",
                created_at=now,
                updated_at=now,
                content=content,
                risk=risk,
            )
            self._consents[consent.id] = consent
            return consent

    def _consent(self, consent_id: str, kind: str | None = None) -> _Consent:
        consent = self._consents.get(consent_id)
        if consent is None or (kind is not None and consent.kind != kind):
            raise ConsentNotFoundError(consent_id)
        return consent

    def _known_consent(self, consent_id: str, kind: str) -> _Consent:
        try:
            return self._consent(consent_id, kind)
        except ConsentNotFoundError:
            # OB answers an unknown resource id with 400, not 404.
            raise ObFail.ob(400, "UK.OBIE.Resource.NotFound", "no such consent") from None

    # -- OAuth2 and the PSU ---------------------------------------------------------------

    def _token(self, request: MockRequest) -> MockResponse:
        try:
            return self.tokens.issue(request)
        finally:
            self.bank.count("token_requests")

    def _psu_redirect(self, request: MockRequest) -> MockResponse:
        """The PSU follows the redirect URL and approves: the request object must be signed
        by the TPP and name a consent awaiting authorisation."""
        signed = request.param("request") or ""
        try:
            verified = verify_compact(
                signed, self.material.tpp_signing.public(), algorithms=("PS256",)
            )
            claims = json.loads(verified.payload)
            consent_id = str(claims["claims"]["id_token"]["openbanking_intent_id"]["value"])
        except (SignatureError, ValueError, KeyError, TypeError):
            return MockResponse.json(400, {"error": "invalid_request_object"})
        expired = (
            not isinstance(claims.get("exp"), int) or claims["exp"] <= self.bank.clock.timestamp()
        )
        if claims.get("client_id") != self.client_id or expired:
            return MockResponse.json(400, {"error": "invalid_request_object"})
        if claims.get("redirect_uri") != self.redirect_uri:
            return MockResponse.json(
                400, {"error": "invalid_request", "error_description": "redirect_uri"}
            )
        try:
            self.authorise(consent_id)
        except (ConsentNotFoundError, InvalidTransitionError):
            return MockResponse.json(
                400, {"error": "invalid_request", "error_description": "consent"}
            )
        fragment = urlencode({"code": uuid.uuid4().hex, "state": claims.get("state", "")})
        return MockResponse(status=302, headers={"Location": f"{self.redirect_uri}#{fragment}"})

    # -- payments -------------------------------------------------------------------------

    def _create_consent(self, request: MockRequest) -> MockResponse:
        def create() -> str:
            body = self._json(request)
            initiation = validate_initiation(body["Data"].get("Initiation"))
            instruction = instruction_from(initiation, key=None)
            if not self.bank.ledger.has_account(instruction.debtor_account.value):
                raise ObFail.ob(
                    400,
                    "UK.OBIE.Field.Invalid",
                    "no such debtor account",
                    path="Data.Initiation.DebtorAccount",
                )
            risk = body.get("Risk")
            if not isinstance(risk, dict):
                raise ObFail.ob(400, "UK.OBIE.Field.Missing", "Risk is required", path="Risk")
            return self._new_consent("payment", initiation, risk).id

        return self._idempotent(
            request, create, lambda cid: self._consent_response(request, cid, 201)
        )

    def _get_consent(self, request: MockRequest, consent_id: str) -> MockResponse:
        with self._lock:
            self._known_consent(consent_id, "payment")
        return self._consent_response(request, consent_id, 200)

    def _consent_response(self, request: MockRequest, consent_id: str, status: int) -> MockResponse:
        with self._lock:
            consent = self._consent(consent_id)
            data = {
                "ConsentId": consent.id,
                "CreationDateTime": iso_time(consent.created_at),
                "Status": consent.status,
                "StatusUpdateDateTime": iso_time(consent.updated_at),
                "Initiation": consent.content,
            }
            risk = consent.risk
        self_link = self._link(
            request, f"{self.prefix}/pisp/domestic-payment-consents/{consent_id}"
        )
        return MockResponse.json(
            status, {"Data": data, "Risk": risk, "Links": {"Self": self_link}, "Meta": {}}
        )

    def _funds(self, request: MockRequest, consent_id: str) -> MockResponse:
        with self._lock:
            consent = self._known_consent(consent_id, "payment")
            if consent.status != "Authorised":
                raise ObFail.ob(
                    400, "UK.OBIE.Resource.InvalidConsentStatus", f"consent is {consent.status}"
                )
            instruction = instruction_from(consent.content, key=None)
        available = self.bank.available(instruction.debtor_account)
        result = {
            "FundsAvailableDateTime": iso_time(self.bank.clock.now()),
            "FundsAvailable": available >= instruction.amount,
        }
        return MockResponse.json(
            200, {"Data": {"FundsAvailableResult": result}, "Links": {}, "Meta": {}}
        )

    def _create_payment(self, request: MockRequest) -> MockResponse:
        key = request.headers.get("x-idempotency-key")

        def create() -> str:
            body = self._json(request)
            data = body["Data"]
            with self._lock:
                consent = self._known_consent(str(data.get("ConsentId")), "payment")
                if consent.status != "Authorised":
                    # Consumed (used twice), Rejected or never authorised.
                    raise ObFail.ob(
                        400, "UK.OBIE.Resource.InvalidConsentStatus", f"consent is {consent.status}"
                    )
                if data.get("Initiation") != consent.content or body.get("Risk") != consent.risk:
                    raise ObFail.ob(
                        400,
                        "UK.OBIE.Resource.ConsentMismatch",
                        "Initiation and Risk must equal the consent's",
                        path="Data.Initiation",
                    )
                instruction = instruction_from(consent.content, key=key)
                try:
                    transfer = self.bank.ledger.submit(instruction, self.bank.clock.now())
                except (AccountNotFoundError, ValueError) as error:
                    raise ObFail.ob(
                        400, "UK.OBIE.Field.Invalid", str(error), path="Data.Initiation"
                    ) from None
                payment = _Payment(
                    id=f"{consent.id}-pmt",
                    consent_id=consent.id,
                    transfer_id=transfer.id,
                    initiation=consent.content,
                )
                self._payments[payment.id] = payment
                consent.status, consent.payment_id = "Consumed", payment.id
                consent.updated_at = self.bank.clock.now()
                return payment.id

        return self._idempotent(
            request, create, lambda pid: self._payment_response(request, pid, 201)
        )

    def _get_payment(self, request: MockRequest, payment_id: str) -> MockResponse:
        with self._lock:
            if payment_id not in self._payments:
                raise ObFail.ob(400, "UK.OBIE.Resource.NotFound", "no such payment")
        return self._payment_response(request, payment_id, 200)

    def _payment_response(self, request: MockRequest, payment_id: str, status: int) -> MockResponse:
        with self._lock:
            payment = self._payments[payment_id]
        transfer = self.bank.ledger.transfer(payment.transfer_id)
        code = _LEDGER_STATUS[transfer.status]
        if transfer.status is TransferStatus.SETTLED and self.bank.ledger.has_account(
            transfer.instruction.creditor_account.value
        ):
            code = "AcceptedCreditSettlementCompleted"  # the creditor's account is here too
        data: dict[str, Any] = {
            "DomesticPaymentId": payment.id,
            "ConsentId": payment.consent_id,
            "CreationDateTime": iso_time(transfer.created_at),
            "Status": code,
            "StatusUpdateDateTime": iso_time(transfer.updated_at),
            "Initiation": payment.initiation,
        }
        if transfer.reason is not None and transfer.status is TransferStatus.REJECTED:
            data["StatusReason"] = [
                {
                    "StatusReasonCode": _ISO_REASONS.get(transfer.reason, "MS03"),
                    "StatusReasonDescription": transfer.reason_message,
                }
            ]
        self_link = self._link(request, f"{self.prefix}/pisp/domestic-payments/{payment.id}")
        return MockResponse.json(status, {"Data": data, "Links": {"Self": self_link}, "Meta": {}})

    # -- account information --------------------------------------------------------------

    def _create_ais(self, request: MockRequest) -> MockResponse:
        body = self._json(request)
        permissions = body["Data"].get("Permissions")
        if (
            not isinstance(permissions, list)
            or not permissions
            or not set(permissions) <= set(AIS_PERMISSIONS)
        ):
            raise ObFail.ob(
                400, "UK.OBIE.Field.Invalid", "unknown permissions", path="Data.Permissions"
            )
        consent = self._new_consent("accounts", {"Permissions": permissions}, {})
        return self._ais_response(request, consent.id, 201)

    def _get_ais(self, request: MockRequest, consent_id: str) -> MockResponse:
        with self._lock:
            self._known_consent(consent_id, "accounts")
        return self._ais_response(request, consent_id, 200)

    def _ais_response(self, request: MockRequest, consent_id: str, status: int) -> MockResponse:
        with self._lock:
            consent = self._consent(consent_id)
            data = {
                "ConsentId": consent.id,
                "Status": consent.status,
                "CreationDateTime": iso_time(consent.created_at),
                "StatusUpdateDateTime": iso_time(consent.updated_at),
                "Permissions": consent.content["Permissions"],
            }
        link = self._link(request, f"{self.prefix}/aisp/account-access-consents/{consent_id}")
        return MockResponse.json(
            status, {"Data": data, "Risk": {}, "Links": {"Self": link}, "Meta": {}}
        )

    def _require_access(self, permission_prefix: str) -> None:
        """Account reads need an authorised account-access consent with the permission.

        A client-credentials token does not name the consent (a real bank binds it through
        the PSU's authorisation code), so any authorised consent of this TPP counts.
        """
        with self._lock:
            granted = any(
                consent.kind == "accounts"
                and consent.status == "Authorised"
                and any(p.startswith(permission_prefix) for p in consent.content["Permissions"])
                for consent in self._consents.values()
            )
        if not granted:
            raise ObFail.ob(
                403, "UK.OBIE.Resource.InvalidConsentStatus", "no authorised account-access consent"
            )

    def _account_value(self, account_id: str) -> str:
        for entry_id, view in account_entries(self.bank.ledger.accounts()):
            if entry_id == account_id:
                return view.account.value
        raise ObFail.ob(400, "UK.OBIE.Resource.NotFound", "no such account")

    def _accounts(self, request: MockRequest) -> MockResponse:
        self._require_access("ReadAccounts")
        accounts = [
            account_json(n, view) for n, view in account_entries(self.bank.ledger.accounts())
        ]
        link = self._link(request, f"{self.prefix}/aisp/accounts")
        return MockResponse.json(
            200, {"Data": {"Account": accounts}, "Links": {"Self": link}, "Meta": {}}
        )

    def _balances(self, request: MockRequest, account_id: str) -> MockResponse:
        self._require_access("ReadBalances")
        view = self.bank.ledger.account(self._account_value(account_id))
        data = {"Balance": balance_entries(account_id, view, self.bank.clock.now())}
        link = self._link(request, f"{self.prefix}/aisp/accounts/{account_id}/balances")
        return MockResponse.json(200, {"Data": data, "Links": {"Self": link}, "Meta": {}})

    def _transactions(self, request: MockRequest, account_id: str) -> MockResponse:
        self._require_access("ReadTransactions")
        start, end = transactions_window(request)
        entries = [
            entry
            for entry in self.bank.ledger.entries(self._account_value(account_id))
            if (start is None or entry.booked_at >= start)
            and (end is None or entry.booked_at <= end)
        ]
        page = _page_number(request)
        pages = max(1, -(-len(entries) // self.page_size))
        chosen = entries[(page - 1) * self.page_size : page * self.page_size]
        path = f"{self.prefix}/aisp/accounts/{account_id}/transactions"
        query = [
            (name, value)
            for name in ("fromBookingDateTime", "toBookingDateTime")
            if (value := request.param(name))
        ]
        links = {"Self": self._link(request, path, urlencode([*query, ("page", str(page))]))}
        if page < pages:
            links["Next"] = self._link(request, path, urlencode([*query, ("page", str(page + 1))]))
        data = {"Transaction": transaction_entries(account_id, chosen)}
        return MockResponse.json(200, {"Data": data, "Links": links, "Meta": {"TotalPages": pages}})


def _page_number(request: MockRequest) -> int:
    text = request.param("page") or "1"
    if not text.isdigit() or int(text) < 1:
        raise ObFail.ob(
            400, "UK.OBIE.Field.Invalid", "page must be a positive integer", path="page"
        )
    return int(text)


def _leaf(material: ObieTestMaterial) -> x509.Certificate:
    certificate = material.tpp_transport.certificate
    assert certificate is not None  # TestCA.issue always sets it
    return certificate
