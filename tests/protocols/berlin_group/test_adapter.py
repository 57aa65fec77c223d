"""The berlin_group adapter and its mock bank pass the adapter conformance suite."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from walletlink._retry import RetryPolicy
from walletlink.accounts import Iban
from walletlink.client import Client
from walletlink.config import BankConfig
from walletlink.errors import (
    AuthenticationError,
    BankRejectedError,
    BankUnavailableError,
    CertificateMismatchError,
    ConfigurationError,
    ProtocolError,
    RateLimitedError,
    SignatureExpiredError,
    SignatureMismatchError,
    SignatureMissingError,
    UnknownOutcomeError,
    ValidationError,
    WalletLinkError,
)
from walletlink.http import RawResponse
from walletlink.models import (
    BalanceType,
    BookingStatus,
    Direction,
    NextAction,
    Party,
    ReasonCode,
    Transfer,
    TransferRequest,
    TransferStatus,
)
from walletlink.money import Money
from walletlink.protocols.berlin_group._codes import STATUS_MAP, map_status
from walletlink.protocols.berlin_group.adapter import BerlinGroupAdapter
from walletlink.protocols.berlin_group.mock import BerlinGroupServer
from walletlink.testing import FakeClock, FaultPlan, MockRequest, MockResponse
from walletlink.testing.conformance import AdapterConformance
from walletlink.testing.mockbank import MockBank, ServedBank


def _server(bank: MockBank) -> BerlinGroupServer:
    assert isinstance(bank.server, BerlinGroupServer)
    return bank.server


class TestBerlinGroupConformance(AdapterConformance):
    protocol = "berlin_group"
    payment_path = "/v1/payments/"

    def refused_requests(self, bank: MockBank) -> list[TransferRequest]:
        """A payment product XS2A does not define."""
        return [
            *super().refused_requests(bank),
            self._request(bank, metadata={"payment_product": "bulk-unicorn-transfers"}),
        ]

    @pytest.fixture(autouse=True)
    def _files(self, tmp_path: Path) -> None:
        # The loopback run writes the QWAC and CA files that requests reads.
        self.files = tmp_path

    def complete_action(self, bank: MockBank, client: Client, transfer: Transfer) -> Transfer:
        """SCA by redirect: the PSU approves at the mock bank, then the wallet polls."""
        if transfer.status is not TransferStatus.REQUIRES_ACTION:
            return transfer
        assert transfer.next_action is not None
        _server(bank).approve_payment(transfer.next_action.data["payment_id"])
        return client.get_transfer(transfer.id)

    def serve(self, bank: MockBank) -> tuple[ServedBank, BankConfig]:
        """Loopback behind mutual TLS: the client presents the TPP's QWAC."""
        server = _server(bank)
        server.auth.require_qwac = True
        served = bank.serve(tls=server.pki.server_tls())
        files = server.pki.client_files(server.tpp, self.files)
        return served, served.config(**files)


# -- the adapter against its mock bank -----------------------------------------------------

DEBTOR = Iban("DE89370400440532013000")
CREDITOR = Party(name="Bob", account=Iban("GB33BUKB20201555555555"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def open_bank(clock: FakeClock, **options: Any) -> MockBank:
    bank = MockBank("berlin_group", bank_id="bg", clock=clock, **options)
    bank.open_account(DEBTOR, Money("100.00", "EUR"))
    bank.open_account(CREDITOR.account, Money("0.00", "EUR"))
    return bank


@pytest.fixture
def bank(clock: FakeClock) -> MockBank:
    return open_bank(clock)


def connect(bank: MockBank, clock: FakeClock, **overrides: Any) -> Client:
    config = bank.config(**overrides)
    retry = RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(1))
    client = Client([config], retry=retry, clock=clock.now)
    bank.mount(client.session)
    return client


@pytest.fixture
def client(bank: MockBank, clock: FakeClock) -> Iterator[Client]:
    with connect(bank, clock) as client:
        yield client


def transfer_request(**changes: Any) -> TransferRequest:
    fields: dict[str, Any] = {
        "amount": Money("12.30", "EUR"),
        "debtor_account": DEBTOR,
        "creditor": CREDITOR,
        "remittance": "Invoice 42",
    }
    fields.update(changes)
    return TransferRequest(**fields)


def adapter_for(bank: MockBank, **options: Any) -> BerlinGroupAdapter:
    fields = _server(bank).client_config_fields()
    return BerlinGroupAdapter(
        bank.config(credentials=fields["credentials"], options={**fields["options"], **options})
    )


def test_every_iso_status_code_is_mapped() -> None:
    codes = "RCVD PDNG ACTC ACCP ACFC ACSP ACWC ACWP ACSC ACCC RJCT CANC PATC PART".split()
    assert sorted(STATUS_MAP) == sorted(codes)
    assert map_status("XXXX") is TransferStatus.UNKNOWN


def test_the_payment_request_carries_the_berlin_group_headers(bank: MockBank) -> None:
    adapter = adapter_for(bank)
    request = adapter.create_transfer(transfer_request(), "t1").send(None)
    url = bank.base_url + request.path
    signed = adapter.signer()(request, url, bank.clock.now())
    expected_headers = {
        "X-Request-ID",
        "Digest",
        "Signature",
        "TPP-Signature-Certificate",
        "PSU-IP-Address",
        "TPP-Redirect-URI",
        "Date",
    }
    assert expected_headers <= set(signed.headers)
    assert (request.method, request.path) == ("POST", "/v1/payments/sepa-credit-transfers")
    body = json.loads(signed.body or b"")
    assert body["instructedAmount"] == {"currency": "EUR", "amount": "12.30"}
    assert body["remittanceInformationUnstructured"] == "Invoice 42"
    # The bank's own verifier accepts what the adapter's signer produced.
    mock = MockRequest.build("POST", url, headers=signed.headers, body=signed.body or b"")
    _server(bank).auth.authenticate(mock)
    signature = signed.headers["Signature"]
    assert 'headers="digest x-request-id tpp-redirect-uri date"' in signature


def test_the_post_is_idempotent_only_where_the_bank_dedupes(bank: MockBank) -> None:
    flow = adapter_for(bank, dedupes_end_to_end_id=False).create_transfer(transfer_request(), "t")
    assert flow.send(None).idempotent is False
    flow = adapter_for(bank).create_transfer(transfer_request(), "t")
    assert flow.send(None).idempotent is True


@pytest.mark.parametrize(
    "product", ["instant-sepa-credit-transfers", "cross-border-credit-transfers"]
)
def test_the_payment_product_comes_from_metadata(bank: MockBank, product: str) -> None:
    request = transfer_request(metadata={"payment_product": product})
    assert adapter_for(bank).create_transfer(request, "t").send(None).path == (
        f"/v1/payments/{product}"
    )


@pytest.mark.parametrize(
    ("metadata", "options"),
    [({"payment_product": "target-2-payments"}, {}), ({}, {"psu_ip_address": None})],
)
def test_bad_payment_input_is_refused_before_io(
    bank: MockBank, metadata: dict[str, str], options: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        adapter_for(bank, **options).create_transfer(transfer_request(metadata=metadata), "t").send(
            None
        )


def test_a_qseal_that_cannot_sign_rsa_sha256_is_a_configuration_error(bank: MockBank) -> None:
    ec_key = _server(bank).pki.ca.issue("ec-seal", now=bank.clock.now(), client=True)
    with pytest.raises(ConfigurationError):
        BerlinGroupAdapter(bank.config(credentials={"qseal": ec_key}))
    with pytest.raises(ConfigurationError):
        BerlinGroupAdapter(bank.config(credentials={}))


def test_sca_redirect_then_settlement(bank: MockBank, client: Client) -> None:
    transfer = client.transfer("bg", transfer_request())
    assert transfer.status is TransferStatus.REQUIRES_ACTION
    assert transfer.next_action is not None
    assert NextAction.from_dict(transfer.next_action.to_dict()) == transfer.next_action
    _server(bank).approve_payment(transfer.next_action.data["payment_id"])
    assert client.get_transfer(transfer.id).status is TransferStatus.PENDING
    bank.advance(61)
    assert client.get_transfer(transfer.id).status is TransferStatus.SETTLED


def test_a_denied_sca_is_a_rejection_value(bank: MockBank, client: Client) -> None:
    transfer = client.transfer("bg", transfer_request())
    _server(bank).deny_payment(transfer.bank_transfer_id or "")
    rejected = client.get_transfer(transfer.id)
    assert rejected.status is TransferStatus.REJECTED
    assert rejected.reason is not None
    assert (rejected.reason.code, rejected.reason.raw_code) == (
        ReasonCode.AUTHORISATION_FAILED,
        "MS02",
    )


def test_insufficient_funds_keeps_the_raw_code(client: Client) -> None:
    transfer = client.transfer("bg", transfer_request(amount=Money("500.00", "EUR")))
    assert transfer.status is TransferStatus.REJECTED
    assert transfer.reason is not None
    assert (transfer.reason.code, transfer.reason.raw_code) == (
        ReasonCode.INSUFFICIENT_FUNDS,
        "AM04",
    )


def test_cancel_before_execution_and_refused_after(bank: MockBank, client: Client) -> None:
    first = client.transfer("bg", transfer_request())
    assert client.cancel_transfer(first.id).status is TransferStatus.CANCELLED
    second = client.transfer("bg", transfer_request())
    _server(bank).approve_payment(second.bank_transfer_id or "")
    bank.advance(61)
    with pytest.raises(BankRejectedError) as refused:
        client.cancel_transfer(second.id)
    assert refused.value.raw_code == "CANCELLATION_INVALID"


def test_without_dedupe_a_lost_reply_is_never_resent_and_found_by_lookup(
    clock: FakeClock,
) -> None:
    """A bank that pays twice on a repeated POST: one POST, then the lookup resolves it."""
    bank = open_bank(clock, dedupe_end_to_end_id=False)
    with connect(bank, clock) as client:
        bank.set_faults(FaultPlan(drop_response_after_commit=1.0, only_methods={"POST"}))
        with pytest.raises(UnknownOutcomeError):
            client.transfer("bg", transfer_request())
        assert bank.stats["requests"] == 1  # the POST went out exactly once
        bank.set_faults(FaultPlan.none())
        [resolved] = client.resolve_unknown("bg")
        assert resolved.status is TransferStatus.REQUIRES_ACTION
        assert bank.duplicates_at_bank == 0


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("instructedAmount", {"currency": "EUR", "amount": "99.00"}, "amount"),
        ("instructedAmount", {"currency": "USD", "amount": "12.30"}, "currency"),
        ("creditorAccount", {"iban": "DE02120300000000202051"}, "creditor account"),
    ],
)
def test_a_lookup_about_another_payment_leaves_the_transfer_unknown(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch, field: str, value: object, named: str
) -> None:
    bank = open_bank(clock, dedupe_end_to_end_id=False)
    with connect(bank, clock) as client:
        bank.set_faults(FaultPlan(drop_response_after_commit=1.0, only_methods={"POST"}))
        request = transfer_request()
        with pytest.raises(UnknownOutcomeError):
            client.transfer("bg", request)
        bank.set_faults(FaultPlan.none())
        answer = bank.handle

        def another_payment(incoming: MockRequest) -> MockResponse:
            response = answer(incoming)
            if incoming.method != "GET" or "endToEndIdentification" not in incoming.query:
                return response
            body = json.loads(response.body)
            for payment in body["payments"]:
                payment[field] = value
            return attrs.evolve(response, body=json.dumps(body).encode())

        monkeypatch.setattr(bank, "handle", another_payment)
        report = client.resolve_unknown("bg")
        assert (list(report), dict(report.errors)) == ([], {"ProtocolError": 1})
        record = client.journal.get(request.idempotency_key)
        assert record is not None
        assert record.status is TransferStatus.UNKNOWN
        with pytest.raises(ProtocolError, match=f"on {named}") as raised:
            client.transfer("bg", request)
        assert "0202051" not in str(raised.value)


def test_without_a_lookup_an_unknown_outcome_stays_unresolved(clock: FakeClock) -> None:
    bank = open_bank(clock, dedupe_end_to_end_id=False)
    with connect(bank, clock, options={"psu_ip_address": "192.0.2.10"}) as client:
        bank.set_faults(FaultPlan(reset_after_commit=1.0, only_methods={"POST"}))
        with pytest.raises(UnknownOutcomeError):
            client.transfer("bg", transfer_request())
        bank.set_faults(FaultPlan.none())
        assert client.resolve_unknown("bg") == []
        assert client.journal.unresolved("bg")
        assert len(bank.transfers()) == 1


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, "SIGNATURE_INVALID", SignatureMismatchError),
        (401, "SIGNATURE_MISSING", SignatureMissingError),
        (401, "CERTIFICATE_INVALID", CertificateMismatchError),
        (401, "CERTIFICATE_EXPIRED", SignatureExpiredError),
        (401, "CONSENT_EXPIRED", AuthenticationError),
        (401, "CONSENT_INVALID", AuthenticationError),
        (403, "CONSENT_UNKNOWN", AuthenticationError),
        (401, "PSU_CREDENTIALS_INVALID", AuthenticationError),
        (429, "ACCESS_EXCEEDED", RateLimitedError),
        (400, "FORMAT_ERROR", BankRejectedError),
        (404, "RESOURCE_UNKNOWN", BankRejectedError),
        (403, "RESOURCE_EXPIRED", BankRejectedError),
        (400, "PAYMENT_FAILED", BankRejectedError),
        (404, "PRODUCT_UNKNOWN", BankRejectedError),
        (405, "SERVICE_INVALID", BankRejectedError),
        (503, None, BankUnavailableError),
    ],
)
def test_tpp_messages_map_onto_the_error_tree(
    bank: MockBank, status: int, code: str | None, expected: type[Exception]
) -> None:
    body = {"tppMessages": [{"category": "ERROR", "code": code, "text": "no"}]} if code else {}
    response = RawResponse(
        status=status,
        headers={"X-Request-ID": "req-1"},
        body=json.dumps(body).encode(),
    )
    error = adapter_for(bank).error_for(response)
    assert type(error) is expected
    assert isinstance(error, WalletLinkError)
    assert (error.http_status, error.request_id) == (status, "req-1")
    if isinstance(error, BankRejectedError):
        assert error.raw_code == code


def test_consent_by_redirect_then_account_information(bank: MockBank, client: Client) -> None:
    adapter = client.adapter("bg")
    assert isinstance(adapter, BerlinGroupAdapter)
    until = bank.clock.now().date() + timedelta(days=90)
    consent = client.run_flow("bg", adapter.create_consent([DEBTOR], valid_until=until))
    assert (consent.status, consent.is_valid) == ("received", False)
    assert consent.next_action is not None
    assert consent.next_action.kind == "redirect"
    adapter.use_consent(consent.consent_id)
    with pytest.raises(AuthenticationError):
        client.balances("bg", DEBTOR)  # not yet authorised by the PSU
    _server(bank).approve_consent(consent.consent_id)
    assert client.run_flow("bg", adapter.consent_status(consent.consent_id)).is_valid
    balances = client.balances("bg", DEBTOR)
    assert [(b.type, b.amount) for b in balances] == [
        (BalanceType.CLOSING_BOOKED, Money("100.00", "EUR")),
        (BalanceType.INTERIM_AVAILABLE, Money("100.00", "EUR")),
    ]
    with pytest.raises(BankRejectedError):
        client.balances("bg", CREDITOR.account)  # outside the consent: not even listed
    client.run_flow("bg", adapter.delete_consent(consent.consent_id))
    with pytest.raises(ConfigurationError):
        client.balances("bg", DEBTOR)  # no consent left: refused before any I/O


def test_an_expired_consent_raises_authentication_error(bank: MockBank, client: Client) -> None:
    client.balances("bg", DEBTOR)
    bank.advance(timedelta(days=91).total_seconds())
    with pytest.raises(AuthenticationError, match="CONSENT_EXPIRED"):
        client.balances("bg", DEBTOR)


def test_pending_and_booked_transactions(clock: FakeClock) -> None:
    bank = open_bank(clock, sca_required=False)
    with connect(
        bank,
        clock,
        options={**_server(bank).client_config_fields()["options"], "booking_status": "both"},
    ) as client:
        settled = client.transfer("bg", transfer_request(remittance="settled"))
        bank.advance(61)
        client.transfer("bg", transfer_request(remittance="pending"))
        today = clock.now().date()
        found = list(client.transactions("bg", DEBTOR, today - timedelta(days=30), today))
    assert [(t.status, t.remittance, t.direction) for t in found] == [
        (BookingStatus.BOOKED, "settled", Direction.DEBIT),
        (BookingStatus.PENDING, "pending", Direction.DEBIT),
    ]
    assert found[0].end_to_end_id == settled.end_to_end_id
    assert found[0].counterparty_account == CREDITOR.account.value
