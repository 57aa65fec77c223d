"""The client end to end against the generic_rest mock bank: in process, on loopback, and
across a crash, with every log line checked for secrets."""

from __future__ import annotations

import io
import logging
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from walletlink import (
    BankConfig,
    Client,
    ConnectError,
    IdempotencyMismatchError,
    Money,
    Party,
    ProtocolError,
    RateLimitedError,
    RetryPolicy,
    TransferNotFoundError,
    TransferRequest,
    TransferStatus,
    UnknownOutcomeError,
    UnsupportedOperationError,
    ValidationError,
)
from walletlink.accounts import AccountId, Iban
from walletlink.adapters.base import Adapter, Flow
from walletlink.adapters.registry import register_adapter
from walletlink.http import PreparedRequest
from walletlink.journal import SQLiteJournal
from walletlink.models import Balance, Capability
from walletlink.testing import FakeClock, FaultPlan, MockBank

DEBTOR = Iban("DE89370400440532013000")
CREDITOR = Iban("GB33BUKB20201555555555")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bank(clock: FakeClock) -> Iterator[MockBank]:
    bank = MockBank("generic_rest", bank_id="acme", clock=clock)
    bank.open_account(DEBTOR, Money("1000.00", "EUR"))
    bank.open_account(CREDITOR, Money("0.00", "EUR"))
    yield bank
    bank.close()


def make_client(
    bank: MockBank, clock: FakeClock, journal: SQLiteJournal, **config: object
) -> Client:
    client = Client(
        [bank.config(**config)],
        journal=journal,
        retry=RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(0)),
        clock=clock.now,
    )
    if "base_url" not in config:
        bank.mount(client.session)
    return client


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[SQLiteJournal]:
    journal = SQLiteJournal(tmp_path / "journal.sqlite3")
    yield journal
    journal.close()


@pytest.fixture
def client(bank: MockBank, clock: FakeClock, journal: SQLiteJournal) -> Iterator[Client]:
    client = make_client(bank, clock, journal)
    yield client
    client.close()


def request(amount: str = "12.30", **changes: object) -> TransferRequest:
    fields: dict[str, object] = {
        "amount": Money(amount, "EUR"),
        "debtor_account": DEBTOR,
        "creditor": Party(name="Ada Lovelace", account=CREDITOR),
        "remittance": "Invoice 42",
    }
    fields.update(changes)
    return TransferRequest(**fields)  # type: ignore[arg-type]


def test_transfer_then_settlement(bank: MockBank, client: Client) -> None:
    sent = client.transfer("acme", request())
    assert sent.status is TransferStatus.PENDING
    assert sent.bank_transfer_id
    bank.advance(61)
    assert client.get_transfer(sent.id).status is TransferStatus.SETTLED
    assert bank.balance(DEBTOR) == Money("987.70", "EUR")
    assert bank.balance(CREDITOR) == Money("12.30", "EUR")


def test_the_intent_is_journalled_before_the_first_byte(
    bank: MockBank, client: Client, journal: SQLiteJournal
) -> None:
    seen: list[str] = []

    def spy(bank_id: str, prepared: object, url: str) -> None:
        record = journal.get(transfer.idempotency_key)
        seen.append(record.state.value if record else "missing")

    transfer = request()
    client.hooks = client.hooks.__class__(on_request=spy)
    client.transfer("acme", transfer)
    assert seen == ["intent"]


def test_same_key_different_request_sends_nothing(bank: MockBank, client: Client) -> None:
    first = request()
    client.transfer("acme", first)
    before = bank.stats["requests"]
    other = TransferRequest.from_canonical(request("99.00").canonical(), first.idempotency_key)
    with pytest.raises(IdempotencyMismatchError):
        client.transfer("acme", other)
    assert bank.stats["requests"] == before


def test_a_crash_between_recording_and_sending_is_resolved_after_reopening(
    bank: MockBank, clock: FakeClock, tmp_path: Path
) -> None:
    """The process dies after the intent is durable but before the bank saw anything."""
    path = tmp_path / "crash.sqlite3"
    first = SQLiteJournal(path)
    pending = request()
    first.record_intent(bank_id="acme", request=pending, transfer_id="wl_crash", now=clock.now())
    first.mark_sent(pending.idempotency_key, now=clock.now())
    first.close()  # the crash

    reopened = SQLiteJournal(path)
    client = make_client(bank, clock, reopened)
    try:
        assert [r.transfer_id for r in reopened.unresolved("acme")] == ["wl_crash"]
        resolved = client.resolve_unknown()
        assert [t.id for t in resolved] == ["wl_crash"]
        assert len(bank.transfers()) == 1
        assert not reopened.unresolved()
    finally:
        client.close()
        reopened.close()


def test_a_crash_after_the_bank_committed_is_resolved_by_lookup(
    bank: MockBank, clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "crash.sqlite3"
    journal = SQLiteJournal(path)
    client = make_client(bank, clock, journal)
    bank.set_faults(FaultPlan(drop_response_after_commit=1.0, only_methods=frozenset({"POST"})))
    lost = request()
    with pytest.raises(UnknownOutcomeError) as info:
        client.transfer("acme", lost)
    assert info.value.idempotency_key == lost.idempotency_key
    client.close()
    journal.close()

    bank.set_faults(FaultPlan.none())
    reopened = SQLiteJournal(path)
    client = make_client(bank, clock, reopened)
    try:
        assert reopened.get(lost.idempotency_key).status is TransferStatus.UNKNOWN  # type: ignore[union-attr]
        (resolved,) = client.resolve_unknown("acme")
        assert resolved.status is TransferStatus.PENDING
        assert bank.duplicates_at_bank == 0
        assert len(bank.transfers()) == 1
        reopened.verify()
    finally:
        client.close()
        reopened.close()


def test_connect_errors_leave_the_intent_open_and_a_retry_completes_it(
    bank: MockBank, client: Client
) -> None:
    bank.set_faults(FaultPlan(connect_refused=1.0))
    pending = request()
    with pytest.raises(ConnectError):
        client.transfer("acme", pending)
    assert bank.transfers() == []
    bank.set_faults(FaultPlan.none())
    done = client.transfer("acme", pending)
    assert done.status is TransferStatus.PENDING
    assert len(bank.transfers()) == 1


def test_retry_after_beyond_the_cap_raises_at_once(bank: MockBank, client: Client) -> None:
    bank.set_faults(FaultPlan(rate_limit=1.0, retry_after=3600))
    started = bank.clock.monotonic()
    with pytest.raises(RateLimitedError) as info:
        client.balances("acme", DEBTOR)
    assert info.value.retry_after == 3600
    assert bank.clock.monotonic() == started  # no sleep at all


def test_rejections_are_values(bank: MockBank, client: Client) -> None:
    transfer = client.transfer("acme", request("5000.00"))
    assert transfer.status is TransferStatus.REJECTED
    assert transfer.reason is not None
    assert (transfer.reason.code.value, transfer.reason.raw_code) == (
        "insufficient_funds",
        "insufficient_funds",
    )


def test_late_statuses_never_move_a_transfer_backwards(
    bank: MockBank, client: Client, journal: SQLiteJournal
) -> None:
    inbox: list[tuple[dict[str, str], bytes]] = []
    bank.webhook_target = lambda headers, body: inbox.append((dict(headers), body))
    sent = client.transfer("acme", request())
    bank.advance(61)
    assert [b"processing" in body for _, body in inbox] == [True, False]
    # Delivered out of order: SETTLED first, then the older PROCESSING under its own id.
    events = [client.handle_notification("acme", h, b) for h, b in reversed(inbox)]
    assert [e.status for e in events] == [TransferStatus.SETTLED, TransferStatus.PROCESSING]
    assert not any(e.duplicate for e in events)
    assert journal.get(sent.idempotency_key).status is TransferStatus.SETTLED  # type: ignore[union-attr]
    # The same event again is a duplicate and changes nothing.
    assert client.handle_notification("acme", *inbox[0]).duplicate


def test_transactions_iterate_every_page(bank: MockBank, client: Client) -> None:
    start = bank.clock.now().date()
    for index in range(105):
        client.transfer(
            "acme", request(amount=f"0.{index + 1:02d}" if index < 99 else f"{index + 1}.00")
        )
    bank.advance(61)
    end = start + timedelta(days=1)
    booked = list(client.transactions("acme", DEBTOR, start, end))
    assert len(booked) == 105
    expected = sum(range(1, 100)) + sum(range(100, 106)) * 100
    assert sum(t.amount.minor_units for t in booked) == expected


def test_unsupported_capability_is_refused_before_io(
    bank: MockBank, clock: FakeClock, journal: SQLiteJournal
) -> None:
    class PaymentsOnly(Adapter):
        protocol = "payments_only_for_tests"
        capabilities = frozenset({Capability.PAYMENTS})

    register_adapter("payments_only_for_tests", PaymentsOnly, replace=True)
    config = BankConfig(bank_id="p", protocol="payments_only_for_tests", base_url="https://p.test")
    with Client([config], journal=journal, clock=clock.now) as client:
        with pytest.raises(UnsupportedOperationError):
            client.balances("p", DEBTOR)
        with pytest.raises(UnsupportedOperationError):
            client.handle_notification("p", {}, b"{}")


def test_unknown_transfer_ids_raise_transfer_not_found(bank: MockBank, client: Client) -> None:
    before = bank.stats.get("requests", 0)
    for call in (client.get_transfer, client.cancel_transfer):
        with pytest.raises(TransferNotFoundError) as raised:
            call("tr_no_such_id")
        assert isinstance(raised.value, LookupError)
    assert bank.stats.get("requests", 0) == before


def test_the_default_in_memory_journal_is_announced(
    bank: MockBank, clock: FakeClock, journal: SQLiteJournal, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="walletlink"):
        Client([bank.config()], journal=journal, clock=clock.now).close()
        assert caplog.records == []
        Client([bank.config()], clock=clock.now).close()
    assert [record.name for record in caplog.records] == ["walletlink"]
    assert "in-memory MemoryJournal" in caplog.records[0].getMessage()


def test_loopback_end_to_end(bank: MockBank, clock: FakeClock, journal: SQLiteJournal) -> None:
    with bank.serve() as served:
        client = Client(
            [served.config()],
            journal=journal,
            retry=RetryPolicy(sleep=clock.sleep, clock=clock.monotonic),
            clock=clock.now,
        )
        try:
            sent = client.transfer("acme", request())
            bank.advance(61)
            assert client.get_transfer(sent.id).status is TransferStatus.SETTLED
            assert [b.type.value for b in client.balances("acme", DEBTOR)] == ["CLBD", "ITAV"]
        finally:
            client.close()


def test_debug_logs_hold_no_secret_or_full_account_number(
    bank: MockBank, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    bank.set_faults(FaultPlan(seed=2, unavailable=0.4))
    with caplog.at_level(logging.DEBUG, logger="walletlink"):
        sent = client.transfer("acme", request())
        bank.advance(61)
        client.get_transfer(sent.id)
        client.balances("acme", DEBTOR)
        list(client.transactions("acme", DEBTOR, bank.clock.now().date(), bank.clock.now().date()))
    text = caplog.text
    assert "walletlink" in text or caplog.records
    for secret in (bank.api_key, bank.webhook_secret, DEBTOR.value, CREDITOR.value):
        assert secret not in text


def test_resolve_unknown_keeps_going_when_a_lookup_fails(bank: MockBank, client: Client) -> None:
    bank.set_faults(FaultPlan(drop_response_after_commit=1.0, only_methods=frozenset({"POST"})))
    lost = [request("1.00"), request("2.00")]
    for pending in lost:
        with pytest.raises(UnknownOutcomeError):
            client.transfer("acme", pending)
    bank.set_faults(FaultPlan(rate_limit=1.0, retry_after=3600, only_methods=frozenset({"GET"})))
    assert client.resolve_unknown("acme") == []
    assert len(client.journal.unresolved("acme")) == 2
    bank.set_faults(FaultPlan.none())
    resolved = client.resolve_unknown("acme")
    assert sorted(t.amount.minor_units for t in resolved) == [100, 200]
    assert bank.duplicates_at_bank == 0


def test_concurrent_submits_of_the_same_transfers_pay_each_once(
    bank: MockBank, clock: FakeClock, journal: SQLiteJournal
) -> None:
    """Reliability scenario T3 in small: 25 keys, each submitted by 4 threads at once, over
    loopback. Exactly 25 transfers reach the bank; no call pays twice."""
    from concurrent.futures import ThreadPoolExecutor

    with bank.serve() as served:
        client = Client(
            [served.config()],
            journal=journal,
            retry=RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(3)),
            clock=clock.now,
        )
        batch = [request("1.00") for _ in range(25)]

        def submit(pending: TransferRequest) -> str:
            try:
                return client.transfer("acme", pending).id
            except UnknownOutcomeError:
                return "unknown"  # a loser saw the winner still in flight: resolved below

        try:
            with ThreadPoolExecutor(8) as pool:
                outcomes = list(pool.map(submit, [r for r in batch for _ in range(4)]))
            client.resolve_unknown("acme")
        finally:
            client.close()
    assert len(bank.transfers()) == 25
    assert bank.duplicates_at_bank == 0
    assert not journal.unresolved()
    ids = {journal.get(r.idempotency_key).transfer_id for r in batch}  # type: ignore[union-attr]
    assert set(outcomes) - {"unknown"} <= ids


@pytest.mark.parametrize("trust", ["none", "other_ca", "wrong_host"])
def test_untrusted_bank_certificates_are_refused(
    trust: str, bank: MockBank, clock: FakeClock, journal: SQLiteJournal, tmp_path: Path
) -> None:
    """Reliability scenario T16: a certificate the client cannot trust is never accepted,
    and nothing is sent; with the bank's CA pinned the same server is reached."""
    import trustme

    from walletlink import TransportError
    from walletlink.testing import ServerTLS

    ca = trustme.CA()
    name = "mock.bank.test" if trust == "wrong_host" else "127.0.0.1"
    leaf = ca.issue_cert(name)
    tls = ServerTLS(
        cert_chain_pem=b"".join(blob.bytes() for blob in leaf.cert_chain_pems),
        key_pem=leaf.private_key_pem.bytes(),
    )
    right = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(right))
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    pinned = {"none": None, "other_ca": str(other), "wrong_host": str(right)}[trust]
    with bank.serve(tls=tls) as served:
        assert served.url.startswith("https://")
        refused = Client([served.config(ca_bundle=pinned)], journal=journal, clock=clock.now)
        trusted = Client([served.config(ca_bundle=str(right))], journal=journal, clock=clock.now)
        try:
            with pytest.raises(TransportError, match="TLS"):
                refused.balances("acme", DEBTOR)
            if trust != "wrong_host":
                assert trusted.balances("acme", DEBTOR)
        finally:
            refused.close()
            trusted.close()
    assert bank.transfers() == []


def test_a_journalled_transfer_is_returned_even_if_it_no_longer_validates(
    bank: MockBank, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """validate() guards new intents; a stricter check after an upgrade must not keep a
    transfer already sent from being returned (or resolved) under its key."""
    sent = client.transfer("acme", request())
    again = request()

    def stricter(transfer_request: TransferRequest) -> None:
        raise ValidationError("refused by a newer rule")

    monkeypatch.setattr(client.adapter("acme"), "validate", stricter)
    original = TransferRequest.from_canonical(
        client.journal.get(sent.idempotency_key).request,  # type: ignore[union-attr]
        sent.idempotency_key,
    )
    assert client.transfer("acme", original).id == sent.id
    with pytest.raises(ValidationError):
        client.transfer("acme", again)
    assert client.journal.get(again.idempotency_key) is None


def test_a_payout_rebuilt_after_a_lost_reply_is_paid_once(
    bank: MockBank, clock: FakeClock, tmp_path: Path
) -> None:
    """The job dies after sending; the re-run builds the request again from the wallet's
    own payout id and gets the same key, so the journal resolves instead of paying again."""
    path = tmp_path / "payout.sqlite3"
    journal = SQLiteJournal(path)
    client = make_client(bank, clock, journal)
    bank.set_faults(FaultPlan(drop_response_after_commit=1.0, only_methods=frozenset({"POST"})))
    with pytest.raises(UnknownOutcomeError):
        client.transfer("acme", request(payout_id="PAYOUT-981"))
    client.close()
    journal.close()  # the crash: the request object is gone

    bank.set_faults(FaultPlan.none())
    reopened = SQLiteJournal(path)
    client = make_client(bank, clock, reopened)
    try:
        again = client.transfer("acme", request(payout_id="PAYOUT-981"))
        assert len(bank.transfers()) == 1
        assert bank.duplicates_at_bank == 0
        assert again.end_to_end_id == "PAYOUT-981"
    finally:
        client.close()
        reopened.close()


def test_the_same_end_to_end_id_rebuilt_is_one_payment(bank: MockBank, client: Client) -> None:
    first = client.transfer("acme", request(end_to_end_id="PAYOUT-982"))
    second = client.transfer("acme", request(end_to_end_id="PAYOUT-982"))
    assert first.id == second.id
    assert len(bank.transfers()) == 1


def test_the_same_payout_id_with_another_amount_is_a_mismatch(
    bank: MockBank, client: Client
) -> None:
    client.transfer("acme", request(payout_id="PAYOUT-983"))
    before = bank.stats["requests"]
    with pytest.raises(IdempotencyMismatchError):
        client.transfer("acme", request("99.00", payout_id="PAYOUT-983"))
    assert before == bank.stats["requests"]


def test_require_caller_ids_refuses_a_request_with_a_random_key(
    bank: MockBank, clock: FakeClock, journal: SQLiteJournal
) -> None:
    client = make_client(bank, clock, journal)
    client.require_caller_ids = True
    try:
        with pytest.raises(ValidationError, match="payout_id"):
            client.transfer("acme", request())
        assert list(journal.records()) == []
        assert bank.stats.get("requests", 0) == 0
        sent = client.transfer("acme", request(payout_id="PAYOUT-984"))
        assert sent.status == TransferStatus.PENDING
    finally:
        client.close()


def test_require_caller_ids_is_a_client_option(bank: MockBank) -> None:
    with Client([bank.config()], require_caller_ids=True) as client:
        bank.mount(client.session)
        with pytest.raises(ValidationError):
            client.transfer("acme", request())
        assert bank.stats.get("requests", 0) == 0


def test_the_same_payout_id_at_another_bank_is_refused(
    bank: MockBank, clock: FakeClock, journal: SQLiteJournal
) -> None:
    """Keys are scoped by bank in the journal: failing a payout over to a second bank
    cannot pay it twice."""
    client = Client(
        [bank.config(), bank.config(bank_id="backup")],
        journal=journal,
        retry=RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(0)),
        clock=clock.now,
    )
    bank.mount(client.session)
    try:
        client.transfer("acme", request(payout_id="PAYOUT-985"))
        with pytest.raises(IdempotencyMismatchError):
            client.transfer("backup", request(payout_id="PAYOUT-985"))
        assert len(bank.transfers()) == 1
    finally:
        client.close()


def test_a_reply_the_adapter_cannot_read_is_a_protocol_error(journal: SQLiteJournal) -> None:
    """An adapter that trusts a reply's shape (here: an object where the bank sent a list)
    raises a ProtocolError naming the adapter and the Python error, with it as the cause."""

    class Trusting(Adapter):
        protocol = "trusting_for_tests"
        capabilities = frozenset({Capability.ACCOUNT_INFORMATION})

        def balances(self, account: AccountId) -> Flow[list[Balance]]:
            response = yield PreparedRequest(method="GET", path="/balances")
            return [response.json()["balances"]["closing"]]

    class ListBank(requests.adapters.BaseAdapter):
        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            response = requests.Response()
            response.status_code = 200
            response.raw = io.BytesIO(b'{"balances": [1]}')
            response.url = request.url or ""
            response.request = request
            return response

        def close(self) -> None:
            pass

    register_adapter("trusting_for_tests", Trusting, replace=True)
    config = BankConfig(bank_id="t", protocol="trusting_for_tests", base_url="https://t.test")
    with Client([config], journal=journal) as client:
        client.session.mount("https://t.test", ListBank())
        with pytest.raises(
            ProtocolError, match=r"trusting_for_tests adapter cannot read"
        ) as caught:
            client.balances("t", DEBTOR)
    assert isinstance(caught.value.__cause__, TypeError)
