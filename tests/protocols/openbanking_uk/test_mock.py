"""The ``openbanking_uk`` mock bank refuses what a real ASPSP refuses, with the spec's codes.

These tests speak raw HTTP to the mock (no adapter), signing with the primitives from
``walletlink.signing`` the way any TPP would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from walletlink.accounts import SortCodeAccount
from walletlink.money import Money
from walletlink.protocols.openbanking_uk._auth import client_assertion, request_object
from walletlink.signing.jws import OBVersion, sign_ob_detached, verify_ob_detached
from walletlink.signing.keys import SigningKey, TestCA, generate_rsa_key
from walletlink.testing import FakeClock, FaultPlan, MockBank

BASE = "https://mockbank.test"
PISP = f"{BASE}/open-banking/v3.1/pisp"
FINANCIAL_ID = "0015800001041RHAAY"
TPP_ISS = "0015800001041RHAAY/walletlink-test-ssa"
CLIENT_ID = "walletlink-test-tpp"
ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def initiation(amount: str = "12.30", e2e: str = "e2e-1") -> dict[str, Any]:
    return {
        "InstructionIdentification": e2e,
        "EndToEndIdentification": e2e,
        "InstructedAmount": {"Amount": amount, "Currency": "GBP"},
        "DebtorAccount": {
            "SchemeName": "UK.OBIE.SortCodeAccountNumber",
            "Identification": "20000055555555",
        },
        "CreditorAccount": {
            "SchemeName": "UK.OBIE.SortCodeAccountNumber",
            "Identification": "40040012345678",
            "Name": "Bob",
        },
    }


class Tpp:
    """A hand-rolled TPP: a token, signed bodies, the OB headers."""

    def __init__(self, bank: MockBank, session: requests.Session, key: SigningKey) -> None:
        self.bank, self.session, self.key = bank, session, key
        self.version = bank.server.version  # type: ignore[attr-defined]

    def token(self, scope: str = "payments", **claims: Any) -> requests.Response:
        assertion = client_assertion(
            client_id=claims.get("client_id", CLIENT_ID),
            audience=claims.get("audience", f"{BASE}/token"),
            key=claims.get("key", self.key),
            kid=self.key.kid,
            now=claims.get("now", self.bank.clock.now()),
        )
        form = {
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": ASSERTION,
            "client_assertion": claims.get("assertion", assertion),
        }
        return self.session.post(f"{BASE}/token", data=form, timeout=5)

    def bearer(self, scope: str = "payments") -> str:
        reply = self.token(scope)
        assert reply.status_code == 200, reply.text
        return str(reply.json()["access_token"])

    def headers(self, token: str, body: bytes | None, **extra: str) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {token}",
            "x-fapi-financial-id": FINANCIAL_ID,
            "x-fapi-interaction-id": "5e2e7c9a-0a5c-4f4e-9d1b-3c1f0a9e8a11",
            "Content-Type": "application/json",
        }
        if body is not None:
            headers["x-jws-signature"] = sign_ob_detached(
                body,
                self.key,
                kid=self.key.kid,
                iss=TPP_ISS,
                now=self.bank.clock.now(),
                version=self.version,
            )
        headers.update(extra)
        return {name: value for name, value in headers.items() if value}

    def post(self, url: str, payload: Any, *, key: str = "k-1", **extra: str) -> requests.Response:
        body = json.dumps(payload).encode()
        headers = self.headers(self.bearer(), body, **{"x-idempotency-key": key, **extra})
        return self.session.post(url, data=body, headers=headers, timeout=5)

    def consent(self, key: str = "k-1", **changes: Any) -> str:
        reply = self.post(
            f"{PISP}/domestic-payment-consents",
            {"Data": {"Initiation": initiation(**changes)}, "Risk": {}},
            key=key,
        )
        assert reply.status_code == 201, reply.text
        return str(reply.json()["Data"]["ConsentId"])

    def pay(self, consent_id: str, key: str = "p-1", **changes: Any) -> requests.Response:
        payload = {
            "Data": {"ConsentId": consent_id, "Initiation": initiation(**changes)},
            "Risk": {},
        }
        return self.post(f"{PISP}/domestic-payments", payload, key=key)


def error_code(reply: requests.Response) -> tuple[int, str]:
    return reply.status_code, str(reply.json()["Errors"][0]["ErrorCode"])


def make_bank(clock: FakeClock | None = None, **options: Any) -> MockBank:
    bank = MockBank("openbanking_uk", clock=clock or FakeClock(), **options)
    bank.open_account(SortCodeAccount("200000", "55555555"), Money("1000.00", "GBP"), name="Alice")
    bank.open_account(SortCodeAccount("400400", "12345678"), Money("0.00", "GBP"), name="Bob")
    return bank


@pytest.fixture
def bank() -> MockBank:
    return make_bank()


@pytest.fixture
def session(bank: MockBank) -> Iterator[requests.Session]:
    with requests.Session() as session:
        bank.mount(session)
        yield session


@pytest.fixture
def tpp(bank: MockBank, session: requests.Session) -> Tpp:
    return Tpp(bank, session, bank.server.material.tpp_signing)  # type: ignore[attr-defined]


# -- tokens ---------------------------------------------------------------------------------


def test_a_valid_assertion_gets_a_bearer_token(tpp: Tpp) -> None:
    reply = tpp.token()
    assert (
        reply.status_code,
        reply.json()["token_type"],
        reply.json()["expires_in"],
    ) == (200, "Bearer", 300)


@pytest.mark.parametrize(
    ("claims", "problem"),
    [
        ({"audience": "https://elsewhere.test/token"}, "aud"),
        ({"client_id": "someone-else"}, "iss and sub"),
        ({"now": datetime(2020, 1, 1, tzinfo=UTC)}, "expired"),
        ({"key": generate_rsa_key("tpp-signing-kid")}, "does not verify"),
    ],
    ids=["wrong-aud", "wrong-client", "expired", "wrong-key"],
)
def test_bad_assertions_are_refused(tpp: Tpp, claims: dict[str, Any], problem: str) -> None:
    reply = tpp.token(**claims)
    assert (reply.status_code, reply.json()["error"]) == (401, "invalid_client")
    assert problem in reply.json()["error_description"]


def test_a_replayed_assertion_is_refused(tpp: Tpp, bank: MockBank) -> None:
    assertion = client_assertion(
        client_id=CLIENT_ID,
        audience=f"{BASE}/token",
        key=tpp.key,
        kid=tpp.key.kid,
        now=bank.clock.now(),
    )
    assert tpp.token(assertion=assertion).status_code == 200
    replay = tpp.token(assertion=assertion)
    assert (
        replay.status_code,
        replay.json()["error_description"],
    ) == (401, "jti was already used (replayed assertion)")


def test_tokens_expire_on_the_banks_clock(tpp: Tpp, bank: MockBank) -> None:
    token = tpp.bearer()
    url = f"{PISP}/domestic-payment-consents/pdc-0001"
    bank.clock.advance(300)
    reply = tpp.session.get(url, headers=tpp.headers(token, None), timeout=5)
    assert reply.status_code == 401
    assert 'error="invalid_token"' in reply.headers["WWW-Authenticate"]


def test_an_accounts_token_cannot_pay(tpp: Tpp) -> None:
    body = json.dumps({"Data": {"Initiation": initiation()}, "Risk": {}}).encode()
    headers = tpp.headers(tpp.bearer("accounts"), body, **{"x-idempotency-key": "k"})
    reply = tpp.session.post(f"{PISP}/domestic-payment-consents", data=body, headers=headers)
    assert reply.status_code == 403


# -- headers and signatures -----------------------------------------------------------------


def test_replies_are_signed_by_the_bank(tpp: Tpp, bank: MockBank) -> None:
    body = json.dumps({"Data": {"Initiation": initiation()}, "Risk": {}}).encode()
    headers = tpp.headers(tpp.bearer(), body, **{"x-idempotency-key": "k-1"})
    reply = tpp.session.post(f"{PISP}/domestic-payment-consents", data=body, headers=headers)
    verify_ob_detached(
        reply.headers["x-jws-signature"],
        reply.content,
        keys={"bank-signing-kid": bank.server.material.bank_signing},  # type: ignore[attr-defined]
        iss=FINANCIAL_ID,
        now=bank.clock.now(),
    )
    assert headers["x-fapi-interaction-id"] == reply.headers["x-fapi-interaction-id"]


@pytest.mark.parametrize(
    ("header", "value", "expected"),
    [
        ("x-jws-signature", "", (400, "UK.OBIE.Signature.Missing")),
        ("x-jws-signature", "not-a-jws", (400, "UK.OBIE.Signature.Malformed")),
        ("x-idempotency-key", "", (400, "UK.OBIE.Header.Missing")),
        ("x-idempotency-key", "k" * 41, (400, "UK.OBIE.Header.Invalid")),
        ("x-fapi-financial-id", "", (400, "UK.OBIE.Header.Missing")),
    ],
)
def test_missing_or_bad_headers(
    tpp: Tpp, header: str, value: str, expected: tuple[int, str]
) -> None:
    body = json.dumps({"Data": {"Initiation": initiation()}, "Risk": {}}).encode()
    headers = tpp.headers(tpp.bearer(), body, **{"x-idempotency-key": "k-1"})
    headers[header] = value
    headers = {name: v for name, v in headers.items() if v}
    reply = tpp.session.post(f"{PISP}/domestic-payment-consents", data=body, headers=headers)
    assert expected == error_code(reply)


def test_a_tampered_body_is_refused(tpp: Tpp) -> None:
    body = json.dumps({"Data": {"Initiation": initiation()}, "Risk": {}}).encode()
    headers = tpp.headers(tpp.bearer(), body, **{"x-idempotency-key": "k-1"})
    tampered = body.replace(b"12.30", b"99.30")
    reply = tpp.session.post(f"{PISP}/domestic-payment-consents", data=tampered, headers=headers)
    assert error_code(reply) == (400, "UK.OBIE.Signature.Invalid")


def test_a_signature_with_another_key_is_refused(bank: MockBank, session: requests.Session) -> None:
    stranger = Tpp(bank, session, generate_rsa_key("tpp-signing-kid"))
    stranger.bearer = Tpp(bank, session, bank.server.material.tpp_signing).bearer  # type: ignore[method-assign, attr-defined]
    reply = stranger.post(
        f"{PISP}/domestic-payment-consents", {"Data": {"Initiation": initiation()}, "Risk": {}}
    )
    assert error_code(reply) == (400, "UK.OBIE.Signature.Invalid")


def test_the_wrong_jws_generation_is_refused(session: requests.Session) -> None:
    """A 3.1.3 bank demands ``b64: false``; a 3.1.4+ signature lacks it."""
    bank = make_bank(obie_version="3.1.3")
    bank.mount(session)
    tpp = Tpp(bank, session, bank.server.material.tpp_signing)  # type: ignore[attr-defined]
    tpp.version = OBVersion.V3_1_4
    reply = tpp.post(
        f"{PISP}/domestic-payment-consents", {"Data": {"Initiation": initiation()}, "Risk": {}}
    )
    assert error_code(reply) == (400, "UK.OBIE.Signature.InvalidClaim")


# -- consents, payments, idempotency --------------------------------------------------------


def test_same_key_same_body_returns_the_current_consent(tpp: Tpp, bank: MockBank) -> None:
    consent_id = tpp.consent()
    bank.server.authorise(consent_id)  # type: ignore[attr-defined]
    replay = tpp.post(
        f"{PISP}/domestic-payment-consents", {"Data": {"Initiation": initiation()}, "Risk": {}}
    )
    assert (201, consent_id, "Authorised") == (
        replay.status_code,
        replay.json()["Data"]["ConsentId"],
        replay.json()["Data"]["Status"],
    )


def test_same_key_another_body_is_refused(tpp: Tpp) -> None:
    tpp.consent()
    reply = tpp.post(
        f"{PISP}/domestic-payment-consents",
        {"Data": {"Initiation": initiation(amount="99.00")}, "Risk": {}},
    )
    assert error_code(reply) == (400, "UK.OBIE.Header.Invalid")
    assert reply.json()["Errors"][0]["Path"] == "x-idempotency-key"


def test_a_payment_needs_an_authorised_consent(tpp: Tpp) -> None:
    consent_id = tpp.consent()
    assert error_code(tpp.pay(consent_id)) == (400, "UK.OBIE.Resource.InvalidConsentStatus")


def test_a_payment_must_match_its_consent(tpp: Tpp, bank: MockBank) -> None:
    consent_id = tpp.consent()
    bank.server.authorise(consent_id)  # type: ignore[attr-defined]
    reply = tpp.pay(consent_id, amount="99.00")
    assert error_code(reply) == (400, "UK.OBIE.Resource.ConsentMismatch")
    assert bank.transfers() == []


def test_a_consent_pays_once(tpp: Tpp, bank: MockBank) -> None:
    consent_id = tpp.consent()
    bank.server.authorise(consent_id)  # type: ignore[attr-defined]
    first = tpp.pay(consent_id, key="p-1")
    replay = tpp.pay(consent_id, key="p-1")
    again = tpp.pay(consent_id, key="p-2")
    assert first.status_code == 201
    assert first.json()["Data"]["DomesticPaymentId"] == replay.json()["Data"]["DomesticPaymentId"]
    assert error_code(again) == (400, "UK.OBIE.Resource.InvalidConsentStatus")
    assert len(bank.transfers()) == 1


def test_an_unknown_consent_is_a_400(tpp: Tpp) -> None:
    url = f"{PISP}/domestic-payment-consents/nope"
    reply = tpp.session.get(url, headers=tpp.headers(tpp.bearer(), None), timeout=5)
    assert error_code(reply) == (400, "UK.OBIE.Resource.NotFound")


def test_payments_settle_on_the_clock(tpp: Tpp, bank: MockBank) -> None:
    consent_id = tpp.consent()
    bank.server.authorise(consent_id)  # type: ignore[attr-defined]
    payment_id = tpp.pay(consent_id).json()["Data"]["DomesticPaymentId"]
    url = f"{PISP}/domestic-payments/{payment_id}"
    statuses = []
    for _ in range(2):
        reply = tpp.session.get(url, headers=tpp.headers(tpp.bearer(), None), timeout=5)
        statuses.append(reply.json()["Data"]["Status"])
        bank.advance(61)
    assert statuses == ["Pending", "AcceptedCreditSettlementCompleted"]


def test_funds_confirmation(tpp: Tpp, bank: MockBank) -> None:
    consent_id = tpp.consent(amount="2000.00")
    bank.server.authorise(consent_id)  # type: ignore[attr-defined]
    url = f"{PISP}/domestic-payment-consents/{consent_id}/funds-confirmation"
    reply = tpp.session.get(url, headers=tpp.headers(tpp.bearer(), None), timeout=5)
    assert reply.json()["Data"]["FundsAvailableResult"]["FundsAvailable"] is False


# -- the account holder -----------------------------------------------------------------------


def test_following_the_redirect_authorises(tpp: Tpp, bank: MockBank) -> None:
    consent_id = tpp.consent()
    signed = request_object(
        client_id=CLIENT_ID,
        audience=BASE,
        redirect_uri="https://wallet.example/callback",
        scope="payments",
        consent_id=consent_id,
        state="t-1",
        key=tpp.key,
        kid=tpp.key.kid,
        now=bank.clock.now(),
    )
    url = f"{BASE}/authorize?" + urlencode({"client_id": CLIENT_ID, "request": signed})
    reply = tpp.session.get(url, allow_redirects=False, timeout=5)
    assert reply.status_code == 302
    location = urlsplit(reply.headers["Location"])
    assert parse_qs(location.fragment)["state"] == ["t-1"]
    assert bank.server.consent_status(consent_id) == "Authorised"  # type: ignore[attr-defined]


def test_deny(tpp: Tpp, bank: MockBank) -> None:
    consent_id = tpp.consent()
    bank.server.deny(consent_id)  # type: ignore[attr-defined]
    assert bank.server.consent_status(consent_id) == "Rejected"  # type: ignore[attr-defined]
    assert error_code(tpp.pay(consent_id)) == (400, "UK.OBIE.Resource.InvalidConsentStatus")


# -- faults and mutual TLS ----------------------------------------------------------------------


def test_injected_faults_answer_in_the_spec_format(tpp: Tpp, bank: MockBank) -> None:
    token = tpp.bearer()
    bank.set_faults(FaultPlan(unavailable=1.0))
    url = f"{PISP}/domestic-payment-consents/pdc-0001"
    reply = tpp.session.get(url, headers=tpp.headers(token, None), timeout=5)
    assert error_code(reply) == (503, "UK.OBIE.UnexpectedError")
    assert "x-jws-signature" in reply.headers


def _stranger_cert(tmp_path: Path) -> tuple[str, str]:
    now = datetime.now(UTC)
    other = TestCA.create(now=now).issue("stranger", now=now, client=True)
    cert, key = tmp_path / "stranger.pem", tmp_path / "stranger.key"
    cert.write_bytes(other.certificate_pem())
    key.write_bytes(other.private_key_pem())
    return str(cert), str(key)


def test_in_process_the_certificate_must_be_the_registered_one(
    tpp: Tpp, bank: MockBank, tmp_path: Path
) -> None:
    cert, key, _ = bank.server.tls_files()  # type: ignore[attr-defined]
    tpp.session.cert = (cert, key)
    token = tpp.bearer()  # bound to the registered certificate
    url = f"{PISP}/domestic-payment-consents/pdc-0001"
    tpp.session.cert = _stranger_cert(tmp_path)
    reply = tpp.session.get(url, headers=tpp.headers(token, None), timeout=5)
    assert reply.status_code == 401
    tpp.session.cert = None
    reply = tpp.session.get(url, headers=tpp.headers(token, None), timeout=5)
    assert "bound to another certificate" in reply.headers["WWW-Authenticate"]


def test_loopback_demands_a_client_certificate_from_the_ca(bank: MockBank, tmp_path: Path) -> None:
    cert, key, ca = bank.server.tls_files()  # type: ignore[attr-defined]
    with bank.serve(tls=bank.server.server_tls()) as served, requests.Session() as session:  # type: ignore[attr-defined]
        url = f"{served.url}/open-banking/v3.1/pisp/domestic-payment-consents/x"
        for client_cert in (None, _stranger_cert(tmp_path)):
            with pytest.raises(requests.exceptions.RequestException):
                session.get(url, cert=client_cert, verify=ca, timeout=5).close()
        reply = session.get(url, cert=(cert, key), verify=ca, timeout=5)
        assert reply.status_code == 401  # through TLS; no token yet
        reply.close()
