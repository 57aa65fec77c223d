"""The iso20022_h2h mock bank: signatures, validation, re-uploads, reports and statements."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import trustme
import xmlschema

from walletlink._retry import RetryPolicy
from walletlink.accounts import Iban
from walletlink.client import Client
from walletlink.config import BankConfig
from walletlink.formats import parse_camt, parse_pain002
from walletlink.http import PreparedRequest
from walletlink.journal import MemoryJournal
from walletlink.models import BalanceType, Party, TransferRequest, TransferStatus
from walletlink.money import Money
from walletlink.protocols.iso20022_h2h.adapter import Iso20022H2HAdapter
from walletlink.protocols.iso20022_h2h.mock import Iso20022H2HServer
from walletlink.signing.keys import generate_ed25519_key, generate_rsa_key
from walletlink.testing import FakeClock, FaultPlan, MockBank, ServedBank, ServerTLS
from walletlink.testing.conformance import AdapterConformance

SCHEMAS = Path(__file__).parents[2] / "formats" / "schemas"
PAIN001_XSD = SCHEMAS / "pain.001.001.09.xsd"
CAMT053_XSD = SCHEMAS / "camt.053.001.08.xsd"
DEBTOR = "DE89370400440532013000"
CREDITOR = "GB33BUKB20201555555555"
BASE = "https://mockbank.test"


def h2h_config(bank: MockBank, **overrides: object) -> BankConfig:
    # MockBank.config() already carries the server's client fields (signing key, options).
    assert isinstance(bank.server, Iso20022H2HServer)
    return bank.config(**overrides)


class TestIso20022H2HConformance(AdapterConformance):
    protocol = "iso20022_h2h"
    payment_path = "/h2h/v1/payment-files"
    request_id_header = "Request-Id"

    def make_bank(self, clock: FakeClock, faults: FaultPlan) -> MockBank:
        return MockBank(
            self.protocol,
            clock=clock,
            faults=faults,
            settle_after=self.settle_after,
            pain001_schema=PAIN001_XSD,
        )

    def make_config(self, bank: MockBank) -> BankConfig:
        return h2h_config(bank)

    def serve(self, bank: MockBank) -> tuple[ServedBank, BankConfig]:
        served = bank.serve()
        return served, h2h_config(bank, base_url=served.url)


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def bank() -> MockBank:
    bank = MockBank("iso20022_h2h", clock=FakeClock(), pain001_schema=PAIN001_XSD)
    bank.open_account(DEBTOR, "100.00", "EUR", name="Wallet Ltd")
    bank.open_account(CREDITOR, "0.00", "EUR", name="Bob")
    return bank


@pytest.fixture
def client(bank: MockBank) -> Iterator[Client]:
    clock = bank.clock
    retry = RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(1))
    with Client([h2h_config(bank)], journal=MemoryJournal(), retry=retry, clock=clock.now) as c:
        bank.mount(c.session)
        yield c


@pytest.fixture
def session(bank: MockBank) -> Iterator[requests.Session]:
    with requests.Session() as session:
        bank.mount(session)
        yield session


def request(amount: str = "12.30", **changes: object) -> TransferRequest:
    fields: dict[str, object] = {
        "amount": Money(amount, "EUR"),
        "debtor_account": Iban(DEBTOR),
        "creditor": Party(name="Bob", account=Iban(CREDITOR)),
        "remittance": "Invoice 42",
    }
    fields.update(changes)
    return TransferRequest(**fields)  # type: ignore[arg-type]


def signed(bank: MockBank, prepared: PreparedRequest, url: str) -> PreparedRequest:
    adapter = Iso20022H2HAdapter(h2h_config(bank))
    return adapter.signer()(prepared, url, bank.clock.now())


def upload(
    bank: MockBank, session: requests.Session, body: bytes, *, sign: bool = True
) -> requests.Response:
    prepared = PreparedRequest(
        method="POST",
        path="/h2h/v1/payment-files",
        headers={"Content-Type": "application/xml"},
        body=body,
    )
    url = f"{BASE}/h2h/v1/payment-files"
    if sign:
        prepared = signed(bank, prepared, url)
    return session.post(url, data=prepared.body, headers=dict(prepared.headers), timeout=5)


def payment_file(bank: MockBank, *requests_: TransferRequest) -> bytes:
    adapter = Iso20022H2HAdapter(h2h_config(bank))
    return adapter.payment_file(list(requests_), bank.clock.now())[1]


def get(bank: MockBank, session: requests.Session, path: str, **params: str) -> requests.Response:
    prepared = PreparedRequest(method="GET", path=path, params=tuple(params.items()))
    prepared = signed(bank, prepared, BASE + path)
    return session.get(BASE + path, params=params, headers=dict(prepared.headers), timeout=5)


# -- signatures -----------------------------------------------------------------------------


def test_missing_signature_is_401(bank: MockBank, session: requests.Session) -> None:
    response = upload(bank, session, payment_file(bank, request()), sign=False)
    assert (response.status_code, response.json()["error"]["code"]) == (401, "signature_missing")
    assert bank.transfers() == []


def test_tampered_upload_is_401(bank: MockBank, session: requests.Session) -> None:
    """The signature and digest were made over 12.30: a body saying 99.30 must not execute."""
    body = payment_file(bank, request())
    prepared = signed(
        bank,
        PreparedRequest(
            method="POST",
            path="/h2h/v1/payment-files",
            headers={"Content-Type": "application/xml"},
            body=body,
        ),
        f"{BASE}/h2h/v1/payment-files",
    )
    tampered = body.replace(b">12.30<", b">99.30<")
    response = session.post(
        f"{BASE}/h2h/v1/payment-files", data=tampered, headers=dict(prepared.headers), timeout=5
    )
    assert (response.status_code, response.json()["error"]["code"]) == (401, "digest_mismatch")
    assert bank.transfers() == []


def test_wrong_digest_under_a_valid_signature_is_401(
    bank: MockBank, session: requests.Session
) -> None:
    """A signature over a stale Content-Digest: the digest is recomputed over the body."""
    body = payment_file(bank, request())
    other = payment_file(bank, request())
    prepared = signed(
        bank,
        PreparedRequest(
            method="POST",
            path="/h2h/v1/payment-files",
            headers={"Content-Type": "application/xml"},
            body=other,
        ),
        f"{BASE}/h2h/v1/payment-files",
    )
    response = session.post(
        f"{BASE}/h2h/v1/payment-files", data=body, headers=dict(prepared.headers), timeout=5
    )
    assert (response.status_code, response.json()["error"]["code"]) == (401, "digest_mismatch")


def test_unknown_key_is_401(bank: MockBank, session: requests.Session) -> None:
    stranger = generate_ed25519_key("wallet-h2h")
    adapter = Iso20022H2HAdapter(h2h_config(bank, credentials={"signing_key": stranger}))
    prepared = adapter.signer()(
        PreparedRequest(method="GET", path="/h2h/v1/payment-files", params=(("msg_id", "x"),)),
        f"{BASE}/h2h/v1/payment-files",
        bank.clock.now(),
    )
    response = session.get(
        f"{BASE}/h2h/v1/payment-files",
        params={"msg_id": "x"},
        headers=dict(prepared.headers),
        timeout=5,
    )
    assert (response.status_code, response.json()["error"]["code"]) == (401, "signature_invalid")


def test_rsa_pss_keys_registered_at_the_bank_are_accepted(session: requests.Session) -> None:
    key = generate_rsa_key("wallet-rsa")
    bank = MockBank("iso20022_h2h", clock=FakeClock(), client_keys=[key])
    bank.open_account(DEBTOR, "100.00", "EUR")
    bank.mount(session)
    config = bank.config(credentials={"signing_key": key}, options={"debtor_name": "Wallet"})
    adapter = Iso20022H2HAdapter(config)
    body = adapter.payment_file([request()], bank.clock.now())[1]
    prepared = adapter.signer()(
        PreparedRequest(
            method="POST",
            path="/h2h/v1/payment-files",
            headers={"Content-Type": "application/xml"},
            body=body,
        ),
        f"{BASE}/h2h/v1/payment-files",
        bank.clock.now(),
    )
    assert 'keyid="wallet-rsa"' in prepared.headers["Signature-Input"]
    response = session.post(
        f"{BASE}/h2h/v1/payment-files", data=body, headers=dict(prepared.headers), timeout=5
    )
    assert response.status_code == 201


# -- validation and idempotency -------------------------------------------------------------


def test_invalid_file_is_rejected_with_ff01(bank: MockBank, session: requests.Session) -> None:
    body = payment_file(bank, request()).replace(
        b"<NbOfTxs>1</NbOfTxs>", b"<NbOfTxs>2</NbOfTxs>", 1
    )
    response = upload(bank, session, body)
    report = parse_pain002(response.content)
    assert response.status_code == 400
    assert (report.raw_group_status, report.group_reasons[0].raw_code) == ("RJCT", "FF01")
    assert bank.transfers() == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"<PmtMtd>TRF</PmtMtd>", b""),  # a required element missing
        (b"<PmtMtd>TRF</PmtMtd>", b"<PmtMtd>XXX</PmtMtd>"),  # outside its code list
        (b'Ccy="EUR">12.30<', b'Ccy="EUR">12.301234<'),  # more than 5 decimals
        (b"<Nm>Bob</Nm>", b"<Nm>" + b"B" * 141 + b"</Nm>"),  # longer than Max140Text
    ],
)
def test_schema_rules_hold_without_the_xsd(
    session: requests.Session, old: bytes, new: bytes
) -> None:
    """The runtime fallback (no xmlschema) still refuses what the XSD would refuse."""
    bank = MockBank("iso20022_h2h", clock=FakeClock())
    bank.open_account(DEBTOR, "100.00", "EUR")
    bank.mount(session)
    assert not bank.server.validator.uses_xsd  # type: ignore[attr-defined]
    body = payment_file(bank, request()).replace(old, new, 1)
    schema = xmlschema.XMLSchema(str(PAIN001_XSD))
    assert not schema.is_valid(body.decode())
    response = upload(bank, session, body)
    assert (
        parse_pain002(response.content).group_reasons[0].raw_code,
        response.status_code,
    ) == ("FF01", 400)


def test_hostile_xml_is_refused_before_parsing_entities(
    bank: MockBank, session: requests.Session
) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09">&b;</Document>'
    )
    response = upload(bank, session, bomb)
    report = parse_pain002(response.content)
    assert (response.status_code, report.group_reasons[0].raw_code) == (400, "FF01")


def test_reupload_is_recognised_not_executed_twice(
    bank: MockBank, session: requests.Session
) -> None:
    body = payment_file(bank, request())
    first = upload(bank, session, body)
    bank.clock.advance(5)
    second = upload(bank, session, body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.headers["Location"] == second.headers["Location"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(bank.transfers()) == 1


def test_another_file_under_a_used_msg_id_is_rejected_dupl(
    bank: MockBank, session: requests.Session
) -> None:
    body = payment_file(bank, request())
    upload(bank, session, body)
    changed = body.replace(b"Invoice 42", b"Invoice 43")
    response = upload(bank, session, changed)
    report = parse_pain002(response.content)
    assert (
        response.status_code,
        report.raw_group_status,
        report.group_reasons[0].raw_code,
    ) == (422, "RJCT", "DUPL")
    assert len(bank.transfers()) == 1


def test_a_reused_payment_information_id_is_rejected_dupl(
    bank: MockBank, session: requests.Session
) -> None:
    body = payment_file(bank, request())
    upload(bank, session, body)
    # A new MsgId, the same PmtInfId: the block is a duplicate, its transaction not executed.
    renamed = body.replace(b"<MsgId>WLM", b"<MsgId>WLX", 1)
    response = upload(bank, session, renamed)
    tx = next(t for _, t in parse_pain002(response.content).transactions())
    assert (response.status_code, tx.raw_status, tx.reasons[0].raw_code) == (201, "RJCT", "DUPL")
    assert len(bank.transfers()) == 1


# -- reports and statements -----------------------------------------------------------------


def test_status_report_follows_the_ledger(bank: MockBank, session: requests.Session) -> None:
    response = upload(bank, session, payment_file(bank, request()))
    location = response.headers["Location"]
    assert [tx.raw_status for _, tx in parse_pain002(response.content).transactions()] == ["ACCP"]
    bank.advance(1)
    later = get(bank, session, f"{location}/status-report")
    assert [tx.raw_status for _, tx in parse_pain002(later.content).transactions()] == ["ACSP"]
    bank.advance(60)
    final = parse_pain002(get(bank, session, f"{location}/status-report").content)
    assert (
        final.raw_group_status,
        [t.raw_status for _, t in final.transactions()],
    ) == ("ACSC", ["ACSC"])


def test_insufficient_funds_is_rjct_am04_and_partial(
    bank: MockBank, session: requests.Session
) -> None:
    response = upload(bank, session, payment_file(bank, request("60.00"), request("60.00")))
    report = parse_pain002(response.content)
    statuses = [
        (tx.raw_status, [r.raw_code for r in tx.reasons]) for _, tx in report.transactions()
    ]
    assert statuses == [("ACCP", []), ("RJCT", ["AM04"])]
    assert report.raw_group_status == "PART"


def test_unknown_debtor_account_is_rjct_ac01(bank: MockBank, session: requests.Session) -> None:
    stranger = request(debtor_account=Iban("FR1420041010050500013M02606"))
    response = upload(bank, session, payment_file(bank, stranger))
    tx = next(t for _, t in parse_pain002(response.content).transactions())
    assert (tx.raw_status, tx.reasons[0].raw_code) == ("RJCT", "AC01")


def test_camt053_reflects_the_ledger_and_validates(
    bank: MockBank, session: requests.Session
) -> None:
    sent = request()
    upload(bank, session, payment_file(bank, sent))
    bank.advance(61)
    day = bank.clock.now().date().isoformat()
    response = get(bank, session, "/h2h/v1/statements", account=DEBTOR, date=day, type="camt.053")
    xmlschema.XMLSchema(str(CAMT053_XSD)).validate(response.content.decode())
    (statement,) = parse_camt(response.content, check_balance=True)
    balances = {b.type: b.amount for b in statement.balances}
    assert Money("100.00", "EUR") == balances[BalanceType.OPENING_BOOKED]
    assert Money("87.70", "EUR") == balances[BalanceType.CLOSING_BOOKED]
    (entry,) = statement.entries
    assert (sent.end_to_end_id, Money("12.30", "EUR"), "debit") == (
        entry.end_to_end_id,
        entry.amount,
        entry.direction.value,
    )


def test_camt054_lists_the_days_booked_entries(bank: MockBank, session: requests.Session) -> None:
    sent = request()
    upload(bank, session, payment_file(bank, sent))
    bank.advance(61)
    day = bank.clock.now().date().isoformat()
    response = get(bank, session, "/h2h/v1/statements", account=CREDITOR, date=day, type="camt.054")
    (notification,) = parse_camt(response.content)
    assert notification.header.format == "camt.054"
    assert [(sent.end_to_end_id, "credit")] == [
        (e.end_to_end_id, e.direction.value) for e in notification.entries
    ]


def test_no_statement_for_a_future_day(bank: MockBank, session: requests.Session) -> None:
    day = (bank.clock.now().date() + timedelta(days=1)).isoformat()
    response = get(bank, session, "/h2h/v1/statements", account=DEBTOR, date=day)
    assert response.status_code == 404


def test_earlier_days_balance_with_later_bookings(
    bank: MockBank, session: requests.Session
) -> None:
    """Yesterday's closing balance is today's booked balance minus today's bookings."""
    upload(bank, session, payment_file(bank, request()))
    bank.advance(61)
    yesterday = (bank.clock.now().date() - timedelta(days=1)).isoformat()
    response = get(bank, session, "/h2h/v1/statements", account=DEBTOR, date=yesterday)
    (statement,) = parse_camt(response.content, check_balance=True)
    assert (Money("100.00", "EUR"), ()) == (statement.closing_balance.amount, statement.entries)  # type: ignore[union-attr]


def test_client_pays_through_the_mock(bank: MockBank, client: Client) -> None:
    transfer = client.transfer(bank.bank_id, request())
    bank.advance(61)
    assert TransferStatus.SETTLED is client.get_transfer(transfer.id).status


def test_a_batch_over_mutual_tls_on_loopback(bank: MockBank, tmp_path: Path) -> None:
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    client_cert = ca.issue_cert("wallet.example")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    client_cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "client.pem"))
    tls = ServerTLS(
        cert_chain_pem=b"".join(blob.bytes() for blob in server_cert.cert_chain_pems),
        key_pem=server_cert.private_key_pem.bytes(),
        client_ca_pem=ca.cert_pem.bytes(),
    )
    clock = bank.clock
    retry = RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(1))
    with bank.serve(tls=tls) as served:
        config = h2h_config(
            bank,
            base_url=served.url,
            ca_bundle=str(tmp_path / "ca.pem"),
            client_cert=str(tmp_path / "client.pem"),
        )
        with Client([config], journal=MemoryJournal(), retry=retry, clock=clock.now) as client:
            transfers = client.transfer_batch(bank.bank_id, [request("1.00"), request("2.00")])
            bank.advance(61)
            statuses = [client.get_transfer(t.id).status for t in transfers]
    assert statuses == [TransferStatus.SETTLED, TransferStatus.SETTLED]
    assert served.url.startswith("https://127.0.0.1:")
