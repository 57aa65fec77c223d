"""wechatpay_v3 refunds as journalled transfers: validate before the journal, one
out_refund_no per refund identity, unknown outcomes resolved by the refund query with the
same out_refund_no, refund notifications, forged replies and notifications refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from walletlink._retry import RetryPolicy
from walletlink.accounts import LocalAccount
from walletlink.errors import (
    BankRejectedError,
    CurrencyMismatchError,
    ProtocolError,
    SignatureError,
    UnknownOutcomeError,
    UnsupportedOperationError,
    ValidationError,
)
from walletlink.models import ReasonCode, TransferRequest, TransferStatus
from walletlink.money import Money
from walletlink.protocols.wechatpay_v3._refunds import REFUNDS_PATH
from walletlink.protocols.wechatpay_v3.mock import WeChatPayV3Server
from walletlink.protocols.wechatpay_v3.topup import (
    OrderRequest,
    TradeState,
    WeChatPayTopUps,
    refund_request,
)
from walletlink.testing._http import MockRequest, MockResponse
from walletlink.testing.faults import FaultKind, FaultPlan

from .conftest import OPENID, Harness, make_harness

MCHID = "1900009191"
ORDER = "TOPUP-0001"
TOTAL = Money("50.00", "CNY")


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """A paid 50.00 CNY Native top-up ``TOPUP-0001`` of the user ``OPENID``."""
    harness = make_harness(tmp_path, payer_balance="100.00")
    topups = WeChatPayTopUps(harness.client, harness.bank.bank_id)
    topups.native(OrderRequest(out_trade_no=ORDER, amount=TOTAL, description="Wallet top-up"))
    _server(harness).pay_order(ORDER, OPENID)
    harness.sent.clear()
    yield harness
    harness.client.close()
    harness.bank.close()


def _server(harness: Harness) -> WeChatPayV3Server:
    assert isinstance(harness.bank.server, WeChatPayV3Server)
    return harness.bank.server


def _refund(amount: str = "20.00", refund_id: str = "REFUND-1", **changes: Any) -> TransferRequest:
    fields: dict[str, Any] = {
        "mchid": MCHID,
        "amount": Money(amount, "CNY"),
        "order_total": TOTAL,
        "refund_id": refund_id,
        "out_trade_no": ORDER,
        "reason": "the user asked",
        **changes,
    }
    return refund_request(**fields)


def _posts(harness: Harness) -> list[bytes]:
    return [r.body or b"" for r, _ in harness.sent if r.path == REFUNDS_PATH]


def _refunds_at_bank(harness: Harness) -> list[Any]:
    return [t for t in harness.bank.transfers() if "out_refund_no" in t.instruction.metadata]


def _no_retries(harness: Harness) -> None:
    harness.client.retry = RetryPolicy(
        max_attempts=1, sleep=harness.clock.sleep, clock=harness.clock.monotonic
    )


# -- the request --------------------------------------------------------------------------------


def test_the_refund_body_follows_the_api_and_out_refund_no_is_the_key(harness: Harness) -> None:
    request = _refund()
    transfer = harness.client.transfer(harness.bank.bank_id, request)
    assert transfer.status is TransferStatus.PROCESSING
    assert transfer.bank_transfer_id is not None  # refund_id
    [body] = _posts(harness)
    assert json.loads(body) == {
        "out_trade_no": ORDER,
        "out_refund_no": request.idempotency_key,
        "reason": "the user asked",
        "notify_url": "https://wallet.example/wechatpay/notify",
        "amount": {"refund": 2000, "total": 5000, "currency": "CNY"},
    }
    # The key is derived from the wallet's refund id: rebuilt, it is the same refund.
    assert _refund().idempotency_key == request.idempotency_key
    assert request.idempotency_key.startswith("wlk-")


def test_a_refund_by_transaction_id(harness: Harness) -> None:
    topups = WeChatPayTopUps(harness.client, harness.bank.bank_id)
    transaction_id = topups.query(ORDER).transaction_id
    assert transaction_id is not None
    transfer = topups.refund(
        amount=Money("5.00", "CNY"),
        order_total=TOTAL,
        refund_id="REFUND-TX",
        transaction_id=transaction_id,
    )
    assert transfer.status is TransferStatus.PROCESSING
    assert json.loads(_posts(harness)[0])["transaction_id"] == transaction_id
    with pytest.raises(ValidationError):  # one of the two, not both
        _refund(transaction_id=transaction_id)


@pytest.mark.parametrize(
    ("changes", "what"),
    [
        ({"amount": "50.01"}, "exceed"),  # more than the order's total
        ({"out_trade_no": "abc"}, "out_trade_no"),  # fewer than 6
        ({"out_trade_no": "TOPUP 0001"}, "out_trade_no"),  # a space
        ({"reason": "x" * 81}, "reason"),
        ({"mchid": "1234567890"}, "merchant"),
    ],
)
def test_what_the_refund_api_cannot_carry_is_refused_before_journalling(
    harness: Harness, changes: dict[str, Any], what: str
) -> None:
    amount = changes.pop("amount", "20.00")
    request = _refund(amount, **changes)
    with pytest.raises(ValidationError, match=what):
        harness.client.transfer(harness.bank.bank_id, request)
    assert harness.client.journal.get(request.idempotency_key) is None
    assert harness.sent == []


def test_a_non_cny_refund_is_refused_before_journalling(harness: Harness) -> None:
    with pytest.raises(CurrencyMismatchError):
        _refund(order_total=Money("50.00", "EUR"))
    request = _refund()
    eur = TransferRequest(
        amount=Money("20.00", "EUR"),
        debtor_account=request.debtor_account,
        creditor=request.creditor,
        metadata=request.metadata,
        payout_id="REFUND-EUR",
    )
    with pytest.raises(ValidationError, match="CNY"):
        harness.client.transfer(harness.bank.bank_id, eur)
    assert harness.client.journal.get(eur.idempotency_key) is None


def test_an_out_refund_no_outside_the_charset_is_refused(harness: Harness) -> None:
    request = TransferRequest(
        amount=Money("1.00", "CNY"),
        debtor_account=LocalAccount(MCHID),
        creditor=_refund().creditor,
        metadata=_refund().metadata,
        idempotency_key="refund#1",  # '#' is not in [0-9A-Za-z_-|*@]
    )
    with pytest.raises(ValidationError, match="out_refund_no"):
        harness.client.transfer(harness.bank.bank_id, request)
    too_long = TransferRequest(
        amount=Money("1.00", "CNY"),
        debtor_account=LocalAccount(MCHID),
        creditor=_refund().creditor,
        metadata=_refund().metadata,
        idempotency_key="R" * 65,
    )
    with pytest.raises(ValidationError, match="out_refund_no"):
        harness.client.transfer(harness.bank.bank_id, too_long)
    assert harness.sent == []


def test_a_refund_without_the_order_total_is_refused(harness: Harness) -> None:
    request = TransferRequest(
        amount=Money("1.00", "CNY"),
        debtor_account=LocalAccount(MCHID),
        creditor=_refund().creditor,
        payout_id="REFUND-NO-TOTAL",
    )
    with pytest.raises(ValidationError, match="total"):
        harness.client.transfer(harness.bank.bank_id, request)


# -- refund lifecycle --------------------------------------------------------------------------


def test_a_refund_succeeds_and_is_notified(harness: Harness) -> None:
    inbox: list[tuple[dict[str, str], bytes]] = []
    harness.bank.webhook_target = lambda headers, body: inbox.append((dict(headers), body))
    transfer = harness.client.transfer(harness.bank.bank_id, _refund())
    harness.bank.advance(61)
    assert harness.client.get_transfer(transfer.id).status is TransferStatus.SETTLED
    refunds = [body for _, body in inbox if b"REFUND." in body]
    assert len(refunds) == 1
    envelope = json.loads(refunds[0])
    assert envelope["event_type"] == "REFUND.SUCCESS"
    assert envelope["resource"]["associated_data"] == "refund"
    headers = next(h for h, b in inbox if b == refunds[0])
    event = harness.client.handle_notification(harness.bank.bank_id, headers, refunds[0])
    assert (event.transfer_id, event.status, event.amount) == (
        transfer.id,
        TransferStatus.SETTLED,
        Money("20.00", "CNY"),
    )
    assert event.data["out_trade_no"] == ORDER
    status, _, ack = harness.client.notification_ack(harness.bank.bank_id, event)
    assert (status, json.loads(ack)["code"]) == (200, "SUCCESS")
    # The money went back: 100 - 50 (top-up) + 20 (refund).
    assert harness.bank.balance(OPENID) == Money("70.00", "CNY")
    topups = WeChatPayTopUps(harness.client, harness.bank.bank_id)
    assert topups.query(ORDER).state is TradeState.REFUND


def test_the_same_refund_again_is_sent_once(harness: Harness) -> None:
    first = harness.client.transfer(harness.bank.bank_id, _refund())
    again = harness.client.transfer(harness.bank.bank_id, _refund())
    assert again.id == first.id
    assert len(_posts(harness)) == 1  # the journal answered the second call
    assert len(_refunds_at_bank(harness)) == 1


def test_partial_refunds_cannot_exceed_the_order(harness: Harness) -> None:
    harness.client.transfer(harness.bank.bank_id, _refund("30.00", "REFUND-1"))
    harness.client.transfer(harness.bank.bank_id, _refund("20.00", "REFUND-2"))
    third = _refund("0.01", "REFUND-3")
    with pytest.raises(BankRejectedError) as raised:
        harness.client.transfer(harness.bank.bank_id, third)
    assert raised.value.raw_code == "INVALID_REQUEST"
    record = harness.client.journal.get(third.idempotency_key)
    assert record is not None
    assert record.status is TransferStatus.REJECTED  # a verified refusal: nothing moved
    assert len(_refunds_at_bank(harness)) == 2


def test_a_refund_of_an_unknown_order_is_refused(harness: Harness) -> None:
    with pytest.raises(BankRejectedError) as raised:
        harness.client.transfer(
            harness.bank.bank_id, _refund(out_trade_no="TOPUP-9999", refund_id="R-9")
        )
    assert (raised.value.raw_code, raised.value.code) == (
        "RESOURCE_NOT_EXISTS",
        ReasonCode.ACCOUNT_UNKNOWN,
    )


def test_not_enough_is_a_rejected_refund(harness: Harness) -> None:
    merchant = harness.bank.ledger.account(MCHID)
    # Spend the merchant's balance on a payout bill first.
    harness.client.transfer(harness.bank.bank_id, harness.request("999.99"))
    assert harness.bank.available(MCHID) < merchant.available
    rejected = harness.client.transfer(harness.bank.bank_id, _refund())
    assert rejected.status is TransferStatus.REJECTED
    assert rejected.reason is not None
    assert (rejected.reason.code, rejected.reason.raw_code) == (
        ReasonCode.INSUFFICIENT_FUNDS,
        "NOT_ENOUGH",
    )
    assert _refunds_at_bank(harness) == []


def test_a_closed_payer_account_is_user_account_abnormal(harness: Harness) -> None:
    harness.bank.close_account(OPENID)
    rejected = harness.client.transfer(harness.bank.bank_id, _refund())
    assert rejected.status is TransferStatus.REJECTED
    assert rejected.reason is not None
    assert (rejected.reason.code, rejected.reason.raw_code) == (
        ReasonCode.ACCOUNT_BLOCKED,
        "USER_ACCOUNT_ABNORMAL",
    )


def test_an_abnormal_refund_stays_open_with_an_action(harness: Harness) -> None:
    """退款异常 is not final: it must not invite a second refund under a new key."""
    inbox: list[tuple[dict[str, str], bytes]] = []
    harness.bank.webhook_target = lambda headers, body: inbox.append((dict(headers), body))
    transfer = harness.client.transfer(harness.bank.bank_id, _refund())
    harness.bank.close_account(OPENID)  # the payer's account goes away while it runs
    harness.bank.advance(1)
    headers, body = next((h, b) for h, b in inbox if b"REFUND." in b)
    assert json.loads(body)["event_type"] == "REFUND.ABNORMAL"
    event = harness.client.handle_notification(harness.bank.bank_id, headers, body)
    assert event.status is TransferStatus.PROCESSING
    looked_up = harness.client.get_transfer(transfer.id)
    assert looked_up.status is TransferStatus.PROCESSING
    assert looked_up.reason is not None
    assert looked_up.reason.raw_code == "ABNORMAL"
    assert looked_up.next_action is not None
    assert looked_up.next_action.kind == "wechat_refund_abnormal"


def test_a_refund_cannot_be_cancelled(harness: Harness) -> None:
    transfer = harness.client.transfer(harness.bank.bank_id, _refund())
    with pytest.raises(UnsupportedOperationError):
        harness.client.cancel_transfer(transfer.id)


# -- unknown outcomes ---------------------------------------------------------------------------


def test_a_lost_reply_is_resolved_by_the_refund_query_and_sent_once(harness: Harness) -> None:
    _no_retries(harness)
    request = _refund()
    harness.bank.set_faults(
        FaultPlan.of(FaultKind.DROP_RESPONSE_AFTER_COMMIT, only_methods={"POST"})
    )
    with pytest.raises(UnknownOutcomeError):
        harness.client.transfer(harness.bank.bank_id, request)
    record = harness.client.journal.get(request.idempotency_key)
    assert record is not None
    assert record.status is TransferStatus.UNKNOWN
    harness.bank.set_faults(FaultPlan.none())
    resolved = harness.client.resolve_unknown(harness.bank.bank_id)
    assert [t.idempotency_key for t in resolved] == [request.idempotency_key]
    assert resolved[0].status is TransferStatus.PROCESSING
    queries = [r.path for r, _ in harness.sent if r.method == "GET"]
    assert f"{REFUNDS_PATH}/{request.idempotency_key}" in queries  # the same out_refund_no
    assert len(_posts(harness)) == 1  # found: never sent again
    assert len(_refunds_at_bank(harness)) == 1


def test_system_error_is_unknown_and_a_refund_absent_is_resent_with_the_same_bytes(
    harness: Harness,
) -> None:
    _no_retries(harness)
    bank, server, original = harness.bank, _server(harness), harness.bank.handle
    state = {"done": False}

    def handle(request: MockRequest) -> MockResponse:
        if not state["done"] and request.path == REFUNDS_PATH:
            state["done"] = True  # refused before executing: nothing was refunded
            return server._reply(500, {"code": "SYSTEM_ERROR", "message": "系统错误"})
        return original(request)

    bank.handle = handle  # type: ignore[method-assign]
    request = _refund()
    with pytest.raises(UnknownOutcomeError):
        harness.client.transfer(harness.bank.bank_id, request)
    resolved = harness.client.resolve_unknown(harness.bank.bank_id)
    assert [t.status for t in resolved] == [TransferStatus.PROCESSING]
    bodies = _posts(harness)
    assert len(bodies) == 2
    assert len(set(bodies)) == 1  # the resend after "absent" carried the very same refund
    assert len(_refunds_at_bank(harness)) == 1


def test_a_forged_refund_reply_leaves_the_refund_unknown(harness: Harness) -> None:
    bank, original = harness.bank, harness.bank.handle

    def handle(request: MockRequest) -> MockResponse:
        genuine = original(request)
        if request.path != REFUNDS_PATH:
            return genuine
        node = json.loads(genuine.body)
        node["status"] = "CLOSED"  # "nothing was refunded": a lie that would pay twice
        forged = json.dumps(node, separators=(",", ":")).encode()
        return MockResponse(status=200, headers=dict(genuine.headers), body=forged)

    bank.handle = handle  # type: ignore[method-assign]
    request = _refund()
    with pytest.raises(UnknownOutcomeError):
        harness.client.transfer(harness.bank.bank_id, request)
    record = harness.client.journal.get(request.idempotency_key)
    assert record is not None
    assert record.status is TransferStatus.UNKNOWN


def test_a_signed_reply_about_another_refund_leaves_it_unknown(harness: Harness) -> None:
    bank, server, original = harness.bank, _server(harness), harness.bank.handle

    def handle(request: MockRequest) -> MockResponse:
        genuine = original(request)
        if request.path != REFUNDS_PATH:
            return genuine
        node = json.loads(genuine.body)
        node["amount"]["refund"] = 1999
        return server._reply(200, node)

    bank.handle = handle  # type: ignore[method-assign]
    with pytest.raises(UnknownOutcomeError, match="amount"):
        harness.client.transfer(harness.bank.bank_id, _refund())


def test_a_forged_refund_notification_is_refused(harness: Harness) -> None:
    inbox: list[tuple[dict[str, str], bytes]] = []
    harness.bank.webhook_target = lambda headers, body: inbox.append((dict(headers), body))
    transfer = harness.client.transfer(harness.bank.bank_id, _refund())
    harness.bank.advance(61)
    headers, body = next((h, b) for h, b in inbox if b"REFUND." in b)
    forged = body.replace(b"REFUND.SUCCESS", b"REFUND.CLOSED")
    with pytest.raises(SignatureError):
        harness.client.handle_notification(harness.bank.bank_id, headers, forged)
    record = harness.client.journal.get(transfer.idempotency_key)
    assert record is not None
    assert record.status is TransferStatus.PROCESSING  # the forgery changed nothing


def test_a_refund_notification_contradicting_the_journal_is_refused(harness: Harness) -> None:
    from walletlink.protocols.wechatpay_v3._mock_payin import PayInDesk

    desk: PayInDesk = _server(harness).payin
    inbox: list[tuple[dict[str, str], bytes]] = []
    harness.bank.webhook_target = lambda headers, body: inbox.append((dict(headers), body))
    transfer = harness.client.transfer(harness.bank.bank_id, _refund())
    original = desk._refund_view

    def lying(refund: Any, view: Any = None) -> dict[str, Any]:
        node = original(refund, view)
        node["amount"] = {**node["amount"], "refund": 4999}  # signed by the platform itself
        return node

    desk._refund_view = lying  # type: ignore[method-assign]
    harness.bank.advance(61)
    headers, body = next((h, b) for h, b in inbox if b"REFUND." in b)
    with pytest.raises(ProtocolError, match="amount"):
        harness.client.handle_notification(harness.bank.bank_id, headers, body)
    record = harness.client.journal.get(transfer.idempotency_key)
    assert record is not None
    assert record.status is TransferStatus.UNKNOWN  # a person must look


def test_frequency_limited_is_retried_with_the_same_refund(harness: Harness) -> None:
    harness.bank.set_faults(FaultPlan.of(FaultKind.RATE_LIMIT, only_methods={"POST"}))
    original = harness.bank.decide
    state = {"calls": 0}

    def once(method: str) -> Any:
        state["calls"] += 1
        return original(method) if state["calls"] == 1 else _no_fault()

    harness.bank.decide = once  # type: ignore[method-assign]
    transfer = harness.client.transfer(harness.bank.bank_id, _refund())
    assert transfer.status is TransferStatus.PROCESSING
    bodies = _posts(harness)
    assert len(bodies) == 2  # 429 FREQUENCY_LIMITED, then the same bytes again
    assert len(set(bodies)) == 1
    assert len(_refunds_at_bank(harness)) == 1


def _no_fault() -> Any:
    from walletlink.testing.faults import FaultDecision

    return FaultDecision()


# -- the code tables -----------------------------------------------------------------------------


def test_refund_statuses_and_refusals_map_onto_walletlink() -> None:
    from walletlink.protocols.wechatpay_v3._codes import (
        ERROR_CODES,
        map_refund_status,
        refusal_reason,
    )

    assert map_refund_status("SUCCESS") is TransferStatus.SETTLED
    assert map_refund_status("PROCESSING") is TransferStatus.PROCESSING
    assert map_refund_status("ABNORMAL") is TransferStatus.PROCESSING  # not final
    assert map_refund_status("CLOSED") is TransferStatus.REJECTED
    assert map_refund_status("NEW_STATE") is TransferStatus.UNKNOWN
    assert refusal_reason("ORDERPAID") is ReasonCode.DUPLICATE
    assert refusal_reason("RESOURCE_NOT_EXISTS") is ReasonCode.ACCOUNT_UNKNOWN
    assert refusal_reason("USER_ACCOUNT_ABNORMAL") is ReasonCode.ACCOUNT_BLOCKED
    assert refusal_reason("NOT_ENOUGH") is ReasonCode.INSUFFICIENT_FUNDS
    assert refusal_reason("SOMETHING_ELSE") is ReasonCode.OTHER
    for code in ("ORDER_NOT_EXIST", "ORDERPAID", "ORDER_CLOSED", "NOT_ENOUGH",
                 "USER_ACCOUNT_ABNORMAL", "RESOURCE_NOT_EXISTS", "FREQUENCY_LIMITED",
                 "SYSTEM_ERROR", "PARAM_ERROR", "INVALID_REQUEST"):  # fmt: skip
        assert code in ERROR_CODES
