"""The server side of Berlin Group NextGenPSD2 1.3 for ``MockBank("berlin_group")``.

It verifies every request as an ASPSP does (:mod:`._mock_security`), enforces AIS consents
(:mod:`._mock_consents`), holds payments until the PSU authorises them at the SCA redirect,
and leaves the money to the shell's ledger, which
settles on the bank's clock. ``docs/berlin_group.md`` documents the wire format, the
approve/deny API and the two things a real ASPSP may not offer: de-duplication on
``endToEndIdentification`` and the payment lookup by it.

Protocol options (``MockBank("berlin_group", **options)``):

``sca_required`` (True)
    payments wait, ``RCVD`` with an ``scaRedirect``, until :meth:`approve_payment`.
``dedupe_end_to_end_id`` (True)
    a repeated payment POST with the same ``endToEndIdentification`` from the same debtor
    answers the first payment; with other parameters, ``400 FORMAT_ERROR``.
``page_size`` (3)
    transactions per page: small, so that clients follow ``_links.next``.
``require_qwac`` (False)
    refuse requests without a TLS client certificate (loopback behind mutual TLS).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode

import attrs

from walletlink.accounts import AccountId
from walletlink.errors import CurrencyMismatchError
from walletlink.models import TransferStatus
from walletlink.protocols.berlin_group._mock_consents import ConsentStore
from walletlink.protocols.berlin_group._mock_security import (
    TestPki,
    TppAuthenticator,
    TppCredentials,
    TppRefusal,
    tpp_identity,
)
from walletlink.protocols.berlin_group._mock_wire import (
    ISO_REASONS,
    account_json,
    json_object,
    parse_instruction,
    pending_json,
    transaction_json,
)
from walletlink.protocols.berlin_group.adapter import PAYMENT_PRODUCTS
from walletlink.testing._http import MockRequest, MockResponse
from walletlink.testing._routing import NoRoute, find_route
from walletlink.testing.faults import FaultKind
from walletlink.testing.idempotency import ClaimState, IdempotencyStore, request_fingerprint
from walletlink.testing.ledger import (
    AccountNotFoundError,
    BankTransferView,
    TransferInstruction,
)

if TYPE_CHECKING:
    from walletlink.testing.mockbank import MockBank, OutgoingWebhook

__all__ = ["BerlinGroupServer"]

Handler = Callable[..., MockResponse]


@attrs.define
class _Payment:
    id: str
    product: str
    ledger_id: str
    tpp: str
    body: dict[str, Any]
    #: ``required`` (awaiting the PSU), ``finalised``, ``failed`` (denied) or ``exempt``.
    sca: str


def _resource_id(account: AccountId) -> str:
    # Stable and opaque, like an ASPSP's account resource id: never the IBAN itself.
    return "acc-" + hashlib.sha256(account.value.encode()).hexdigest()[:16]


class BerlinGroupServer:
    """Answers XS2A requests for one :class:`~walletlink.testing.MockBank`."""

    def __init__(
        self,
        bank: MockBank,
        *,
        sca_required: bool = True,
        dedupe_end_to_end_id: bool = True,
        page_size: int = 3,
        require_qwac: bool = False,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size is at least 1")
        self.bank = bank
        now = bank.clock.now()
        self.pki = TestPki(now)
        #: The TPP that ``bank.config()`` signs as; issue others with ``pki.issue_tpp``.
        self.tpp: TppCredentials = self.pki.issue_tpp(now)
        self.auth = TppAuthenticator(
            self.pki.ca.certificate, bank.clock.now, require_qwac=require_qwac
        )
        self.consents = ConsentStore()
        self.sca_required = sca_required
        self.dedupe_end_to_end_id = dedupe_end_to_end_id
        self.page_size = page_size
        self._payments: dict[str, _Payment] = {}
        self._dedupe: IdempotencyStore[str] = IdempotencyStore(bank.clock.now)
        self._lock = threading.Lock()
        #: A valid all-accounts consent of :attr:`tpp`, so ``bank.config()`` can read accounts.
        self.standing_consent_id = self._standing_consent()
        self._routes: Sequence[tuple[str, re.Pattern[str], Handler]] = (
            ("POST", re.compile(r"/v1/payments/([^/]+)"), self._initiate),
            ("GET", re.compile(r"/v1/payments/([^/]+)"), self._lookup),
            ("GET", re.compile(r"/v1/payments/([^/]+)/([^/]+)"), self._payment),
            ("DELETE", re.compile(r"/v1/payments/([^/]+)/([^/]+)"), self._cancel),
            ("GET", re.compile(r"/v1/payments/([^/]+)/([^/]+)/status"), self._status),
            ("POST", re.compile(r"/v1/consents"), self._create_consent),
            ("GET", re.compile(r"/v1/consents/([^/]+)"), self._consent),
            ("DELETE", re.compile(r"/v1/consents/([^/]+)"), self._delete_consent),
            ("GET", re.compile(r"/v1/consents/([^/]+)/status"), self._consent_status),
            ("GET", re.compile(r"/v1/accounts"), self._accounts),
            ("GET", re.compile(r"/v1/accounts/([^/]+)/balances"), self._balances),
            ("GET", re.compile(r"/v1/accounts/([^/]+)/transactions"), self._transactions),
        )

    # -- the ProtocolServer interface -----------------------------------------------------

    def handle(self, request: MockRequest) -> MockResponse:
        try:
            if request.path.startswith("/sca/"):
                response = self._psu_decision(request)
            else:
                qseal = self.auth.authenticate(request)
                response = self._route(request, tpp_identity(qseal))
        except TppRefusal as refusal:
            self.bank.count(f"refused.{refusal.code}")
            response = refusal.response()
        request_id = request.headers.get("X-Request-ID")
        return response.with_headers(X_Request_ID=request_id) if request_id else response

    def fault_response(self, kind: FaultKind, retry_after: int) -> MockResponse:
        if kind is FaultKind.RATE_LIMIT:
            headers = {"Retry-After": str(retry_after)}
            return TppRefusal(429, "ACCESS_EXCEEDED", "too many requests", headers).response()
        # A gateway's 5xx: the XS2A API defines no body for them.
        if kind is FaultKind.UNAVAILABLE:
            return MockResponse(status=503, headers={"Retry-After": str(retry_after)})
        return MockResponse(status=500)

    def webhooks_for(self, transfer: BankTransferView) -> list[OutgoingWebhook]:
        """NextGenPSD2 1.3 has no push notifications: the TPP polls the status."""
        return []

    def client_config_fields(self) -> dict[str, Any]:
        """What ``bank.config()`` needs for a client of this bank (MockBank's hook)."""
        return {
            "credentials": {"qseal": self.tpp.qseal, "consent_id": self.standing_consent_id},
            "options": {
                "psu_ip_address": "192.0.2.10",
                "redirect_uri": "https://wallet.example/sca-done",
                "dedupes_end_to_end_id": self.dedupe_end_to_end_id,
                "payment_lookup": True,
            },
        }

    # -- the PSU's side: the documented approve / deny API --------------------------------

    def approve_payment(self, payment_id: str) -> str:
        """The PSU authorises the payment at the SCA redirect; returns its new status."""
        return self._decide_payment(payment_id, approve=True)

    def deny_payment(self, payment_id: str) -> str:
        """The PSU refuses the SCA: the payment ends RJCT (reason MS02)."""
        return self._decide_payment(payment_id, approve=False)

    def approve_consent(self, consent_id: str) -> str:
        return self.consents.decide(consent_id, approve=True).status

    def deny_consent(self, consent_id: str) -> str:
        return self.consents.decide(consent_id, approve=False).status

    def _decide_payment(self, payment_id: str, *, approve: bool) -> str:
        payment = self._find(payment_id, None, None)
        now = self.bank.clock.now()
        with self._lock:
            view = self.bank.ledger.transfer(payment.ledger_id)
            if payment.sca != "required" or view.status is not TransferStatus.PENDING:
                raise TppRefusal(409, "STATUS_INVALID", "the payment awaits no authorisation")
            payment.sca = "finalised" if approve else "failed"
        if approve:
            self.bank.ledger.release_hold(payment.ledger_id, now)
        else:
            self.bank.notify(self.bank.ledger.cancel(payment.ledger_id, now))
        return self._status_of(payment)[0]

    def _psu_decision(self, request: MockRequest) -> MockResponse:
        """``POST /sca/{payments|consents}/{id}?decision=approve|deny``: the redirect page's
        form, unsigned (it is the PSU's browser, not the TPP)."""
        match = re.fullmatch(r"/sca/(payments|consents)/([^/]+)", request.path)
        decision = request.param("decision")
        if request.method != "POST" or match is None or decision not in ("approve", "deny"):
            raise TppRefusal(400, "FORMAT_ERROR", "POST /sca/{kind}/{id}?decision=approve|deny")
        kind, resource = match.group(1), unquote(match.group(2))
        approve = decision == "approve"
        if kind == "payments":
            status = self._decide_payment(resource, approve=approve)
        else:
            status = self.consents.decide(resource, approve=approve).status
        return MockResponse.json(
            200, {"scaStatus": "finalised" if approve else "failed", "status": status}
        )

    def _sca_url(self, kind: str, resource: str) -> str:
        return f"{self.bank.base_url}/sca/{kind}/{resource}"

    # -- routing ----------------------------------------------------------------------------

    def _route(self, request: MockRequest, tpp: str) -> MockResponse:
        try:
            (_, _, handler), args = find_route(self._routes, request)
        except NoRoute as missing:
            if missing.method_not_allowed:
                raise TppRefusal(
                    405, "SERVICE_INVALID", f"{request.method} is not allowed here"
                ) from None
            raise TppRefusal(404, "SERVICE_INVALID", "no such endpoint") from None
        return handler(request, tpp, *args)

    # -- payments ---------------------------------------------------------------------------

    def _product(self, product: str) -> str:
        if product not in PAYMENT_PRODUCTS:
            raise TppRefusal(404, "PRODUCT_UNKNOWN", f"payment product {product[:40]!r}")
        return product

    def _initiate(self, request: MockRequest, tpp: str, product: str) -> MockResponse:
        self._product(product)
        if "PSU-IP-Address" not in request.headers:
            raise TppRefusal(400, "FORMAT_ERROR", "PSU-IP-Address is required")
        body = json_object(request.body)
        parsed = parse_instruction(body, product)
        if not self.dedupe_end_to_end_id or "endToEndIdentification" not in body:
            return self._initiated(self._submit(parsed, product, tpp, body))
        scope = f"{tpp}|{parsed.debtor_account.value}"
        key = parsed.end_to_end_id
        claim = self._dedupe.begin(
            scope, key, request_fingerprint(request.method, request.path, request.body)
        )
        if claim.state is ClaimState.MISMATCH:
            raise TppRefusal(
                400, "FORMAT_ERROR", "endToEndIdentification was used for another payment"
            )
        if claim.state is ClaimState.IN_FLIGHT:
            raise TppRefusal(409, "STATUS_INVALID", "this payment is being initiated; retry")
        if claim.state is ClaimState.REPLAY:
            assert claim.response is not None
            self.bank.count("replays")
            return self._initiated(self._payments[claim.response])
        try:
            payment = self._submit(parsed, product, tpp, body)
        except BaseException:
            self._dedupe.release(scope, key)  # refused before executing: the id is free
            raise
        self._dedupe.complete(scope, key, payment.id)
        return self._initiated(payment)

    def _submit(
        self, parsed: TransferInstruction, product: str, tpp: str, body: dict[str, Any]
    ) -> _Payment:
        try:
            view = self.bank.ledger.submit(parsed, self.bank.clock.now(), on_hold=self.sca_required)
        except AccountNotFoundError:
            raise TppRefusal(400, "PAYMENT_FAILED", "the debtor account is not held here") from None
        except CurrencyMismatchError as error:
            raise TppRefusal(400, "PAYMENT_FAILED", error.message) from None
        awaiting = self.sca_required and view.status is TransferStatus.PENDING
        with self._lock:
            payment = _Payment(
                id=f"pmt-{len(self._payments) + 1:04d}",
                product=product,
                ledger_id=view.id,
                tpp=tpp,
                body=body,
                sca="required" if awaiting else "exempt",
            )
            self._payments[payment.id] = payment
        return payment

    def _initiated(self, payment: _Payment) -> MockResponse:
        base = f"/v1/payments/{payment.product}/{payment.id}"
        body = {"paymentId": payment.id, **self._status_json(payment)}
        links = body.setdefault("_links", {})
        links.update({"self": {"href": base}, "status": {"href": f"{base}/status"}})
        headers = {"Location": base, "ASPSP-SCA-Approach": "REDIRECT"}
        return MockResponse.json(201, body, headers)

    def _find(self, payment_id: str, tpp: str | None, product: str | None) -> _Payment:
        with self._lock:
            payment = self._payments.get(payment_id)
        if (
            payment is None
            or (tpp is not None and payment.tpp != tpp)
            or (product is not None and payment.product != product)
        ):
            raise TppRefusal(404, "RESOURCE_UNKNOWN", "no such payment")
        return payment

    def _status_of(self, payment: _Payment) -> tuple[str, str | None]:
        """The ``transactionStatus`` and ISO reason of a payment, read off the ledger."""
        view = self.bank.ledger.transfer(payment.ledger_id)
        status = view.status
        if status is TransferStatus.REJECTED:
            return "RJCT", ISO_REASONS.get(view.reason, "MS03") if view.reason else "MS03"
        if status is TransferStatus.CANCELLED:
            return ("RJCT", "MS02") if payment.sca == "failed" else ("CANC", None)
        if status is TransferStatus.PENDING:
            return ("RCVD", None) if payment.sca == "required" else ("ACFC", None)
        if status is TransferStatus.PROCESSING:
            return "ACSP", None
        if status is TransferStatus.SETTLED:
            creditor = view.instruction.creditor_account.value
            return ("ACCC" if self.bank.ledger.has_account(creditor) else "ACSC"), None
        return "PDNG", None

    def _status_json(self, payment: _Payment) -> dict[str, Any]:
        code, reason = self._status_of(payment)
        body: dict[str, Any] = {"transactionStatus": code}
        if reason is not None:
            # Not in the 1.3 schema: an extension field many ASPSPs add; documented.
            body["statusReasonCode"] = reason
            message = self.bank.ledger.transfer(payment.ledger_id).reason_message
            if message:
                body["psuMessage"] = message
        if reason == "AM04":
            body["fundsAvailable"] = False
        if code == "RCVD":
            body["_links"] = {"scaRedirect": {"href": self._sca_url("payments", payment.id)}}
        return body

    def _status(self, request: MockRequest, tpp: str, product: str, pid: str) -> MockResponse:
        return MockResponse.json(200, self._status_json(self._find(pid, tpp, product)))

    def _payment(self, request: MockRequest, tpp: str, product: str, pid: str) -> MockResponse:
        payment = self._find(pid, tpp, product)
        body = {**payment.body, "transactionStatus": self._status_of(payment)[0]}
        return MockResponse.json(200, body)

    def _lookup(self, request: MockRequest, tpp: str, product: str) -> MockResponse:
        """``GET /v1/payments/{product}?endToEndIdentification=…``: not in NextGenPSD2 1.3;
        the lookup some ASPSPs offer and walletlink needs to resolve a lost reply."""
        self._product(product)
        e2e = request.param("endToEndIdentification")
        if not e2e:
            raise TppRefusal(400, "FORMAT_ERROR", "endToEndIdentification is required")
        with self._lock:
            mine = [
                p
                for p in self._payments.values()
                if p.tpp == tpp
                and p.product == product
                and p.body.get("endToEndIdentification") == e2e
            ]
        found = [
            {
                "paymentId": p.id,
                "endToEndIdentification": e2e,
                "debtorAccount": p.body.get("debtorAccount"),
                "instructedAmount": p.body.get("instructedAmount"),
                **self._status_json(p),
            }
            for p in mine
        ]
        return MockResponse.json(200, {"payments": found})

    def _cancel(self, request: MockRequest, tpp: str, product: str, pid: str) -> MockResponse:
        payment = self._find(pid, tpp, product)
        with self._lock:
            view = self.bank.ledger.transfer(payment.ledger_id)
            if view.status is not TransferStatus.PENDING:
                raise TppRefusal(
                    405, "CANCELLATION_INVALID", f"a {self._status_of(payment)[0]} payment"
                )
            cancelled = self.bank.ledger.cancel(payment.ledger_id, self.bank.clock.now())
        self.bank.notify(cancelled)
        return MockResponse(status=204)

    # -- consents ---------------------------------------------------------------------------

    def _standing_consent(self) -> str:
        body = {
            "access": {"allPsd2": "allAccounts"},
            "recurringIndicator": True,
            "validUntil": (self.bank.clock.now().date() + timedelta(days=90)).isoformat(),
            "frequencyPerDay": 4,
        }
        consent = self.consents.create(body, self.tpp.identity, self.bank.clock.now())
        return self.consents.decide(consent.id, approve=True).id

    def _create_consent(self, request: MockRequest, tpp: str) -> MockResponse:
        consent = self.consents.create(json_object(request.body), tpp, self.bank.clock.now())
        base = f"/v1/consents/{consent.id}"
        body = {
            "consentStatus": consent.status,
            "consentId": consent.id,
            "_links": {
                "scaRedirect": {"href": self._sca_url("consents", consent.id)},
                "self": {"href": base},
                "status": {"href": f"{base}/status"},
            },
        }
        return MockResponse.json(201, body, {"Location": base, "ASPSP-SCA-Approach": "REDIRECT"})

    def _consent(self, request: MockRequest, tpp: str, consent_id: str) -> MockResponse:
        now = self.bank.clock.now()
        consent = self.consents.refresh(self.consents.get(consent_id, tpp), now)
        return MockResponse.json(200, {"consentId": consent.id, **consent.to_json(now)})

    def _consent_status(self, request: MockRequest, tpp: str, consent_id: str) -> MockResponse:
        now = self.bank.clock.now()
        consent = self.consents.refresh(self.consents.get(consent_id, tpp), now)
        return MockResponse.json(200, {"consentStatus": consent.status})

    def _delete_consent(self, request: MockRequest, tpp: str, consent_id: str) -> MockResponse:
        self.consents.terminate(consent_id, tpp)
        return MockResponse(status=204)

    # -- account information ----------------------------------------------------------------

    def _account(self, resource: str) -> AccountId:
        for view in self.bank.ledger.accounts():
            if _resource_id(view.account) == resource:
                return view.account
        raise TppRefusal(404, "RESOURCE_UNKNOWN", "no such account")

    def _check(self, request: MockRequest, tpp: str, account: AccountId, service: str) -> None:
        # Reads with the PSU present (PSU-IP-Address sent) do not use up frequencyPerDay;
        # nor do the further pages of one read.
        unattended = "PSU-IP-Address" not in request.headers and request.param("page") is None
        self.consents.check(
            request.headers.get("Consent-ID"),
            tpp,
            account.value,
            service,
            self.bank.clock.now(),
            count=unattended,
        )

    def _accounts(self, request: MockRequest, tpp: str) -> MockResponse:
        now = self.bank.clock.now()
        consent = self.consents.usable(request.headers.get("Consent-ID"), tpp, now)
        listed = []
        for view in self.bank.ledger.accounts():
            if not consent.covers(view.account.value, "accounts"):
                continue
            resource = _resource_id(view.account)
            listed.append(
                {
                    "resourceId": resource,
                    **account_json(view.account),
                    "currency": view.currency,
                    "name": view.name or "Account",
                    "_links": {
                        "balances": {"href": f"/v1/accounts/{resource}/balances"},
                        "transactions": {"href": f"/v1/accounts/{resource}/transactions"},
                    },
                }
            )
        return MockResponse.json(200, {"accounts": listed})

    def _balances(self, request: MockRequest, tpp: str, resource: str) -> MockResponse:
        account = self._account(resource)
        self._check(request, tpp, account, "balances")
        view = self.bank.ledger.account(account.value)
        today = self.bank.clock.now().date().isoformat()
        balances = [
            {
                "balanceType": kind,
                "balanceAmount": {"currency": money.currency, "amount": money.to_decimal_string()},
                "referenceDate": today,
            }
            for kind, money in (
                ("closingBooked", view.booked),
                ("interimAvailable", view.available),
            )
        ]
        return MockResponse.json(200, {"account": account_json(account), "balances": balances})

    def _transactions(self, request: MockRequest, tpp: str, resource: str) -> MockResponse:
        account = self._account(resource)
        booking = request.param("bookingStatus")
        if booking in ("information", "all"):
            raise TppRefusal(400, "PARAMETER_NOT_SUPPORTED", f"bookingStatus {booking}")
        if booking not in ("booked", "pending", "both"):
            raise TppRefusal(400, "FORMAT_ERROR", "bookingStatus must be booked|pending|both")
        start, end = self._period(request)
        page = self._page_number(request)
        self._check(request, tpp, account, "transactions")
        rows: list[tuple[str, dict[str, Any]]] = []
        if booking in ("booked", "both"):
            for entry in self.bank.ledger.entries(account.value):
                if start <= entry.booked_at.date() <= end:
                    rows.append(("booked", transaction_json(entry)))
        if booking in ("pending", "both"):
            rows.extend(("pending", pending_json(view)) for view in self._pending(account))
        chunk = rows[page * self.page_size : (page + 1) * self.page_size]
        report: dict[str, Any] = {}
        for kind in ("booked", "pending"):
            if booking in (kind, "both"):
                report[kind] = [item for row_kind, item in chunk if row_kind == kind]
        links = {"account": {"href": f"/v1/accounts/{resource}"}}
        if len(rows) > (page + 1) * self.page_size:
            query = urlencode(
                {
                    "bookingStatus": booking,
                    "dateFrom": start.isoformat(),
                    "dateTo": end.isoformat(),
                    "page": str(page + 1),
                }
            )
            links["next"] = {"href": f"/v1/accounts/{resource}/transactions?{query}"}
        report["_links"] = links
        body = {"account": account_json(account), "transactions": report}
        return MockResponse.json(200, body)

    def _pending(self, account: AccountId) -> list[BankTransferView]:
        """Outgoing payments accepted (reserved) but not booked; those awaiting SCA excluded."""
        awaiting = {p.ledger_id for p in self._payments.values() if p.sca == "required"}
        return [
            view
            for view in self.bank.ledger.transfers()
            if view.debtor_key == account.value
            and view.status in (TransferStatus.PENDING, TransferStatus.PROCESSING)
            and view.id not in awaiting
        ]

    def _period(self, request: MockRequest) -> tuple[date, date]:
        today = self.bank.clock.now().date()
        try:
            start = date.fromisoformat(request.param("dateFrom") or "")
            end_text = request.param("dateTo")
            end = date.fromisoformat(end_text) if end_text else today
        except ValueError:
            raise TppRefusal(400, "FORMAT_ERROR", "dateFrom/dateTo must be YYYY-MM-DD") from None
        if start > end:
            raise TppRefusal(400, "PERIOD_INVALID", "dateFrom is after dateTo")
        return start, end

    @staticmethod
    def _page_number(request: MockRequest) -> int:
        text = request.param("page")
        if text is None:
            return 0
        if not text.isdigit():
            raise TppRefusal(400, "FORMAT_ERROR", "page is not a page this bank linked")
        return int(text)
