"""Bank replies are cross-checked against the journalled intent before they are journalled.

Unit checks of :mod:`walletlink._crosscheck`, then the client end to end against the
generic_rest mock bank with crafted replies: each disagreement is a ProtocolError naming the
field, leaves the transfer UNKNOWN and touches no other journal row.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from walletlink import (
    BankConfig,
    Client,
    Money,
    Party,
    ProtocolError,
    RetryPolicy,
    TransferRequest,
    TransferStatus,
    UnknownOutcomeError,
)
from walletlink._crosscheck import check_echo, check_moment
from walletlink.accounts import Iban, LocalAccount
from walletlink.client import Hooks, ResolveReport
from walletlink.http import PreparedRequest
from walletlink.journal import MemoryJournal
from walletlink.signing.webhooks import StandardWebhook
from walletlink.testing import FakeClock, FaultKind, FaultPlan, MockBank, MockRequest, MockResponse

DEBTOR = Iban("DE89370400440532013000")
CREDITOR = Iban("GB33BUKB20201555555555")
OUT_OF_RANGE = "9999-12-31T23:59:59-23:59"


def transfer_request(**changes: Any) -> TransferRequest:
    fields: dict[str, Any] = {
        "amount": Money("12.30", "EUR"),
        "debtor_account": DEBTOR,
        "creditor": Party(name="Ada Lovelace", account=CREDITOR),
        "remittance": "Invoice 42",
    }
    fields.update(changes)
    return TransferRequest(**fields)


# -- the checks themselves -------------------------------------------------------------------


def test_an_echo_that_agrees_passes_with_the_banks_spacing() -> None:
    request = transfer_request()
    check_echo(
        request,
        idempotency_key=request.idempotency_key,
        end_to_end_id=request.end_to_end_id,
        amount=Money("12.30", "EUR"),
        debtor_account="DE89 3704 0044 0532 0130 00",
        creditor_account="gb33bukb20201555555555",
    )


def test_a_local_account_written_with_dashes_matches_its_own_echo() -> None:
    # The journalled side is normalised like the echo: a sort code and account number or a
    # merchant order number keep their dashes in LocalAccount.value.
    request = transfer_request(creditor=Party(name="Ada", account=LocalAccount("20-00-00 5555")))
    check_echo(request, creditor_account="20-00-00 5555")
    check_echo(request, creditor_account="2000005555")
    with pytest.raises(ProtocolError, match="on creditor account"):
        check_echo(request, creditor_account="20-00-00 5556")


@pytest.mark.parametrize(
    ("echo", "named"),
    [
        ({"idempotency_key": "another"}, "idempotency key"),
        ({"end_to_end_id": "another"}, "end-to-end id"),
        ({"amount": Money("12.31", "EUR")}, "amount"),
        ({"amount": Money("12.30", "GBP")}, "currency"),
        ({"amount": Money("-12.30", "EUR")}, "direction"),
        ({"debtor_account": "DE02120300000000202051"}, "debtor account"),
        ({"creditor_account": "DE02120300000000202051"}, "creditor account"),
    ],
)
def test_a_disagreement_names_the_field_and_never_the_value(
    echo: dict[str, Any], named: str
) -> None:
    with pytest.raises(ProtocolError, match=f"on {named}") as raised:
        check_echo(transfer_request(), bank_id="acme", **echo)
    assert "0202051" not in str(raised.value)
    assert raised.value.bank_id == "acme"


def test_a_moment_past_the_utc_range_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="out of range"):
        check_moment(datetime.fromisoformat(OUT_OF_RANGE), "updated_at")
    check_moment(datetime(2026, 1, 1, tzinfo=UTC), "updated_at")


# -- the client against crafted replies ------------------------------------------------------


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


def make_client(bank: MockBank, clock: FakeClock, *configs: BankConfig, **options: Any) -> Client:
    client = Client(
        configs or [bank.config()],
        journal=options.pop("journal", None) or MemoryJournal(),
        retry=RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(0)),
        clock=clock.now,
        **options,
    )
    bank.mount(client.session)
    return client


@pytest.fixture
def client(bank: MockBank, clock: FakeClock) -> Iterator[Client]:
    with make_client(bank, clock) as client:
        yield client


Rewrite = Callable[[dict[str, Any]], None]


def rewrite_replies(
    monkeypatch: pytest.MonkeyPatch,
    bank: MockBank,
    when: Callable[[MockRequest], bool],
    change: Rewrite,
) -> None:
    """Make the bank's JSON replies to requests matching ``when`` say something else."""
    answer = bank.handle

    def handle(request: MockRequest) -> MockResponse:
        response = answer(request)
        if not when(request) or response.status >= 300:
            return response
        body = json.loads(response.body)
        for item in body.get("data", [body]):
            change(item)
        return attrs.evolve(response, body=json.dumps(body).encode())

    monkeypatch.setattr(bank, "handle", handle)


def posting(request: MockRequest) -> bool:
    return request.method == "POST" and request.path == "/v1/transfers"


def looking_up(request: MockRequest) -> bool:
    return request.method == "GET" and request.path == "/v1/transfers"


def setter(name: str, value: object) -> Rewrite:
    def change(item: dict[str, Any]) -> None:
        item[name] = value

    return change


DISAGREEMENTS = [
    pytest.param(setter("amount", "99.99"), "amount", id="amount"),
    pytest.param(setter("currency", "GBP"), "currency", id="currency"),
    pytest.param(setter("amount", "-12.30"), "direction", id="sign"),
    pytest.param(setter("end_to_end_id", "someone-else"), "end-to-end id", id="e2e"),
    pytest.param(setter("idempotency_key", "someone-else"), "idempotency key", id="key"),
    pytest.param(
        setter("debtor_account", {"scheme": "iban", "value": "DE02120300000000202051"}),
        "debtor account",
        id="debtor",
    ),
    pytest.param(setter("created_at", OUT_OF_RANGE), "date-time", id="timestamp"),
]


@pytest.mark.parametrize(("change", "named"), DISAGREEMENTS)
def test_a_create_reply_that_disagrees_leaves_the_transfer_unknown(
    monkeypatch: pytest.MonkeyPatch, bank: MockBank, client: Client, change: Rewrite, named: str
) -> None:
    rewrite_replies(monkeypatch, bank, posting, change)
    request = transfer_request()
    with pytest.raises(UnknownOutcomeError, match=named) as raised:
        client.transfer("acme", request)
    assert isinstance(raised.value.__cause__, ProtocolError)
    assert "0202051" not in str(raised.value)
    record = client.journal.get(request.idempotency_key)
    assert record is not None
    assert (record.status, record.transfer) == (TransferStatus.UNKNOWN, None)
    assert [request.idempotency_key] == [r.idempotency_key for r in client.journal.records()]


def lose_the_reply(bank: MockBank, client: Client, request: TransferRequest) -> None:
    bank.set_faults(FaultPlan.of(FaultKind.DROP_RESPONSE_AFTER_COMMIT, only_methods={"POST"}))
    with pytest.raises(UnknownOutcomeError):
        client.transfer("acme", request)
    bank.set_faults(FaultPlan.none())


@pytest.mark.parametrize(("change", "named"), DISAGREEMENTS)
def test_a_lookup_that_disagrees_stays_unknown_and_resolve_goes_on(
    monkeypatch: pytest.MonkeyPatch, bank: MockBank, client: Client, change: Rewrite, named: str
) -> None:
    bad, good = transfer_request(), transfer_request(amount=Money("1.00", "EUR"))
    lose_the_reply(bank, client, bad)
    lose_the_reply(bank, client, good)

    def only_the_bad(item: dict[str, Any]) -> None:
        if item["idempotency_key"] == bad.idempotency_key:
            change(item)

    rewrite_replies(monkeypatch, bank, looking_up, only_the_bad)
    report = client.resolve_unknown()
    assert [good.idempotency_key] == [t.idempotency_key for t in report]
    record = client.journal.get(bad.idempotency_key)
    assert record is not None
    assert record.status == TransferStatus.UNKNOWN
    assert tuple(report.errors.items()) == (("ProtocolError", 1),)
    assert (record.transfer_id,) == report.unresolved


def test_a_lookup_naming_another_journalled_key_leaves_that_row_alone(
    monkeypatch: pytest.MonkeyPatch, bank: MockBank, client: Client
) -> None:
    other = transfer_request(amount=Money("5.00", "EUR"))
    sent = client.transfer("acme", other)
    before = client.journal.get(other.idempotency_key)
    lost = transfer_request()
    lose_the_reply(bank, client, lost)
    # The bank answers the lookup with the other transfer, rejected.
    rewrite_replies(
        monkeypatch,
        bank,
        looking_up,
        lambda item: item.update(
            id=sent.bank_transfer_id,
            idempotency_key=other.idempotency_key,
            end_to_end_id=other.end_to_end_id,
            amount="5.00",
            status="rejected",
        ),
    )
    report = client.resolve_unknown()
    assert list(report) == []
    assert before == client.journal.get(other.idempotency_key)
    lost_record = client.journal.get(lost.idempotency_key)
    assert lost_record is not None
    assert lost_record.status == TransferStatus.UNKNOWN


def test_a_lookup_naming_a_key_the_journal_never_saw_raises_no_key_error(
    monkeypatch: pytest.MonkeyPatch, bank: MockBank, client: Client
) -> None:
    lost = transfer_request()
    lose_the_reply(bank, client, lost)
    rewrite_replies(monkeypatch, bank, looking_up, setter("idempotency_key", "ghost"))
    report = client.resolve_unknown()
    assert (list(report), dict(report.errors)) == ([], {"ProtocolError": 1})
    assert [lost.idempotency_key] == [r.idempotency_key for r in client.journal.records()]


def test_get_and_cancel_replies_are_checked(
    monkeypatch: pytest.MonkeyPatch, bank: MockBank, client: Client
) -> None:
    sent = client.transfer("acme", transfer_request())
    rewrite_replies(
        monkeypatch, bank, lambda r: r.path.startswith("/v1/transfers/"), setter("amount", "1.00")
    )
    with pytest.raises(ProtocolError, match="on amount"):
        client.get_transfer(sent.id)
    with pytest.raises(ProtocolError, match="on amount"):
        client.cancel_transfer(sent.id)
    record = client.journal.get(sent.idempotency_key)
    assert record is not None
    assert (TransferStatus.UNKNOWN, sent.amount) == (record.status, record.transfer.amount)


# -- resolve_unknown isolates every failure -------------------------------------------------


def test_resolve_unknown_survives_any_exception_and_counts_it(
    bank: MockBank, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = transfer_request(), transfer_request(amount=Money("2.00", "EUR"))
    failed: list[str] = []

    def explode_once(bank_id: str, request: PreparedRequest, url: str) -> None:
        if not failed and request.method == "GET":
            failed.append(url)
            raise RuntimeError("a bug in the wallet's hook")

    with make_client(bank, clock) as client:
        lose_the_reply(bank, client, first)
        lose_the_reply(bank, client, second)
        client.hooks = Hooks(on_request=explode_once)
        with caplog.at_level("INFO", logger="walletlink"):
            report = client.resolve_unknown()
    summary = [r.getMessage() for r in caplog.records if "resolve_unknown:" in r.getMessage()]
    assert summary == ["resolve_unknown: 1 resolved, 1 still unresolved, errors: RuntimeError=1"]
    assert "a bug in the wallet's hook" not in caplog.text
    assert isinstance(report, ResolveReport)
    assert [second.idempotency_key] == [t.idempotency_key for t in report]
    assert (dict(report.errors), len(report.unresolved)) == ({"RuntimeError": 1}, 1)
    assert report.failed == 1


def test_resolve_unknown_goes_on_past_a_bank_no_longer_configured(
    bank: MockBank, clock: FakeClock
) -> None:
    journal = MemoryJournal()
    other = MockBank("generic_rest", bank_id="other", base_url="https://other.test", clock=clock)
    other.open_account(DEBTOR, Money("1000.00", "EUR"))
    with make_client(bank, clock, bank.config(), other.config(), journal=journal) as client:
        other.mount(client.session)
        lose_the_reply(bank, client, transfer_request())
        other.set_faults(FaultPlan.of(FaultKind.DROP_RESPONSE_AFTER_COMMIT, only_methods={"POST"}))
        with pytest.raises(UnknownOutcomeError):
            client.transfer("other", transfer_request())
        other.set_faults(FaultPlan.none())
    # The wallet stopped using "acme"; its unknown transfer must not block "other".
    with make_client(other, clock, other.config(), journal=journal) as client:
        report = client.resolve_unknown()
    other.close()
    assert (len(report), dict(report.errors)) == (1, {"ConfigurationError": 1})


# -- notifications -------------------------------------------------------------------------


def test_a_notification_contradicting_the_amount_is_not_applied(
    bank: MockBank, clock: FakeClock
) -> None:
    inbox: list[tuple[dict[str, str], bytes]] = []
    bank.webhook_target = lambda headers, body: inbox.append((dict(headers), body))
    with make_client(bank, clock) as client:
        request = transfer_request()
        client.transfer("acme", request)
        bank.advance(61)
        headers, body = inbox[-1]
        payload = json.loads(body)
        payload["data"]["amount"] = "1230.00"
        forged = json.dumps(payload).encode()
        signed = StandardWebhook([bank.webhook_secret]).sign(
            headers["webhook-id"], clock.now(), forged
        )
        for _ in range(2):  # a redelivery is checked again, not waved through as a duplicate
            with pytest.raises(ProtocolError, match="on amount"):
                client.handle_notification("acme", signed, forged)
        record = client.journal.get(request.idempotency_key)
        assert record is not None
        assert record.status == TransferStatus.UNKNOWN
        # The genuine notification still applies.
        event = client.handle_notification("acme", headers, body)
        assert (event.duplicate, event.status) == (False, TransferStatus.SETTLED)


# -- request ids ---------------------------------------------------------------------------


def test_a_garbled_create_reply_keeps_the_banks_request_id(
    bank: MockBank, clock: FakeClock
) -> None:
    ids: list[str | None] = []
    hooks = Hooks(on_response=lambda bank_id, response: ids.append(response.header("Request-Id")))
    with make_client(bank, clock, hooks=hooks) as client:
        bank.set_faults(FaultPlan.of(FaultKind.MALFORMED_BODY, only_methods={"POST"}))
        with pytest.raises(UnknownOutcomeError) as raised:
            client.transfer("acme", transfer_request())
    assert ids[-1] is not None
    assert ids[-1] == raised.value.request_id
