"""The iso20022_h2h adapter: its files, its status mapping, its errors, and batches end to end."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
import xmlschema

from walletlink._retry import RetryPolicy
from walletlink.accounts import Iban
from walletlink.adapters.base import Flow, TransferRef
from walletlink.client import Client
from walletlink.config import BankConfig
from walletlink.errors import (
    AuthenticationError,
    BankRejectedError,
    BankUnavailableError,
    ConfigurationError,
    IdempotencyMismatchError,
    InvalidTextError,
    ProtocolError,
    RateLimitedError,
    UnknownOutcomeError,
    UnsupportedOperationError,
    ValidationError,
)
from walletlink.formats import (
    PaymentStatus,
    StatusReport,
    TransactionStatus,
    parse_camt,
    parse_mt940,
    parse_pain001,
    write_pain002,
)
from walletlink.http import PreparedRequest, RawResponse
from walletlink.journal import MemoryJournal
from walletlink.models import (
    BalanceType,
    Capability,
    Party,
    Reason,
    ReasonCode,
    TransferRequest,
    TransferStatus,
)
from walletlink.money import Money
from walletlink.protocols.iso20022_h2h.adapter import (
    Iso20022H2HAdapter,
    instruction_id_for,
    message_id_for,
)
from walletlink.protocols.iso20022_h2h.mock import Iso20022H2HServer
from walletlink.signing.keys import generate_ed25519_key, generate_hmac_key
from walletlink.testing import FakeClock, FaultPlan, MockBank, MockRequest, MockResponse

PAIN001_XSD = Path(__file__).parents[2] / "formats" / "schemas" / "pain.001.001.09.xsd"
DEBTOR = "DE89370400440532013000"
SECOND_DEBTOR = "DE02120300000000202051"
CREDITOR = "GB33BUKB20201555555555"
WHEN = datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=UTC)
KEY = generate_ed25519_key("wallet-h2h")


def config(**changes: object) -> BankConfig:
    fields: dict[str, object] = {
        "bank_id": "h2h",
        "protocol": "iso20022_h2h",
        "base_url": "https://bank.test",
        "credentials": {"signing_key": KEY},
        "options": {"debtor_name": "Wallet Ltd"},
    }
    fields.update(changes)
    return BankConfig(**fields)  # type: ignore[arg-type]


def request(amount: str = "12.30", **changes: object) -> TransferRequest:
    fields: dict[str, object] = {
        "amount": Money(amount, "EUR"),
        "debtor_account": Iban(DEBTOR),
        "creditor": Party(name="Bob", account=Iban(CREDITOR)),
        "remittance": "Invoice 42",
    }
    fields.update(changes)
    return TransferRequest(**fields)  # type: ignore[arg-type]


def reply(status: int, body: bytes, **headers: str) -> RawResponse:
    return RawResponse(
        status=status, headers={k.replace("_", "-"): v for k, v in headers.items()}, body=body
    )


def finish(flow: Flow[object], *replies: RawResponse) -> tuple[list[PreparedRequest], object]:
    """Drive a flow by hand: each yielded request gets the next reply."""
    sent = [next(flow)]
    try:
        for response in replies:
            sent.append(flow.send(response))
    except StopIteration as stop:
        return sent, stop.value
    raise AssertionError("the flow asked for more replies than given")


def report_with(code: str, reason: str | None = None) -> bytes:
    reasons = (Reason(ReasonCode.OTHER, reason, "why"),) if reason else ()
    tx = TransactionStatus(original_end_to_end_id="e2e-1", raw_status=code, reasons=reasons)
    return write_pain002(
        StatusReport(
            message_id="STS-1",
            created_at=WHEN,
            original_message_id="MSG-1",
            payments=(PaymentStatus(original_payment_information_id="P-1", transactions=(tx,)),),
        )
    )


# -- the file -------------------------------------------------------------------------------


def test_a_batch_is_one_schema_valid_file() -> None:
    adapter = Iso20022H2HAdapter(
        config(options={"debtor_name": "Wallet", "debtor_agent": "DEUTDEFF"})
    )
    batch = [
        request("1.00"),
        request("2.00", debtor_account=Iban(SECOND_DEBTOR)),
        attrs.evolve(request(), amount=Money("3", "JPY")),
    ]
    message_id, body = adapter.payment_file(batch, WHEN)
    xmlschema.XMLSchema(str(PAIN001_XSD)).validate(body.decode())
    document = parse_pain001(body)
    assert document.message_id == message_id
    assert [t.end_to_end_id for t in document.transactions] == [r.end_to_end_id for r in batch]
    assert [t.instruction_id for t in document.transactions] == [
        instruction_id_for(r.idempotency_key) for r in batch
    ]
    assert len(document.payment_information_ids) == 3  # one block per debtor and currency
    assert document.created_at == datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


def test_the_same_intents_make_the_same_bytes() -> None:
    """What makes a re-send recognisable: MsgId from the keys, CreDtTm from the intent."""
    adapter = Iso20022H2HAdapter(config())
    batch = [request(), request("5.00")]
    first = adapter.payment_file(batch, WHEN)
    again = Iso20022H2HAdapter(config()).payment_file(batch, WHEN + timedelta(microseconds=1))
    assert first == again
    assert first[0] == message_id_for([r.idempotency_key for r in batch])
    assert len(first[0]) == 35
    assert message_id_for([batch[1].idempotency_key, batch[0].idempotency_key]) != first[0]


def test_transliteration_is_an_opt_in_option() -> None:
    """Accented Latin is refused by default and spelled in the SEPA set when asked."""
    accented = request(creditor=Party(name="Zoë Müller", account=Iban(CREDITOR)))
    with pytest.raises(InvalidTextError, match=r"creditor\.name"):
        Iso20022H2HAdapter(config()).payment_file([accented], WHEN)
    options = {"debtor_name": "Wallet Ltd", "transliterate": True}
    _, body = Iso20022H2HAdapter(config(options=options)).payment_file([accented], WHEN)
    assert parse_pain001(body).transactions[0].creditor.name == "Zoe Muller"


def test_uploads_are_signed_over_their_content_digest() -> None:
    adapter = Iso20022H2HAdapter(config())
    flow = adapter.create_transfers([request()], ["wl_1"], WHEN)
    upload = next(flow)
    signed = adapter.signer()(upload, "https://bank.test/h2h/v1/payment-files", WHEN)
    assert (upload.method, upload.path, upload.idempotent) == (
        "POST",
        "/h2h/v1/payment-files",
        True,
    )
    assert signed.headers["Content-Digest"].startswith("sha-256=:")
    assert '"content-digest"' in signed.headers["Signature-Input"]
    assert 'keyid="wallet-h2h"' in signed.headers["Signature-Input"]


def test_batch_ids_must_be_unique_before_anything_is_sent() -> None:
    adapter = Iso20022H2HAdapter(config())
    one = request()
    twin = request(end_to_end_id=one.end_to_end_id)
    with pytest.raises(ValidationError):
        next(adapter.create_transfers([one, twin], ["wl_1", "wl_2"], WHEN))


@pytest.mark.parametrize(
    ("credentials", "options"),
    [
        ({}, {"debtor_name": "Wallet"}),
        ({"signing_key": "not a key"}, {"debtor_name": "Wallet"}),
        ({"signing_key": generate_hmac_key("shared")}, {"debtor_name": "Wallet"}),
        ({"signing_key": KEY.public()}, {"debtor_name": "Wallet"}),
        ({"signing_key": KEY}, {}),
        ({"signing_key": KEY}, {"debtor_name": "Wallet", "debtor_agent": "not a bic"}),
    ],
)
def test_unusable_configuration_fails_at_start(
    credentials: dict[str, object], options: dict[str, object]
) -> None:
    with pytest.raises(ConfigurationError):
        Iso20022H2HAdapter(config(credentials=credentials, options=options))


# -- statuses and errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason", "status", "standard"),
    [
        ("ACTC", None, TransferStatus.PROCESSING, None),
        ("ACCP", None, TransferStatus.PROCESSING, None),
        ("ACSP", None, TransferStatus.PROCESSING, None),
        ("ACSC", None, TransferStatus.SETTLED, None),
        ("ACCC", None, TransferStatus.SETTLED, None),
        ("PDNG", None, TransferStatus.PENDING, None),
        ("RCVD", None, TransferStatus.PENDING, None),
        ("RJCT", "AC01", TransferStatus.REJECTED, ReasonCode.INVALID_ACCOUNT),
        ("RJCT", "AC04", TransferStatus.REJECTED, ReasonCode.ACCOUNT_CLOSED),
        ("RJCT", "AM04", TransferStatus.REJECTED, ReasonCode.INSUFFICIENT_FUNDS),
        ("RJCT", "ZZ99", TransferStatus.REJECTED, ReasonCode.OTHER),
        ("XXXX", None, TransferStatus.UNKNOWN, None),
    ],
)
def test_pain002_codes_map_onto_transfer_statuses(
    code: str, reason: str | None, status: TransferStatus, standard: ReasonCode | None
) -> None:
    adapter = Iso20022H2HAdapter(config())
    sent = request(end_to_end_id="e2e-1")
    ref = TransferRef(transfer_id="wl_1", bank_transfer_id="pf_000001")
    requests_, transfer = finish(
        adapter.get_transfer(ref, sent), reply(200, report_with(code, reason))
    )
    assert requests_[0].path == "/h2h/v1/payment-files/pf_000001/status-report"
    assert (transfer.status, transfer.reason and transfer.reason.code) == (status, standard)  # type: ignore[attr-defined]
    if reason:
        assert transfer.reason.raw_code == reason  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (
            reply(401, b'{"error":{"code":"signature_missing","message":"no sig"}}'),
            AuthenticationError,
        ),
        (reply(422, report_with("RJCT", "DUPL")), IdempotencyMismatchError),
        (reply(429, b"{}", Retry_After="7"), RateLimitedError),
        (reply(503, b"<not xml"), BankUnavailableError),
        (reply(400, report_with("RJCT", "FF01")), BankRejectedError),
    ],
)
def test_error_replies_map_onto_the_error_tree(
    response: RawResponse, error: type[Exception]
) -> None:
    mapped = Iso20022H2HAdapter(config()).error_for(response)
    assert type(mapped) is error


def test_a_file_format_rejection_keeps_the_iso_code() -> None:
    mapped = Iso20022H2HAdapter(config()).error_for(reply(400, report_with("RJCT", "FF01")))
    assert isinstance(mapped, BankRejectedError)
    assert (mapped.code, mapped.raw_code, mapped.message) == ("technical", "FF01", "why")


# -- end to end against the mock bank -------------------------------------------------------


@pytest.fixture
def bank() -> MockBank:
    bank = MockBank("iso20022_h2h", clock=FakeClock(), pain001_schema=PAIN001_XSD)
    bank.open_account(DEBTOR, "100.00", "EUR", name="Wallet Ltd")
    bank.open_account(CREDITOR, "0.00", "EUR", name="Bob")
    return bank


@pytest.fixture
def client(bank: MockBank) -> Iterator[Client]:
    assert isinstance(bank.server, Iso20022H2HServer)
    clock = bank.clock
    retry = RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(1))
    with Client(
        [bank.config()],
        journal=MemoryJournal(),
        retry=retry,
        clock=clock.now,
    ) as client:
        bank.mount(client.session)
        yield client


def test_a_batch_of_n_is_one_file_and_n_transfers(bank: MockBank, client: Client) -> None:
    batch = [request("10.00"), request("20.00"), request("30.00")]
    transfers = client.transfer_batch(bank.bank_id, batch)
    assert [t.idempotency_key for t in transfers] == [r.idempotency_key for r in batch]
    assert len({t.bank_transfer_id for t in transfers}) == 1
    assert (bank.stats["h2h.files"], len(bank.transfers())) == (1, 3)
    bank.advance(61)
    settled = [client.get_transfer(t.id).status for t in transfers]
    assert settled == [TransferStatus.SETTLED] * 3
    assert bank.balance(DEBTOR) == Money("40.00", "EUR")


def test_one_member_short_of_funds_is_rejected_am04(bank: MockBank, client: Client) -> None:
    transfers = client.transfer_batch(bank.bank_id, [request("60.00"), request("60.00")])
    assert [t.status for t in transfers] == [TransferStatus.PROCESSING, TransferStatus.REJECTED]
    reason = transfers[1].reason
    assert reason is not None
    assert (reason.code, reason.raw_code) == (ReasonCode.INSUFFICIENT_FUNDS, "AM04")


def test_calling_again_sends_nothing_more(bank: MockBank, client: Client) -> None:
    batch = [request("1.00"), request("2.00")]
    first = client.transfer_batch(bank.bank_id, batch)
    requests_before = bank.stats["requests"]
    again = client.transfer_batch(bank.bank_id, batch)
    assert [t.id for t in again] == [t.id for t in first]
    assert bank.stats["requests"] == requests_before


def test_a_reused_key_in_a_batch_records_nothing(bank: MockBank, client: Client) -> None:
    sent = request("1.00")
    client.transfer(bank.bank_id, sent)
    changed = TransferRequest.from_canonical(request("9.00").canonical(), sent.idempotency_key)
    fresh = request("2.00")
    with pytest.raises(IdempotencyMismatchError):
        client.transfer_batch(bank.bank_id, [fresh, changed])
    assert client.journal.get(fresh.idempotency_key) is None


def test_lost_batch_reply_is_resolved_member_by_member(bank: MockBank, client: Client) -> None:
    batch = [request("10.00"), request("20.00")]
    bank.set_faults(FaultPlan(drop_response_after_commit=1.0, only_methods=frozenset({"POST"})))
    with pytest.raises(UnknownOutcomeError):
        client.transfer_batch(bank.bank_id, batch)
    bank.set_faults(FaultPlan.none())
    unresolved = client.journal.unresolved(bank.bank_id)
    assert {r.idempotency_key for r in unresolved} == {r.idempotency_key for r in batch}
    resolved = client.resolve_unknown(bank.bank_id)
    assert {t.idempotency_key for t in resolved} == {r.idempotency_key for r in batch}
    assert (bank.stats["h2h.files"], bank.duplicates_at_bank) == (1, 0)


def test_a_batch_that_never_arrived_is_sent_again_as_the_same_file(
    bank: MockBank, client: Client
) -> None:
    batch = [request("10.00"), request("20.00")]
    bank.set_faults(FaultPlan(reset_before_commit=1.0, only_methods=frozenset({"POST"})))
    with pytest.raises(UnknownOutcomeError):
        client.transfer_batch(bank.bank_id, batch)
    bank.set_faults(FaultPlan.none())
    bank.clock.advance(3600)  # later, the same call: the file keeps its first CreDtTm
    transfers = client.transfer_batch(bank.bank_id, batch)
    (accepted,) = bank.server.files()  # type: ignore[attr-defined]
    assert accepted.message_id == message_id_for([r.idempotency_key for r in batch])
    assert [t.status for t in transfers] == [TransferStatus.PROCESSING] * 2


def test_balances_and_transactions_come_from_camt053(bank: MockBank, client: Client) -> None:
    start = bank.clock.now().date()
    client.transfer_batch(bank.bank_id, [request("10.00"), request("5.00")])
    bank.advance(61)
    balances = {b.type: b.amount for b in client.balances(bank.bank_id, Iban(DEBTOR))}
    assert balances[BalanceType.CLOSING_BOOKED] == Money("85.00", "EUR")
    assert balances[BalanceType.INTERIM_AVAILABLE] == Money("85.00", "EUR")
    booked = list(
        client.transactions(
            bank.bank_id, Iban(DEBTOR), start - timedelta(days=2), start + timedelta(days=3)
        )
    )
    assert sorted(t.amount for t in booked) == [Money("5.00", "EUR"), Money("10.00", "EUR")]
    assert {t.account for t in booked} == {Iban(DEBTOR)}


def test_statements_download_raw_camt(bank: MockBank, client: Client) -> None:
    client.transfer(bank.bank_id, request())
    bank.advance(61)
    adapter = client.adapter(bank.bank_id)
    assert Capability.STATEMENTS in adapter.capabilities
    today = bank.clock.now().date()
    raw = client.statement(bank.bank_id, Iban(CREDITOR), today, kind="camt.054")
    (notification,) = parse_camt(raw)
    assert [(e.amount, e.direction.value) for e in notification.entries] == [
        (Money("12.30", "EUR"), "credit")
    ]
    with pytest.raises(ValidationError):
        client.statement(bank.bank_id, Iban(CREDITOR), today, kind="camt.052")


def test_mt940_and_camt053_round_trip_through_the_mock_bank_alike(
    bank: MockBank, client: Client
) -> None:
    """The same day's statement as camt.053 and as MT940 parses to the same entries and
    balances, and both balance."""
    client.transfer_batch(bank.bank_id, [request("10.00"), request("5.00")])
    bank.advance(61)
    today = bank.clock.now().date()
    (camt,) = parse_camt(client.statement(bank.bank_id, Iban(DEBTOR), today))
    (mt940,) = parse_mt940(client.statement(bank.bank_id, Iban(DEBTOR), today, kind="mt940"))
    mt940.check_balance()
    camt.check_balance()
    assert (mt940.opening_balance, mt940.closing_balance) == (
        camt.opening_balance,
        camt.closing_balance,
    )
    assert [(e.amount, e.direction) for e in mt940.entries] == [
        (e.amount, e.direction) for e in camt.entries
    ]


def test_batches_need_an_adapter_that_declares_them() -> None:
    bank = MockBank("generic_rest", clock=FakeClock())
    sent = request()
    with Client([bank.config()], journal=MemoryJournal(), clock=bank.clock.now) as client:
        bank.mount(client.session)
        with pytest.raises(UnsupportedOperationError):
            client.transfer_batch(bank.bank_id, [sent])
        assert client.journal.get(sent.idempotency_key) is None
    assert bank.stats.get("requests", 0) == 0


# -- untrusted batch replies ------------------------------------------------------------------


def test_a_batch_with_twin_end_to_end_ids_is_refused_before_journalling(
    bank: MockBank, client: Client
) -> None:
    one = request("1.00")
    twin = request("2.00", end_to_end_id=one.end_to_end_id)
    with pytest.raises(ValidationError, match="end-to-end ids"):
        client.transfer_batch(bank.bank_id, [one, twin])
    assert (list(client.journal.records()), bank.stats.get("requests", 0)) == ([], 0)


def test_a_status_report_naming_another_instruction_leaves_the_batch_unknown(
    bank: MockBank, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier = client.transfer(bank.bank_id, request("5.00"))
    before = client.journal.get(earlier.idempotency_key)
    batch = [request("10.00"), request("20.00")]
    answer = bank.handle

    def other_instruction(incoming: MockRequest) -> MockResponse:
        response = answer(incoming)
        if incoming.method != "POST":
            return response
        mine = instruction_id_for(batch[0].idempotency_key).encode()
        assert mine in response.body
        body = response.body.replace(mine, instruction_id_for("someone-else").encode())
        return attrs.evolve(response, body=body)

    monkeypatch.setattr(bank, "handle", other_instruction)
    with pytest.raises(UnknownOutcomeError, match="idempotency key") as raised:
        client.transfer_batch(bank.bank_id, batch)
    assert isinstance(raised.value.__cause__, ProtocolError)
    statuses = [client.journal.get(r.idempotency_key) for r in batch]
    assert [s.status if s else None for s in statuses] == [TransferStatus.UNKNOWN] * 2
    assert client.journal.get(earlier.idempotency_key) == before
    # The lookups answer truthfully: each member resolves on its own.
    monkeypatch.setattr(bank, "handle", answer)
    assert len(client.resolve_unknown(bank.bank_id)) == 2
