"""The generic_rest server at the HTTP level, through ``bank.mount(session)``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
import requests

from walletlink.testing import MockBank

from .conftest import (
    API_KEY,
    BASE,
    CREDITOR,
    DEBTOR,
    EXTERNAL,
    WEBHOOK_SECRET,
    make_body,
    post_transfer,
)

LOCAL = {"scheme": "local", "value": "a"}
SHORT_SORT_CODE = {"scheme": "sort_code", "value": "1234"}


def iban(value: str) -> dict[str, str]:
    return {"scheme": "iban", "value": value}


def error_of(response: requests.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


# -- authentication -----------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {API_KEY}", "Bearer "])
def test_wrong_or_missing_api_key_is_401(bank: MockBank, header: str | None) -> None:
    with requests.Session() as session:
        bank.mount(session)
        headers = {"Authorization": header} if header else {}
        response = session.get(f"{BASE}/v1/transfers", headers=headers, timeout=5)
    assert response.status_code == 401
    assert {k: error_of(response)[k] for k in ("type", "code")} == {
        "type": "authentication_error",
        "code": "invalid_api_key",
    }


def test_unknown_route_and_wrong_method(session: requests.Session) -> None:
    assert session.get(f"{BASE}/v1/nothing", timeout=5).status_code == 404
    assert session.delete(f"{BASE}/v1/transfers", timeout=5).status_code == 405


# -- creating transfers -------------------------------------------------------------------


def test_create_answers_201_pending_and_reserves(session: requests.Session, bank: MockBank) -> None:
    response = post_transfer(session)
    assert response.status_code == 201
    body = response.json()
    expected = {
        "id": "tr_0001",
        "status": "pending",
        "amount": "12.30",
        "currency": "EUR",
        "debtor_account": {"scheme": "iban", "value": DEBTOR},
        "creditor": {"name": "Bob", "account": {"scheme": "iban", "value": CREDITOR}},
        "remittance": "Invoice 42",
        "end_to_end_id": "e2e-1",
        "idempotency_key": "key-1",
        "metadata": {"order": "42"},
        "reason": None,
        "created_at": "2026-01-05T09:00:00Z",
        "updated_at": "2026-01-05T09:00:00Z",
    }
    assert expected == body
    assert (
        bank.balance(DEBTOR).to_decimal_string(),
        bank.available(DEBTOR).to_decimal_string(),
    ) == ("100.00", "87.70")


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"amount": "12.3"}, "amount"),
        ({"amount": "12.300"}, "amount"),
        ({"amount": "12"}, "amount"),
        ({"amount": 12.3}, "amount"),
        ({"amount": "0.00"}, "amount"),
        ({"amount": "-1.00"}, "amount"),
        ({"amount": "012.30"}, "amount"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "eur"}, "currency"),
        ({"debtor_account": iban("DE89370400440532013001")}, "debtor_account.value"),
        ({"debtor_account": {"scheme": "bban", "value": "x"}}, "debtor_account.scheme"),
        ({"debtor_account": {"scheme": "iban", "value": DEBTOR, "x": 1}}, "debtor_account.x"),
        ({"debtor_account": "DE89"}, "debtor_account"),
        ({"creditor": {"name": "", "account": LOCAL}}, "creditor.name"),
        ({"creditor": {"name": "Bob", "account": SHORT_SORT_CODE}}, "creditor.account.value"),
        ({"creditor": {"name": "Bob", "account": LOCAL, "agent": "NOPE"}}, "creditor.agent"),
        ({"end_to_end_id": "x" * 36}, "end_to_end_id"),
        ({"remittance": "x" * 141}, "remittance"),
        ({"metadata": {"a": 1}}, "metadata.a"),
        ({"surprise": True}, "surprise"),
    ],
)  # fmt: skip
def test_invalid_fields_are_400_naming_the_field(
    session: requests.Session, bank: MockBank, overrides: dict[str, Any], param: str
) -> None:
    response = post_transfer(session, **overrides)
    assert (400, "parameter_invalid", param) == (
        response.status_code,
        error_of(response)["code"],
        error_of(response)["param"],
    )
    assert bank.transfers() == []


@pytest.mark.parametrize(
    "field", ["amount", "currency", "debtor_account", "creditor", "end_to_end_id"]
)
def test_missing_required_field_is_parameter_missing(session: requests.Session, field: str) -> None:
    payload = make_body()
    del payload[field]
    response = session.post(
        f"{BASE}/v1/transfers", json=payload, headers={"Idempotency-Key": "k"}, timeout=5
    )
    assert (400, "parameter_missing", field) == (
        response.status_code,
        error_of(response)["code"],
        error_of(response)["param"],
    )


def test_body_that_is_not_a_json_object(session: requests.Session) -> None:
    for body in (b"[1]", b"{oops"):
        response = session.post(
            f"{BASE}/v1/transfers", data=body, headers={"Idempotency-Key": "k"}, timeout=5
        )
        assert (error_of(response)["code"], error_of(response)["param"]) == (
            "parameter_invalid",
            "body",
        )


def test_other_account_schemes_and_optional_fields(
    session: requests.Session, bank: MockBank
) -> None:
    bank.open_account("acct_1", "50", "JPY")
    response = post_transfer(
        session,
        amount="15",
        currency="JPY",
        debtor_account={"scheme": "local", "value": "acct_1"},
        creditor={
            "name": "Carol",
            "account": {"scheme": "sort_code", "value": "20000055555555"},
            "agent": "DEUTDEFF",
            "country": "GB",
        },
    )
    assert response.status_code == 201
    assert response.json()["creditor"] == {
        "name": "Carol",
        "account": {"scheme": "sort_code", "value": "20000055555555"},
        "agent": "DEUTDEFF",
        "country": "GB",
    }


def test_idempotency_key_is_required_and_bounded(session: requests.Session) -> None:
    missing = session.post(f"{BASE}/v1/transfers", json=make_body(), timeout=5)
    assert (
        missing.status_code,
        error_of(missing)["code"],
        error_of(missing)["param"],
    ) == (400, "parameter_missing", "Idempotency-Key")
    too_long = post_transfer(session, key="k" * 256)
    assert (too_long.status_code, error_of(too_long)["code"]) == (400, "parameter_invalid")


def test_unknown_debtor_account_is_404(session: requests.Session) -> None:
    response = post_transfer(session, debtor_account={"scheme": "iban", "value": EXTERNAL})
    assert (response.status_code, error_of(response)["code"]) == (404, "account_not_found")


def test_currency_the_account_does_not_hold_is_400(session: requests.Session) -> None:
    response = post_transfer(session, currency="GBP")
    assert (error_of(response)["code"], error_of(response)["param"]) == (
        "parameter_invalid",
        "currency",
    )


def test_insufficient_funds_is_201_rejected(session: requests.Session, bank: MockBank) -> None:
    response = post_transfer(session, amount="100.01")
    assert response.status_code == 201
    assert (
        response.json()["status"],
        response.json()["reason"]["code"],
    ) == ("rejected", "insufficient_funds")
    assert bank.available(DEBTOR).to_decimal_string() == "100.00"


# -- idempotency --------------------------------------------------------------------------


def test_same_key_same_body_replays_the_exact_bytes(
    session: requests.Session, bank: MockBank
) -> None:
    first = post_transfer(session)
    again = post_transfer(session)
    assert first.content == again.content
    assert (
        again.status_code,
        again.headers["Idempotent-Replayed"],
        first.headers.get("Idempotent-Replayed"),
    ) == (201, "true", None)
    assert first.headers["Request-Id"] == again.headers["Request-Id"]
    assert len(bank.transfers()) == 1
    assert bank.stats["replays"] == 1


def test_same_key_different_body_is_422_and_nothing_executes(
    session: requests.Session, bank: MockBank
) -> None:
    post_transfer(session)
    response = post_transfer(session, amount="1.00")
    assert (
        response.status_code,
        error_of(response)["type"],
        error_of(response)["code"],
    ) == (422, "idempotency_error", "idempotency_key_reused")
    assert len(bank.transfers()) == 1


def test_validation_failure_frees_the_key(session: requests.Session, bank: MockBank) -> None:
    assert post_transfer(session, amount="1").status_code == 400
    assert post_transfer(session).status_code == 201


def test_keys_are_forgotten_after_24_hours(session: requests.Session, bank: MockBank) -> None:
    post_transfer(session)
    bank.advance(24 * 3600)
    response = post_transfer(session)
    assert (response.status_code, response.headers.get("Idempotent-Replayed")) == (201, None)
    assert len(bank.transfers()) == 2


def test_decline_is_replayed_too(session: requests.Session, bank: MockBank) -> None:
    first = post_transfer(session, amount="500.00")
    bank.open_account("DE02120300000000202051", "1000.00")  # the world changes...
    assert first.content == post_transfer(session, amount="500.00").content  # ...the answer not


# -- reading transfers --------------------------------------------------------------------


def test_get_and_lookup(session: requests.Session) -> None:
    created = post_transfer(session).json()
    assert created == session.get(f"{BASE}/v1/transfers/tr_0001", timeout=5).json()
    missing = session.get(f"{BASE}/v1/transfers/tr_9999", timeout=5)
    assert (missing.status_code, error_of(missing)["code"]) == (404, "transfer_not_found")
    by_key = session.get(f"{BASE}/v1/transfers", params={"idempotency_key": "key-1"}, timeout=5)
    assert {"data": [created], "next_cursor": None} == by_key.json()
    by_e2e = session.get(f"{BASE}/v1/transfers", params={"end_to_end_id": "nope"}, timeout=5)
    assert by_e2e.json() == {"data": [], "next_cursor": None}


# -- settlement, cancel, balances --------------------------------------------------------


def test_settlement_on_the_clock(session: requests.Session, bank: MockBank) -> None:
    post_transfer(session)
    bank.advance(0)
    assert session.get(f"{BASE}/v1/transfers/tr_0001", timeout=5).json()["status"] == "processing"
    bank.advance(59)
    assert session.get(f"{BASE}/v1/transfers/tr_0001", timeout=5).json()["status"] == "processing"
    bank.advance(1)
    settled = session.get(f"{BASE}/v1/transfers/tr_0001", timeout=5).json()
    assert (settled["status"], settled["updated_at"]) == ("settled", "2026-01-05T09:01:00Z")
    assert (
        bank.balance(DEBTOR).to_decimal_string(),
        bank.balance(CREDITOR).to_decimal_string(),
    ) == ("87.70", "12.30")


def test_closed_creditor_is_rejected_at_processing(
    session: requests.Session, bank: MockBank
) -> None:
    bank.close_account(CREDITOR)
    post_transfer(session)
    bank.advance(1)
    transfer = session.get(f"{BASE}/v1/transfers/tr_0001", timeout=5).json()
    assert (transfer["status"], transfer["reason"]["code"]) == ("rejected", "account_closed")
    assert bank.available(DEBTOR).to_decimal_string() == "100.00"


def test_cancel_pending_then_not_cancellable(session: requests.Session, bank: MockBank) -> None:
    post_transfer(session)
    url = f"{BASE}/v1/transfers/tr_0001/cancel"
    cancelled = session.post(url, headers={"Idempotency-Key": "c1"}, timeout=5)
    assert (
        cancelled.status_code,
        cancelled.json()["status"],
        cancelled.json()["reason"]["code"],
    ) == (200, "cancelled", "cancelled_by_user")
    assert bank.available(DEBTOR).to_decimal_string() == "100.00"
    replay = session.post(url, headers={"Idempotency-Key": "c1"}, timeout=5)
    assert (cancelled.content, "true") == (replay.content, replay.headers["Idempotent-Replayed"])
    post_transfer(session, key="key-2", end_to_end_id="e2e-2")
    bank.advance(0)
    refused = session.post(
        f"{BASE}/v1/transfers/tr_0002/cancel", headers={"Idempotency-Key": "c2"}, timeout=5
    )
    assert (refused.status_code, error_of(refused)["code"]) == (409, "transfer_not_cancellable")
    unknown = session.post(
        f"{BASE}/v1/transfers/tr_0404/cancel", headers={"Idempotency-Key": "c3"}, timeout=5
    )
    assert unknown.status_code == 404
    no_key = session.post(url, timeout=5)
    assert no_key.status_code == 400


def test_balances(session: requests.Session, bank: MockBank) -> None:
    post_transfer(session)
    response = session.get(f"{BASE}/v1/accounts/{DEBTOR}/balances", timeout=5)
    assert response.json() == {
        "data": [
            {"type": "CLBD", "amount": "100.00", "currency": "EUR"},
            {"type": "ITAV", "amount": "87.70", "currency": "EUR"},
        ]
    }
    missing = session.get(f"{BASE}/v1/accounts/{EXTERNAL}/balances", timeout=5)
    assert (missing.status_code, error_of(missing)["code"]) == (404, "account_not_found")


def test_account_path_is_url_decoded(session: requests.Session, bank: MockBank) -> None:
    bank.open_account("wallet/7", "1.00")
    response = session.get(f"{BASE}/v1/accounts/wallet%2F7/balances", timeout=5)
    assert response.json()["data"][0]["amount"] == "1.00"


# -- transactions and pagination ----------------------------------------------------------


def settle_many(session: requests.Session, bank: MockBank, count: int) -> None:
    for index in range(count):
        post_transfer(session, key=f"k{index}", amount="1.00", end_to_end_id=f"e{index}")
        bank.advance(3600 * 6)  # four transfers a day: entries spread over several dates


def test_transactions_shape(session: requests.Session, bank: MockBank) -> None:
    settle_many(session, bank, 1)
    [debit] = session.get(f"{BASE}/v1/accounts/{DEBTOR}/transactions", timeout=5).json()["data"]
    assert debit == {
        "id": "txn_0001",
        "transfer_id": "tr_0001",
        "amount": "1.00",
        "currency": "EUR",
        "direction": "debit",
        "status": "booked",
        "booking_date": "2026-01-05",
        "value_date": "2026-01-05",
        "end_to_end_id": "e0",
        "counterparty_name": "Bob",
        "counterparty_account": "…5555",
        "remittance": "Invoice 42",
    }


def test_pagination_walks_every_entry_once_in_order(
    session: requests.Session, bank: MockBank
) -> None:
    settle_many(session, bank, 7)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = session.get(
            f"{BASE}/v1/accounts/{CREDITOR}/transactions", params=params, timeout=5
        ).json()
        seen += [entry["id"] for entry in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert [f"txn_{n:04d}" for n in range(2, 15, 2)] == seen


def test_date_filter(session: requests.Session, bank: MockBank) -> None:
    settle_many(session, bank, 8)  # two days of entries
    response = session.get(
        f"{BASE}/v1/accounts/{DEBTOR}/transactions",
        params={"from": "2026-01-06", "to": "2026-01-06"},
        timeout=5,
    )
    dates = {entry["booking_date"] for entry in response.json()["data"]}
    assert {"2026-01-06"} == dates


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
    ],
)
def test_bad_query_parameters(
    session: requests.Session, params: dict[str, str], param: str
) -> None:
    response = session.get(f"{BASE}/v1/accounts/{DEBTOR}/transactions", params=params, timeout=5)
    assert (400, param) == (response.status_code, error_of(response)["param"])


def test_cursor_of_another_endpoint_is_refused(session: requests.Session, bank: MockBank) -> None:
    for index in range(3):
        post_transfer(session, key=f"k{index}", amount="1.00", end_to_end_id=f"e{index}")
    page = session.get(f"{BASE}/v1/transfers", params={"limit": "1"}, timeout=5).json()
    response = session.get(
        f"{BASE}/v1/accounts/{DEBTOR}/transactions",
        params={"cursor": page["next_cursor"]},
        timeout=5,
    )
    assert response.status_code == 400


# -- webhooks -----------------------------------------------------------------------------


def independent_signature(headers: dict[str, str], body: bytes) -> str:
    key = base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def test_webhooks_are_signed_per_standard_webhooks(
    bank: MockBank, session: requests.Session
) -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    bank.webhook_target = lambda headers, body: received.append((dict(headers), body))
    post_transfer(session)
    bank.advance(60)
    assert len(received) == 2
    for headers, body in received:
        assert independent_signature(headers, body) == headers["webhook-signature"]
        assert str(bank.clock.timestamp()) == headers["webhook-timestamp"]
    events = [json.loads(body) for _, body in received]
    assert [event["type"] for event in events] == ["transfer.processing", "transfer.settled"]
    assert [headers["webhook-id"] for headers, _ in received] == ["evt_0001", "evt_0002"]
    assert events[1]["data"]["id"] == "tr_0001"
    assert events[1]["created_at"] == "2026-01-05T09:01:00Z"


def test_cancel_sends_a_webhook(bank: MockBank, session: requests.Session) -> None:
    post_transfer(session)
    session.post(f"{BASE}/v1/transfers/tr_0001/cancel", headers={"Idempotency-Key": "c"}, timeout=5)
    bank.deliver_webhooks()
    assert [json.loads(w.body)["type"] for w in bank.webhooks] == ["transfer.cancelled"]


def test_webhooks_verify_with_the_client_library_verifier(
    bank: MockBank, session: requests.Session
) -> None:
    from walletlink.signing.webhooks import StandardWebhook

    post_transfer(session)
    bank.advance(60)
    verifier = StandardWebhook([WEBHOOK_SECRET])
    for webhook in bank.webhooks:
        verifier.verify(webhook.headers, webhook.body, bank.clock.now())
