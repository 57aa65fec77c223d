"""The Berlin Group mock bank refuses what a real ASPSP refuses, with the spec's codes."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.serialization import Encoding

from walletlink.http import PreparedRequest
from walletlink.protocols.berlin_group.mock import BerlinGroupServer
from walletlink.signing.cavage import BerlinGroupSigner
from walletlink.signing.digest import legacy_digest
from walletlink.signing.keys import SigningKey, TestCA
from walletlink.testing import FakeClock, FaultPlan, MockBank, MockRequest, MockResponse

BASE = "https://mockbank.test"
DEBTOR = "DE89370400440532013000"
CREDITOR = "GB33BUKB20201555555555"
PSU = {"PSU-IP-Address": "192.0.2.10"}


def make_bank(**options: Any) -> MockBank:
    bank = MockBank("berlin_group", clock=FakeClock(), **options)
    bank.open_account(DEBTOR, "100.00", "EUR", name="Alice")
    bank.open_account(CREDITOR, "0.00", "EUR", name="Bob")
    return bank


def server(bank: MockBank) -> BerlinGroupServer:
    assert isinstance(bank.server, BerlinGroupServer)
    return bank.server


def payment(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "endToEndIdentification": "e2e-1",
        "instructedAmount": {"currency": "EUR", "amount": "12.30"},
        "debtorAccount": {"iban": DEBTOR},
        "creditorName": "Bob",
        "creditorAccount": {"iban": CREDITOR},
    }
    body.update(changes)
    return body


Mutate = Callable[[MockRequest], MockRequest]


def send(
    bank: MockBank,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
    key: SigningKey | None = None,
    mutate: Mutate | None = None,
) -> MockResponse:
    """Sign like a TPP (with the bank's TPP unless ``key``), optionally tamper, deliver."""
    url = BASE + path
    if body is None:
        request = PreparedRequest(method=method, path=path, headers=headers or {})
    else:
        request = PreparedRequest.json(method, path, body, headers=headers)
    signed = BerlinGroupSigner(key=key or server(bank).tpp.qseal)(request, url, bank.clock.now())
    mock = MockRequest.build(method, url, headers=signed.headers, body=signed.body or b"")
    return bank.handle(mutate(mock) if mutate else mock)


def code(response: MockResponse) -> tuple[int, str]:
    return response.status, json.loads(response.body)["tppMessages"][0]["code"]


def initiate(bank: MockBank, **changes: Any) -> MockResponse:
    return send(bank, "POST", "/v1/payments/sepa-credit-transfers", payment(**changes), headers=PSU)


def with_header(name: str, value: str | None) -> Mutate:
    def mutate(request: MockRequest) -> MockRequest:
        headers = {k: v for k, v in request.headers.items() if k.lower() != name.lower()}
        if value is not None:
            headers[name] = value
        return MockRequest.build(request.method, request.url, headers=headers, body=request.body)

    return mutate


def with_body(body: bytes) -> Mutate:
    def mutate(request: MockRequest) -> MockRequest:
        return MockRequest.build(request.method, request.url, headers=request.headers, body=body)

    return mutate


# -- signatures, digests and certificates (protocols reference §3.3) ----------------------


def test_a_signed_payment_is_accepted_and_awaits_sca() -> None:
    bank = make_bank()
    response = initiate(bank)
    body = json.loads(response.body)
    assert (response.status, body["transactionStatus"]) == (201, "RCVD")
    assert body["_links"]["scaRedirect"]["href"] == f"{BASE}/sca/payments/{body['paymentId']}"
    assert response.headers["ASPSP-SCA-Approach"] == "REDIRECT"


def test_a_tampered_body_is_a_format_error() -> None:
    """The digest no longer matches the bytes: the reference ASPSP answers 400 FORMAT_ERROR."""
    bank = make_bank()
    tampered = json.dumps(payment(instructedAmount={"currency": "EUR", "amount": "99.00"}))
    response = send(
        bank,
        "POST",
        "/v1/payments/sepa-credit-transfers",
        payment(),
        headers=PSU,
        mutate=with_body(tampered.encode()),
    )
    assert code(response) == (400, "FORMAT_ERROR")
    assert bank.transfers() == []


def test_a_recomputed_digest_without_a_new_signature_is_refused() -> None:
    bank = make_bank()
    forged = json.dumps(payment(creditorName="Mallory")).encode()

    def forge(request: MockRequest) -> MockRequest:
        return with_header("Digest", legacy_digest(forged))(with_body(forged)(request))

    response = send(
        bank, "POST", "/v1/payments/sepa-credit-transfers", payment(), headers=PSU, mutate=forge
    )
    assert code(response) == (401, "SIGNATURE_INVALID")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Signature", (401, "SIGNATURE_MISSING")),
        ("Digest", (401, "SIGNATURE_MISSING")),
        ("TPP-Signature-Certificate", (401, "CERTIFICATE_MISSING")),
        ("X-Request-ID", (400, "FORMAT_ERROR")),
    ],
)
def test_missing_security_headers(header: str, expected: tuple[int, str]) -> None:
    bank = make_bank()
    response = send(
        bank,
        "POST",
        "/v1/payments/sepa-credit-transfers",
        payment(),
        headers=PSU,
        mutate=with_header(header, None),
    )
    assert code(response) == expected


def test_a_certificate_from_an_untrusted_ca_is_refused() -> None:
    bank = make_bank()
    rogue = TestCA.create(now=bank.clock.now(), subject="rogue CA")
    impostor = server(bank).pki.issue_tpp(bank.clock.now(), ca=rogue)
    response = send(
        bank,
        "POST",
        "/v1/payments/sepa-credit-transfers",
        payment(),
        headers=PSU,
        key=impostor.qseal,
    )
    assert code(response) == (401, "CERTIFICATE_INVALID")


def test_a_key_id_naming_another_certificate_is_refused() -> None:
    """The wrong certificate: keyId (and the key) belong to another QSealC."""
    bank = make_bank()
    other = server(bank).pki.issue_tpp(bank.clock.now(), name="Other TPP", org_id="PSDDE-X-2")
    assert other.qseal.certificate is not None
    swapped = base64.b64encode(other.qseal.certificate.public_bytes(Encoding.DER)).decode()
    response = send(
        bank,
        "POST",
        "/v1/payments/sepa-credit-transfers",
        payment(),
        headers=PSU,
        mutate=with_header("TPP-Signature-Certificate", swapped),
    )
    assert code(response) == (401, "SIGNATURE_INVALID")


def test_an_expired_certificate_is_refused() -> None:
    bank = make_bank()
    bank.clock.advance(timedelta(days=400).total_seconds())
    assert code(initiate(bank)) == (401, "CERTIFICATE_EXPIRED")


def test_a_qwac_of_another_tpp_is_refused() -> None:
    bank = make_bank()
    other = server(bank).pki.issue_tpp(bank.clock.now(), name="Other TPP", org_id="PSDDE-X-2")

    def present(request: MockRequest) -> MockRequest:
        return MockRequest.build(
            request.method,
            request.url,
            headers=request.headers,
            body=request.body,
            client_cert=other.qwac.certificate,
        )

    response = send(
        bank, "POST", "/v1/payments/sepa-credit-transfers", payment(), headers=PSU, mutate=present
    )
    assert code(response) == (401, "CERTIFICATE_INVALID")


def test_a_required_qwac_must_be_presented() -> None:
    bank = make_bank(require_qwac=True)
    assert code(initiate(bank)) == (401, "CERTIFICATE_MISSING")


def test_loopback_mutual_tls_refuses_a_client_without_a_certificate(tmp_path: Path) -> None:
    bank = make_bank()
    pki = server(bank).pki
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(pki.ca.certificate_pem())
    with (
        bank.serve(tls=pki.server_tls()) as served,
        requests.Session() as session,
        pytest.raises(requests.exceptions.ConnectionError),
    ):
        session.get(f"{served.url}/v1/accounts", verify=str(bundle), timeout=5)


# -- payments -----------------------------------------------------------------------------


def test_payment_initiation_needs_the_psu_ip_address() -> None:
    bank = make_bank()
    response = send(bank, "POST", "/v1/payments/sepa-credit-transfers", payment())
    assert code(response) == (400, "FORMAT_ERROR")


def test_an_unknown_product_is_product_unknown() -> None:
    bank = make_bank()
    response = send(bank, "POST", "/v1/payments/target-2-payments", payment(), headers=PSU)
    assert code(response) == (404, "PRODUCT_UNKNOWN")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"instructedAmount": {"currency": "EUR", "amount": "12.345"}}, "instructedAmount"),
        ({"instructedAmount": {"currency": "USD", "amount": "12.30"}}, "EUR only"),
        ({"creditorAccount": {"iban": "DE00000000000000000000"}}, "creditorAccount"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_malformed_payments_name_the_field(changes: dict[str, Any], field: str) -> None:
    bank = make_bank()
    response = initiate(bank, **changes)
    assert code(response) == (400, "FORMAT_ERROR")
    assert field in json.loads(response.body)["tppMessages"][0]["text"]


def test_the_same_end_to_end_id_is_one_payment() -> None:
    bank = make_bank()
    first = json.loads(initiate(bank).body)["paymentId"]
    assert json.loads(initiate(bank).body)["paymentId"] == first
    changed = initiate(bank, instructedAmount={"currency": "EUR", "amount": "50.00"})
    assert code(changed) == (400, "FORMAT_ERROR")
    assert len(bank.transfers()) == 1


def test_without_dedupe_the_same_end_to_end_id_pays_twice() -> None:
    """What a bank without de-duplication does: why the adapter never re-sends there."""
    bank = make_bank(dedupe_end_to_end_id=False)
    initiate(bank)
    initiate(bank)
    assert bank.duplicates_at_bank == 1


def status_of(bank: MockBank, payment_id: str) -> dict[str, Any]:
    response = send(bank, "GET", f"/v1/payments/sepa-credit-transfers/{payment_id}/status")
    assert response.status == 200
    body: dict[str, Any] = json.loads(response.body)
    return body


def test_approval_then_the_clock_settles_the_payment() -> None:
    bank = make_bank()
    pid = json.loads(initiate(bank).body)["paymentId"]
    assert str(bank.available(DEBTOR)) == "87.70 EUR"  # reserved while awaiting SCA
    bank.advance(120)  # nothing moves while the PSU has not authorised
    assert status_of(bank, pid)["transactionStatus"] == "RCVD"
    assert server(bank).approve_payment(pid) == "ACFC"
    bank.advance(0)
    assert status_of(bank, pid)["transactionStatus"] == "ACSP"
    bank.advance(61)
    assert status_of(bank, pid) == {"transactionStatus": "ACCC"}  # creditor held here
    assert str(bank.balance(DEBTOR)) == "87.70 EUR"


def test_the_psu_can_deny_at_the_redirect_page() -> None:
    bank = make_bank()
    pid = json.loads(initiate(bank).body)["paymentId"]
    answer = bank.handle(
        MockRequest.build("POST", f"{BASE}/sca/payments/{pid}?decision=deny", headers={})
    )
    assert json.loads(answer.body) == {"scaStatus": "failed", "status": "RJCT"}
    assert status_of(bank, pid)["statusReasonCode"] == "MS02"
    assert bank.available(DEBTOR) == bank.balance(DEBTOR)  # the reservation is released


def test_insufficient_funds_is_rjct_am04() -> None:
    bank = make_bank()
    body = json.loads(initiate(bank, instructedAmount={"currency": "EUR", "amount": "500.00"}).body)
    assert (body["transactionStatus"], body["statusReasonCode"]) == ("RJCT", "AM04")
    assert body["fundsAvailable"] is False
    assert "scaRedirect" not in body["_links"]


def test_cancel_before_execution_then_not_after() -> None:
    bank = make_bank()
    pid = json.loads(initiate(bank).body)["paymentId"]
    assert send(bank, "DELETE", f"/v1/payments/sepa-credit-transfers/{pid}").status == 204
    assert status_of(bank, pid)["transactionStatus"] == "CANC"
    other = json.loads(initiate(bank, endToEndIdentification="e2e-2").body)["paymentId"]
    server(bank).approve_payment(other)
    bank.advance(61)
    refused = send(bank, "DELETE", f"/v1/payments/sepa-credit-transfers/{other}")
    assert code(refused) == (405, "CANCELLATION_INVALID")


def test_another_tpp_cannot_see_a_payment() -> None:
    bank = make_bank()
    pid = json.loads(initiate(bank).body)["paymentId"]
    other = server(bank).pki.issue_tpp(bank.clock.now(), name="Other TPP", org_id="PSDDE-X-2")
    path = f"/v1/payments/sepa-credit-transfers/{pid}/status"
    assert code(send(bank, "GET", path, key=other.qseal)) == (404, "RESOURCE_UNKNOWN")


def test_injected_faults_use_the_shell() -> None:
    bank = make_bank(faults=FaultPlan(server_error=1.0))
    with requests.Session() as session:
        bank.mount(session)
        assert session.get(f"{BASE}/v1/accounts", timeout=5).status_code == 500


# -- consents and account information ----------------------------------------------------


def consent(bank: MockBank, **changes: Any) -> str:
    body: dict[str, Any] = {
        "access": {"balances": [{"iban": DEBTOR}], "transactions": [{"iban": DEBTOR}]},
        "recurringIndicator": True,
        "validUntil": (bank.clock.now().date() + timedelta(days=30)).isoformat(),
        "frequencyPerDay": 4,
    }
    body.update(changes)
    response = send(bank, "POST", "/v1/consents", body)
    assert response.status == 201, response.body
    consent_id: str = json.loads(response.body)["consentId"]
    return consent_id


def balances(bank: MockBank, consent_id: str, account: str = DEBTOR) -> MockResponse:
    accounts = send(
        bank, "GET", "/v1/accounts", headers={"Consent-ID": server(bank).standing_consent_id}
    )
    resource = next(
        a["resourceId"] for a in json.loads(accounts.body)["accounts"] if a["iban"] == account
    )
    return send(
        bank, "GET", f"/v1/accounts/{resource}/balances", headers={"Consent-ID": consent_id}
    )


def test_a_consent_is_usable_only_once_authorised() -> None:
    bank = make_bank()
    consent_id = consent(bank)
    assert code(balances(bank, consent_id)) == (401, "CONSENT_INVALID")
    server(bank).approve_consent(consent_id)
    body = json.loads(balances(bank, consent_id).body)
    assert [b["balanceAmount"]["amount"] for b in body["balances"]] == ["100.00", "100.00"]


def test_an_expired_consent_is_consent_expired() -> None:
    bank = make_bank()
    consent_id = consent(bank)
    server(bank).approve_consent(consent_id)
    bank.advance(timedelta(days=31).total_seconds())
    assert code(balances(bank, consent_id)) == (401, "CONSENT_EXPIRED")


def test_an_account_outside_the_consent_is_refused() -> None:
    bank = make_bank()
    consent_id = consent(bank)
    server(bank).approve_consent(consent_id)
    assert code(balances(bank, consent_id, CREDITOR)) == (401, "CONSENT_INVALID")


def test_a_one_off_consent_used_twice_is_access_exceeded() -> None:
    bank = make_bank()
    consent_id = consent(bank, recurringIndicator=False, frequencyPerDay=1)
    server(bank).approve_consent(consent_id)
    assert balances(bank, consent_id).status == 200
    bank.advance(timedelta(days=1).total_seconds())  # one-off: a new day does not reset it
    assert code(balances(bank, consent_id)) == (429, "ACCESS_EXCEEDED")


def test_an_unknown_consent_is_consent_unknown() -> None:
    bank = make_bank()
    assert code(balances(bank, "consent-9999")) == (403, "CONSENT_UNKNOWN")


def test_a_one_off_consent_must_have_frequency_one() -> None:
    bank = make_bank()
    body = {
        "access": {"allPsd2": "allAccounts"},
        "recurringIndicator": False,
        "validUntil": bank.clock.now().date().isoformat(),
        "frequencyPerDay": 4,
    }
    assert code(send(bank, "POST", "/v1/consents", body)) == (400, "FORMAT_ERROR")


def test_transactions_page_with_next_links() -> None:
    bank = make_bank(page_size=1, sca_required=False)
    for index in range(3):
        initiate(bank, endToEndIdentification=f"e2e-{index}")
    bank.advance(61)
    accounts = send(
        bank, "GET", "/v1/accounts", headers={"Consent-ID": server(bank).standing_consent_id}
    )
    resource = json.loads(accounts.body)["accounts"][0]["resourceId"]
    path = (
        f"/v1/accounts/{resource}/transactions?bookingStatus=booked&dateFrom="
        f"{bank.clock.now().date().isoformat()}"
    )
    seen = []
    headers = {"Consent-ID": server(bank).standing_consent_id}
    while path:
        report = json.loads(send(bank, "GET", path, headers=headers).body)["transactions"]
        seen += [item["endToEndId"] for item in report["booked"]]
        path = report["_links"].get("next", {}).get("href")
    assert seen == ["e2e-0", "e2e-1", "e2e-2"]
