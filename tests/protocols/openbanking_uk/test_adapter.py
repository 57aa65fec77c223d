"""The ``openbanking_uk`` adapter against its mock bank, and its flows driven by hand."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from walletlink._retry import RetryPolicy
from walletlink.accounts import AccountId, Iban, LocalAccount, SortCodeAccount
from walletlink.adapters.base import TransferRef
from walletlink.client import Client, Hooks
from walletlink.config import BankConfig
from walletlink.errors import (
    AuthenticationError,
    BankRejectedError,
    BankUnavailableError,
    ClaimError,
    ConfigurationError,
    IdempotencyMismatchError,
    InvalidAccountError,
    ProtocolError,
    RateLimitedError,
    SignatureError,
    SignatureMismatchError,
    SignatureMissingError,
    TransportTimeoutError,
    UnknownOutcomeError,
    WalletLinkError,
)
from walletlink.http import PreparedRequest, RawResponse
from walletlink.models import (
    BalanceType,
    NextAction,
    Party,
    ReasonCode,
    Transfer,
    TransferRequest,
    TransferStatus,
)
from walletlink.money import Money
from walletlink.protocols.openbanking_uk._wire import BankRef, error_for
from walletlink.protocols.openbanking_uk.adapter import OpenBankingUkAdapter
from walletlink.signing.jws import OBVersion, verify_ob_detached
from walletlink.testing import FakeClock, FaultPlan, MockBank, MockRequest, MockResponse
from walletlink.testing.conformance import AdapterConformance
from walletlink.testing.mockbank import ServedBank

DEBTOR = SortCodeAccount("200000", "55555555")
CREDITOR = SortCodeAccount("400400", "12345678")
POOR = SortCodeAccount("200000", "11111111")
GBP = "GBP"


def approve(bank: MockBank, client: Client, transfer: Transfer) -> Transfer:
    """The PSU authorises the consent at the bank; the wallet then looks the transfer up."""
    if transfer.status is not TransferStatus.REQUIRES_ACTION:
        return transfer
    assert transfer.next_action is not None
    bank.server.authorise(transfer.next_action.data["consent_id"])  # type: ignore[attr-defined]
    return client.get_transfer(transfer.id)


class TestUkOpenBankingConformance(AdapterConformance):
    protocol = "openbanking_uk"
    currency = GBP
    payment_path = "/domestic-payment-consents"
    request_id_header = "x-fapi-interaction-id"

    def refused_requests(self, bank: MockBank) -> list[TransferRequest]:
        """An account OBDomestic2 cannot name (neither sort code, IBAN nor UK.OBIE.*)."""
        _, creditor = self._accounts(bank)
        alipay = LocalAccount("2088102177958114", scheme="alipay_user_id")
        return [
            *super().refused_requests(bank),
            self._request(bank, creditor=attrs.evolve(creditor, account=alipay)),
        ]

    def make_bank(self, clock: FakeClock, faults: FaultPlan) -> MockBank:
        # Two transactions a page, so five transfers make the client follow Links.Next.
        return MockBank(
            self.protocol, clock=clock, faults=faults, settle_after=self.settle_after, page_size=2
        )

    def accounts(self, bank: MockBank) -> tuple[AccountId, Party]:
        debtor = bank.open_account(DEBTOR, Money("1000.00", GBP), name="Alice")
        creditor = bank.open_account(CREDITOR, Money("0.00", GBP), name="Ada Lovelace")
        return debtor, Party(name="Ada Lovelace", account=creditor)

    def poor_account(self, bank: MockBank) -> AccountId:
        return bank.open_account(POOR, Money("1.00", GBP), name="Poor")

    def complete_action(self, bank: MockBank, client: Client, transfer: Transfer) -> Transfer:
        return approve(bank, client, transfer)

    def test_same_request_twice_is_sent_once(self, bank: MockBank, client: Client) -> None:
        """Overridden: the suite counts ledger transfers straight after ``transfer()``, but a
        UK OB payment reaches the ledger only once the PSU has authorised its consent. Same
        property, checked after the PSU step: one consent, one payment, no second send."""
        request = self._request(bank)
        first = client.transfer(bank.bank_id, request)
        before = bank.stats.get("requests", 0)
        again = client.transfer(bank.bank_id, request)
        assert (first.id, before) == (again.id, bank.stats.get("requests", 0))
        paid = self.complete_action(bank, client, first)
        second = client.transfer(bank.bank_id, request)
        assert paid.id == second.id
        assert len(bank.transfers()) == 1

    def serve(self, bank: MockBank) -> tuple[ServedBank, BankConfig]:
        # Mutual TLS: the bank presents its certificate and demands the TPP's.
        server = bank.server
        served = bank.serve(tls=server.server_tls())  # type: ignore[attr-defined]
        cert, key, ca = server.tls_files()  # type: ignore[attr-defined]
        return served, served.config(client_cert=(cert, key), ca_bundle=ca)


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_bank(clock: FakeClock, **options: Any) -> MockBank:
    bank = MockBank("openbanking_uk", clock=clock, settle_after=60, **options)
    bank.open_account(DEBTOR, Money("1000.00", GBP), name="Alice")
    bank.open_account(CREDITOR, Money("0.00", GBP), name="Bob")
    bank.open_account(POOR, Money("1.00", GBP), name="Poor")
    return bank


@attrs.define
class Rig:
    bank: MockBank
    client: Client
    sent: list[PreparedRequest]

    @property
    def adapter(self) -> OpenBankingUkAdapter:
        adapter = self.client.adapter(self.bank.bank_id)
        assert isinstance(adapter, OpenBankingUkAdapter)
        return adapter

    def sent_to(self, operation: str) -> list[PreparedRequest]:
        return [request for request in self.sent if request.operation == operation]


def make_rig(
    bank: MockBank, clock: FakeClock, *, config: BankConfig | None = None, attempts: int = 3
) -> Rig:
    sent: list[PreparedRequest] = []
    client = Client(
        [config or bank.config()],
        retry=RetryPolicy(
            max_attempts=attempts, sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(1)
        ),
        hooks=Hooks(on_request=lambda bank_id, request, url: sent.append(request)),
        clock=clock.now,
    )
    bank.mount(client.session)
    return Rig(bank=bank, client=client, sent=sent)


@pytest.fixture
def rig(clock: FakeClock) -> Iterator[Rig]:
    bank = make_bank(clock)
    rig = make_rig(bank, clock)
    yield rig
    rig.client.close()


def transfer_request(**changes: Any) -> TransferRequest:
    fields: dict[str, Any] = {
        "amount": Money("12.30", GBP),
        "debtor_account": DEBTOR,
        "creditor": Party(name="Bob", account=CREDITOR),
        "remittance": "Invoice 42",
    }
    fields.update(changes)
    return TransferRequest(**fields)


# -- the payment flow -----------------------------------------------------------------------


def test_consent_post_carries_the_spec_headers_and_a_verifiable_signature(rig: Rig) -> None:
    request = transfer_request()
    rig.client.transfer(rig.bank.bank_id, request)
    [consent] = rig.sent_to("create_consent")
    headers = {name.lower(): value for name, value in consent.headers.items()}
    assert request.idempotency_key == headers["x-idempotency-key"]
    assert headers["x-fapi-financial-id"] == "0015800001041RHAAY"
    assert str(uuid.UUID(headers["x-fapi-interaction-id"])) == headers["x-fapi-interaction-id"]
    assert consent.body is not None
    header = verify_ob_detached(
        headers["x-jws-signature"],
        consent.body,
        keys={"tpp-signing-kid": rig.bank.server.material.tpp_signing},  # type: ignore[attr-defined]
        iss="0015800001041RHAAY/walletlink-test-ssa",
        now=rig.bank.clock.now(),
    )
    assert "b64" not in header
    initiation = json.loads(consent.body)["Data"]["Initiation"]
    expected = {"Amount": "12.30", "Currency": "GBP"}
    assert expected == initiation["InstructedAmount"]
    assert initiation["CreditorAccount"] == {
        "SchemeName": "UK.OBIE.SortCodeAccountNumber",
        "Identification": "40040012345678",
        "Name": "Bob",
    }


def test_transfer_needs_the_psu_with_a_serialisable_redirect(rig: Rig) -> None:
    transfer = rig.client.transfer(rig.bank.bank_id, transfer_request())
    assert transfer.status == TransferStatus.REQUIRES_ACTION
    assert transfer.next_action is not None
    consent_id = transfer.next_action.data["consent_id"]
    assert rig.bank.server.consent_status(consent_id) == "AwaitingAuthorisation"  # type: ignore[attr-defined]
    assert transfer.next_action == NextAction.from_dict(transfer.next_action.to_dict())
    assert transfer.next_action.kind == "redirect"
    assert transfer.next_action.url is not None
    assert transfer.next_action.url.startswith("https://mockbank.test/authorize?client_id=")
    assert rig.bank.transfers() == []  # nothing is paid before the PSU agrees


def test_authorised_consent_becomes_a_payment_then_settles(rig: Rig) -> None:
    request = transfer_request()
    transfer = approve(rig.bank, rig.client, rig.client.transfer(rig.bank.bank_id, request))
    assert transfer.status == TransferStatus.PROCESSING
    [payment] = rig.sent_to("create_payment")
    body = json.loads(payment.body or b"")
    assert transfer.next_action is None
    assert body["Data"]["ConsentId"].startswith("pdc-")
    headers = {name.lower(): value for name, value in payment.headers.items()}
    assert len(headers["x-idempotency-key"]) == 40  # derived, distinct from the consent's
    assert headers["x-idempotency-key"] != request.idempotency_key
    rig.bank.advance(61)
    settled = rig.client.get_transfer(transfer.id)
    assert settled.status == TransferStatus.SETTLED
    assert transfer.bank_transfer_id == settled.bank_transfer_id
    assert len(rig.sent_to("get_payment")) == 1


def test_a_denied_consent_is_a_rejection_value(rig: Rig) -> None:
    transfer = rig.client.transfer(rig.bank.bank_id, transfer_request())
    assert transfer.next_action is not None
    rig.bank.server.deny(transfer.next_action.data["consent_id"])  # type: ignore[attr-defined]
    refused = rig.client.get_transfer(transfer.id)
    assert refused.status == TransferStatus.REJECTED
    assert refused.reason is not None
    assert (
        refused.reason.code,
        refused.reason.raw_code,
    ) == (ReasonCode.AUTHORISATION_FAILED, "Rejected")
    assert rig.bank.transfers() == []


def test_insufficient_funds_keeps_the_raw_iso_code(rig: Rig) -> None:
    request = transfer_request(debtor_account=POOR, amount=Money("500.00", GBP))
    transfer = approve(rig.bank, rig.client, rig.client.transfer(rig.bank.bank_id, request))
    assert transfer.status == TransferStatus.REJECTED
    assert transfer.reason is not None
    assert (
        transfer.reason.code,
        transfer.reason.raw_code,
    ) == (ReasonCode.INSUFFICIENT_FUNDS, "AM04")


@pytest.mark.parametrize(("version", "b64"), [("3.1.3", False), ("3.1.4", True), ("3.1.11", True)])
def test_both_jws_generations_run_end_to_end(clock: FakeClock, version: str, b64: bool) -> None:
    bank = make_bank(clock, obie_version=version)
    rig = make_rig(bank, clock)
    try:
        transfer = approve(bank, rig.client, rig.client.transfer(bank.bank_id, transfer_request()))
        assert transfer.status == TransferStatus.PROCESSING
        [consent] = rig.sent_to("create_consent")
        signature = dict(consent.headers)["x-jws-signature"]
        header = verify_ob_detached(
            signature,
            consent.body or b"",
            keys={"tpp-signing-kid": bank.server.material.tpp_signing},  # type: ignore[attr-defined]
            iss="0015800001041RHAAY/walletlink-test-ssa",
            now=clock.now(),
            version=OBVersion.for_spec(version),
        )
        assert b64 == ("b64" not in header)
    finally:
        rig.client.close()


def test_a_lost_payment_reply_is_recovered_from_the_consumed_consent(clock: FakeClock) -> None:
    """With retries exhausted the payment's id is unknown; the next look-up sees the consent
    Consumed and replays the payment POST under its key: the bank returns the same payment."""
    bank = make_bank(clock)
    rig = make_rig(bank, clock, attempts=1)
    try:
        transfer = rig.client.transfer(bank.bank_id, transfer_request())
        assert transfer.next_action is not None
        bank.server.authorise(transfer.next_action.data["consent_id"])  # type: ignore[attr-defined]
        bank.set_faults(FaultPlan(drop_response_after_commit=1.0, only_methods={"POST"}))
        with pytest.raises(TransportTimeoutError):
            rig.client.get_transfer(transfer.id)
        bank.set_faults(FaultPlan.none())
        recovered = rig.client.get_transfer(transfer.id)
        assert recovered.status == TransferStatus.PROCESSING
        assert len(bank.transfers()) == 1
        assert bank.stats["replays"] == 1
    finally:
        rig.client.close()


def test_a_lost_consent_reply_is_retried_under_the_same_key(rig: Rig) -> None:
    rig.client.balances(rig.bank.bank_id, DEBTOR)  # warms the token cache: only the consent fails
    rig.bank.set_faults(FaultPlan(seed=1, drop_response_after_commit=0.5, only_methods={"POST"}))
    transfer = rig.client.transfer(rig.bank.bank_id, transfer_request())
    rig.bank.set_faults(FaultPlan.none())
    assert transfer.status == TransferStatus.REQUIRES_ACTION
    keys = {dict(r.headers)["x-idempotency-key"] for r in rig.sent_to("create_consent")}
    assert len(rig.sent_to("create_consent")) > 1
    assert len(keys) == 1
    assert rig.bank.stats["replays"] >= 1


def test_local_accounts_are_refused_before_any_io(rig: Rig) -> None:
    request = transfer_request(creditor=Party(name="Bob", account=LocalAccount("acct_1")))
    with pytest.raises(InvalidAccountError, match="UK Open Banking needs"):
        rig.client.transfer(rig.bank.bank_id, request)
    assert rig.sent == []


# -- tokens ---------------------------------------------------------------------------------


def test_tokens_are_cached_and_renewed_before_they_expire(rig: Rig, clock: FakeClock) -> None:
    rig.client.transfer(rig.bank.bank_id, transfer_request())
    rig.client.transfer(rig.bank.bank_id, transfer_request())
    assert len(rig.sent_to("token")) == 1
    clock.advance(239)  # 300 s tokens are renewed 60 s early
    rig.client.transfer(rig.bank.bank_id, transfer_request())
    assert len(rig.sent_to("token")) == 1
    clock.advance(1)
    rig.client.transfer(rig.bank.bank_id, transfer_request())
    assert len(rig.sent_to("token")) == 2


def test_each_token_attempt_gets_a_fresh_assertion(rig: Rig) -> None:
    """A retried token request must not be refused as a replayed jti."""
    # Seed 1: the first POST (the token request) gets a 503, its retry goes through.
    rig.bank.set_faults(FaultPlan(seed=1, unavailable=0.5, only_methods={"POST"}))
    rig.client.transfer(rig.bank.bank_id, transfer_request())
    rig.bank.set_faults(FaultPlan.none())
    bodies = [request.body for request in rig.sent_to("token")]
    assert len(bodies) >= 2
    assert len(set(bodies)) == len(bodies)


def test_a_refused_token_is_forgotten(rig: Rig) -> None:
    rig.client.balances(rig.bank.bank_id, DEBTOR)
    rig.bank.server.tokens.revoke_all()  # type: ignore[attr-defined]
    with pytest.raises(AuthenticationError):
        rig.client.balances(rig.bank.bank_id, DEBTOR)
    rig.client.balances(rig.bank.bank_id, DEBTOR)
    assert len(rig.sent_to("token")) == 2


def test_tls_client_auth_needs_a_certificate(clock: FakeClock, tmp_path: Path) -> None:
    bank = make_bank(clock, token_auth="tls_client_auth")
    with pytest.raises(ConfigurationError, match="client_cert"):
        OpenBankingUkAdapter(bank.config())
    cert, key, _ca = bank.server.tls_files()  # type: ignore[attr-defined]
    rig = make_rig(bank, clock, config=bank.config(client_cert=(cert, key)))
    try:
        transfer = rig.client.transfer(bank.bank_id, transfer_request())
        assert transfer.status == TransferStatus.REQUIRES_ACTION
        [token] = rig.sent_to("token")
        assert b"client_assertion" not in (token.body or b"")
    finally:
        rig.client.close()


# -- response signatures --------------------------------------------------------------------


def _tamper(bank: MockBank, change: Any) -> None:
    original = bank.server.handle

    def handle(request: MockRequest) -> MockResponse:
        response = original(request)
        return change(response) if "consent" in request.path else response

    bank.server.handle = handle  # type: ignore[method-assign]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            lambda r: attrs.evolve(r, body=r.body.replace(b"12.30", b"99.30")),
            SignatureMismatchError,
        ),
        (
            lambda r: attrs.evolve(
                r, headers={k: v for k, v in r.headers.items() if k != "x-jws-signature"}
            ),
            SignatureMissingError,
        ),
    ],
    ids=["tampered-body", "missing-signature"],
)
def test_unverifiable_replies_raise(rig: Rig, change: Any, error: type[SignatureError]) -> None:
    """A 2xx reply inside the payment flow that does not verify: the bank may have acted on
    the write, so the transfer is UNKNOWN (resolved by lookup), with the signature error as
    the cause."""
    _tamper(rig.bank, change)
    request = transfer_request()
    with pytest.raises(UnknownOutcomeError) as raised:
        rig.client.transfer(rig.bank.bank_id, request)
    assert isinstance(raised.value.__cause__, error)
    record = rig.client.journal.get(request.idempotency_key)
    assert record is not None
    assert record.status is TransferStatus.UNKNOWN


def test_replies_signed_with_another_key_raise(clock: FakeClock) -> None:
    bank = make_bank(clock)
    other = make_bank(FakeClock()).server.material  # type: ignore[attr-defined]
    config = bank.config()
    credentials = {
        **config.credentials,
        "bank_signing_keys": {"bank-signing-kid": other.tpp_signing},
    }
    rig = make_rig(bank, clock, config=attrs.evolve(config, credentials=credentials))
    try:
        with pytest.raises(UnknownOutcomeError) as raised:
            rig.client.transfer(bank.bank_id, transfer_request())
        assert isinstance(raised.value.__cause__, SignatureMismatchError)
    finally:
        rig.client.close()


# -- account information --------------------------------------------------------------------


def test_balances_and_paged_transactions(clock: FakeClock) -> None:
    bank = make_bank(clock, page_size=1)
    rig = make_rig(bank, clock)
    try:
        for amount in ("1.00", "2.00"):
            request = transfer_request(amount=Money(amount, GBP))
            approve(bank, rig.client, rig.client.transfer(bank.bank_id, request))
        bank.advance(61)
        balances = {b.type: b.amount for b in rig.client.balances(bank.bank_id, DEBTOR)}
        assert {
            BalanceType.CLOSING_BOOKED: Money("997.00", GBP),
            BalanceType.INTERIM_AVAILABLE: Money("997.00", GBP),
        } == balances
        today = clock.now().date()
        lines = list(
            rig.client.transactions(bank.bank_id, DEBTOR, today - timedelta(days=30), today)
        )
        assert [Money("1.00", GBP), Money("2.00", GBP)] == [line.amount for line in lines]
        assert len(rig.sent_to("transactions")) == 2
        [first] = [r for r in rig.sent_to("transactions") if r.params]
        assert (
            ("fromBookingDateTime", f"{today - timedelta(days=30)}T00:00:00"),
            ("toBookingDateTime", f"{today}T23:59:59"),
        ) == first.params
    finally:
        rig.client.close()


def test_without_a_consent_the_adapter_asks_for_one(clock: FakeClock) -> None:
    bank = make_bank(clock)
    config = bank.config()
    options = {k: v for k, v in config.options.items() if k != "account_access_consent_id"}
    rig = make_rig(bank, clock, config=attrs.evolve(config, options=options))
    try:
        with pytest.raises(AuthenticationError, match="aac-0002 is AwaitingAuthorisation"):
            rig.client.balances(bank.bank_id, DEBTOR)
        assert rig.adapter.account_access_consent_id == "aac-0002"
        bank.server.authorise("aac-0002")  # type: ignore[attr-defined]
        assert rig.client.balances(bank.bank_id, DEBTOR)
    finally:
        rig.client.close()


def test_an_account_outside_the_consent_is_refused(rig: Rig) -> None:
    with pytest.raises(BankRejectedError) as caught:
        rig.client.balances(rig.bank.bank_id, Iban("GB33BUKB20201555555555"))
    assert caught.value.code == ReasonCode.ACCOUNT_UNKNOWN


# -- flows by hand ----------------------------------------------------------------------------


def _reply(status: int, payload: Any) -> RawResponse:
    return RawResponse(status=status, headers={}, body=json.dumps(payload).encode())


def _drive(adapter: OpenBankingUkAdapter, flow: Any, replies: list[RawResponse]) -> Any:
    """Run a flow against canned replies (a token reply first)."""
    token = _reply(200, {"access_token": "t", "token_type": "Bearer", "expires_in": 300})
    next(flow)
    answers = iter([token, *replies])
    try:
        while True:
            flow.send(next(answers))
    except StopIteration as stop:
        return stop.value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Pending", TransferStatus.PROCESSING),
        ("AcceptedSettlementInProcess", TransferStatus.PROCESSING),
        ("AcceptedSettlementCompleted", TransferStatus.SETTLED),
        ("AcceptedCreditSettlementCompleted", TransferStatus.SETTLED),
        ("Rejected", TransferStatus.REJECTED),
        ("AcceptedWithoutPosting", TransferStatus.UNKNOWN),
        ("SomethingNew", TransferStatus.UNKNOWN),
    ],
)
def test_payment_status_map(clock: FakeClock, raw: str, expected: TransferStatus) -> None:
    adapter = OpenBankingUkAdapter(make_bank(clock).config())
    request = transfer_request()
    data = {
        "DomesticPaymentId": "p-1",
        "Status": raw,
        "Initiation": {
            "InstructedAmount": {"Amount": "12.30", "Currency": "GBP"},
            "EndToEndIdentification": request.end_to_end_id,
        },
    }
    ref = TransferRef(transfer_id="t-1", bank_transfer_id="p-1")
    transfer = _drive(adapter, adapter.get_transfer(ref, request), [_reply(200, {"Data": data})])
    assert expected == transfer.status


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"InstructedAmount": {"Amount": "99.99", "Currency": "GBP"}}, "amount"),
        ({"InstructedAmount": {"Amount": "12.30", "Currency": "EUR"}}, "currency"),
        ({"InstructedAmount": {"Amount": "-12.30", "Currency": "GBP"}}, "direction"),
        ({"EndToEndIdentification": "someone-else"}, "end-to-end id"),
        (
            {"CreditorAccount": {"SchemeName": "UK.OBIE.IBAN", "Identification": "GB0099"}},
            "creditor account",
        ),
        (
            {"DebtorAccount": {"SchemeName": "UK.OBIE.IBAN", "Identification": "GB0099"}},
            "debtor account",
        ),
    ],
)
def test_a_reply_about_another_payment_is_a_protocol_error(
    clock: FakeClock, change: dict[str, Any], named: str
) -> None:
    adapter = OpenBankingUkAdapter(make_bank(clock).config())
    request = transfer_request()
    data = {
        "DomesticPaymentId": "p-1",
        "Status": "Pending",
        "Initiation": {
            "InstructedAmount": {"Amount": "12.30", "Currency": "GBP"},
            "EndToEndIdentification": request.end_to_end_id,
            **change,
        },
    }
    ref = TransferRef(transfer_id="t-1", bank_transfer_id="p-1")
    with pytest.raises(ProtocolError, match=f"on {named}") as raised:
        _drive(adapter, adapter.get_transfer(ref, request), [_reply(200, {"Data": data})])
    assert "GB0099" not in str(raised.value)


def _ob_error(code: str, path: str | None = None) -> dict[str, Any]:
    error = {"ErrorCode": code, "Message": "m", **({"Path": path} if path else {})}
    return {"Code": "400 Bad Request", "Id": "1", "Message": "m", "Errors": [error]}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, _ob_error("UK.OBIE.Signature.Missing"), SignatureMissingError),
        (400, _ob_error("UK.OBIE.Signature.Invalid"), SignatureMismatchError),
        (400, _ob_error("UK.OBIE.Signature.InvalidClaim"), ClaimError),
        (400, _ob_error("UK.OBIE.Resource.InvalidConsentStatus"), AuthenticationError),
        (400, _ob_error("UK.OBIE.Resource.ConsentMismatch"), BankRejectedError),
        (400, _ob_error("UK.OBIE.Field.Invalid"), BankRejectedError),
        (400, _ob_error("UK.OBIE.Resource.NotFound"), BankRejectedError),
        (400, _ob_error("UK.OBIE.Header.Invalid", "x-idempotency-key"), IdempotencyMismatchError),
        (401, None, AuthenticationError),
        (403, _ob_error("UK.OBIE.Unauthorised"), AuthenticationError),
        (429, None, RateLimitedError),
        (500, _ob_error("UK.OBIE.UnexpectedError"), BankUnavailableError),
        (503, None, BankUnavailableError),
    ],
)
def test_error_map(status: int, body: Any, expected: type[WalletLinkError]) -> None:
    error = error_for(status, body, retry_after=None, context={"bank_id": "b"})
    assert expected is type(error)
    if isinstance(error, BankRejectedError):
        assert body["Errors"][0]["ErrorCode"] == error.raw_code


def test_config_errors_name_what_is_missing(clock: FakeClock) -> None:
    config = make_bank(clock).config()
    options = {k: v for k, v in config.options.items() if k != "financial_id"}
    with pytest.raises(ConfigurationError, match="financial_id"):
        OpenBankingUkAdapter(attrs.evolve(config, options=options))
    credentials = {k: v for k, v in config.credentials.items() if k != "client_id"}
    with pytest.raises(ConfigurationError, match="client_id"):
        OpenBankingUkAdapter(attrs.evolve(config, credentials=credentials))
    with pytest.raises(ConfigurationError, match="token_url"):
        OpenBankingUkAdapter(
            attrs.evolve(config, options={**config.options, "token_url": "https://elsewhere/t"})
        )


@given(st.text(min_size=1, max_size=60), st.booleans())
def test_bank_refs_round_trip(value: str, is_payment: bool) -> None:
    ref = BankRef(payment_id=value) if is_payment else BankRef(consent_id=value)
    decoded = BankRef.decode(ref.encode())
    assert (ref.consent_id, ref.payment_id) == (decoded.consent_id, decoded.payment_id)


@pytest.mark.parametrize("expires_in", [10**400, 1e300, -5, float("nan")])
def test_a_token_lifetime_out_of_range_is_a_protocol_error(
    clock: FakeClock, expires_in: float
) -> None:
    adapter = OpenBankingUkAdapter(make_bank(clock).config())
    flow = adapter.create_transfer(transfer_request(), "t-1")
    next(flow)
    token = {"access_token": "t", "token_type": "Bearer", "expires_in": expires_in}
    with pytest.raises(ProtocolError, match="expires_in"):
        flow.send(_reply(200, token))
