"""wechatpay_v3 top-ups (pay-in): Native and JSAPI orders, query, close, the JSAPI pay-sign
and the TRANSACTION.SUCCESS notification, through a real Client against the mock platform."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from walletlink.errors import (
    BankRejectedError,
    ConfigurationError,
    ProtocolError,
    SignatureError,
    ValidationError,
)
from walletlink.models import ReasonCode, TransferStatus
from walletlink.money import Money
from walletlink.protocols.wechatpay_v3._orders import order_body, parse_order
from walletlink.protocols.wechatpay_v3.mock import WeChatPayV3Server
from walletlink.protocols.wechatpay_v3.topup import OrderRequest, TradeState, WeChatPayTopUps
from walletlink.signing.webhooks import decrypt_wechatpay_resource
from walletlink.testing._http import MockRequest, MockResponse

from .conftest import OPENID, Harness, make_harness

APPID = "wxd678efh567hg6787"
MCHID = "1900009191"


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    harness = make_harness(tmp_path, payer_balance="100.00")
    yield harness
    harness.client.close()
    harness.bank.close()


def _server(harness: Harness) -> WeChatPayV3Server:
    assert isinstance(harness.bank.server, WeChatPayV3Server)
    return harness.bank.server


def _topups(harness: Harness) -> WeChatPayTopUps:
    return WeChatPayTopUps(harness.client, harness.bank.bank_id)


def _order(
    number: str = "TOPUP-0001", amount: str | Money = "50.00", **changes: object
) -> OrderRequest:
    fields: dict[str, object] = {
        "out_trade_no": number,
        "amount": amount if isinstance(amount, Money) else Money(amount, "CNY"),
        "description": "Wallet top-up",
        **changes,
    }
    return OrderRequest(**fields)  # type: ignore[arg-type]


def _sent_json(harness: Harness, path: str) -> list[dict[str, object]]:
    return [json.loads(r.body or b"{}") for r, _ in harness.sent if r.path == path]


# -- the request model ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"out_trade_no": "short"},  # fewer than 6
        {"out_trade_no": "x" * 33},
        {"out_trade_no": "TOPUP 0001"},  # a space is not in the charset
        {"amount": Money("1.00", "EUR")},
        {"amount": Money("0.00", "CNY")},
        {"description": ""},
        {"description": "x" * 128},
        {"payer_openid": "not an openid!"},
        {"time_expire": datetime(2026, 1, 1, 10, 0)},  # naive
    ],
)
def test_an_order_the_platform_cannot_carry_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _order(**changes)  # type: ignore[arg-type]


def test_the_charset_of_out_trade_no_allows_pipe_star_dash_underscore() -> None:
    assert _order("a_b-c|d*e").out_trade_no == "a_b-c|d*e"


def test_the_order_body_uses_the_documented_fields() -> None:
    expire = datetime(2026, 1, 5, 2, 30, tzinfo=UTC)
    body = json.loads(
        order_body(
            _order(payer_openid=OPENID, time_expire=expire, attach="wallet:42"),
            appid=APPID,
            mchid=MCHID,
            notify_url="https://wallet.example/notify",
            jsapi=True,
        )
    )
    assert body == {
        "appid": APPID,
        "mchid": MCHID,
        "description": "Wallet top-up",
        "out_trade_no": "TOPUP-0001",
        "time_expire": "2026-01-05T10:30:00+08:00",  # RFC 3339 in China time
        "attach": "wallet:42",
        "notify_url": "https://wallet.example/notify",
        "amount": {"total": 5000, "currency": "CNY"},
        "payer": {"openid": OPENID},
    }
    with pytest.raises(ValidationError):  # JSAPI without a payer
        order_body(_order(), appid=APPID, mchid=MCHID, notify_url="https://x", jsapi=True)


def test_trade_states_map_onto_statuses() -> None:
    assert TradeState.of("SUCCESS").status is TransferStatus.SETTLED
    assert TradeState.of("REFUND").paid
    assert TradeState.of("NOTPAY").status is TransferStatus.PENDING
    assert TradeState.of("USERPAYING").status is TransferStatus.REQUIRES_ACTION
    assert TradeState.of("CLOSED").status is TransferStatus.CANCELLED
    assert TradeState.of("REVOKED").status is TransferStatus.CANCELLED
    assert TradeState.of("PAYERROR").status is TransferStatus.REJECTED
    assert TradeState.of("SOMETHING_NEW") is TradeState.UNKNOWN
    assert TradeState.UNKNOWN.status is TransferStatus.UNKNOWN
    assert not TradeState.of("NOTPAY").paid


# -- Native and JSAPI orders through a real client ----------------------------------------------


def test_a_native_top_up_is_ordered_paid_and_queried(harness: Harness) -> None:
    topups = _topups(harness)
    created = topups.native(_order())
    assert created.code_url.startswith("weixin://wxpay/bizpayurl?pr=")
    assert _sent_json(harness, "/v3/pay/transactions/native")[0]["amount"] == {
        "total": 5000,
        "currency": "CNY",
    }
    before = topups.query("TOPUP-0001")
    assert (before.state, before.paid, before.transaction_id) == (TradeState.NOTPAY, False, None)
    _server(harness).pay_order("TOPUP-0001", OPENID)
    after = topups.query("TOPUP-0001", expected=Money("50.00", "CNY"))
    assert (after.state, after.paid, after.payer_openid) == (TradeState.SUCCESS, True, OPENID)
    assert after.transaction_id is not None
    assert after.trade_type == "NATIVE"
    assert after.amount == after.payer_total == Money("50.00", "CNY")
    query = [r for r, _ in harness.sent if r.path.startswith("/v3/pay/transactions/out")]
    assert query[-1].path == "/v3/pay/transactions/out-trade-no/TOPUP-0001"
    assert query[-1].params == (("mchid", MCHID),)


def test_ordering_again_is_the_same_order_and_other_parameters_are_refused(
    harness: Harness,
) -> None:
    topups = _topups(harness)
    first = topups.native(_order())
    assert topups.native(_order()).code_url == first.code_url
    with pytest.raises(BankRejectedError) as raised:
        topups.native(_order(amount="51.00"))
    assert raised.value.raw_code == "INVALID_REQUEST"
    _server(harness).pay_order("TOPUP-0001", OPENID)
    with pytest.raises(BankRejectedError) as paid:
        topups.native(_order())
    assert (paid.value.raw_code, paid.value.code) == ("ORDERPAID", ReasonCode.DUPLICATE)


def test_a_jsapi_top_up_carries_the_payer_and_a_verifiable_pay_sign(harness: Harness) -> None:
    created = _topups(harness).jsapi(_order(payer_openid=OPENID))
    assert _sent_json(harness, "/v3/pay/transactions/jsapi")[0]["payer"] == {"openid": OPENID}
    params = created.pay_params
    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["appId"] == APPID
    assert params["package"] == f"prepay_id={created.prepay_id}"
    assert params["signType"] == "RSA"
    assert params["timeStamp"] == str(int(harness.clock.now().timestamp()))
    assert len(params["nonceStr"]) == 32
    # Verified independently: the four lines of the WeChat spec, each ending in "\n",
    # SHA256withRSA under the merchant's public key, with nothing from walletlink.
    message = "\n".join(params[k] for k in ("appId", "timeStamp", "nonceStr", "package")) + "\n"
    public = _server(harness).merchant_key.public_key()
    signature = base64.b64decode(params["paySign"])
    public.verify(signature, message.encode(), padding.PKCS1v15(), hashes.SHA256())
    tampered = message.replace(created.prepay_id, created.prepay_id + "0")
    with pytest.raises(InvalidSignature):  # the signature covers the package
        public.verify(signature, tampered.encode(), padding.PKCS1v15(), hashes.SHA256())
    _server(harness).pay_order("TOPUP-0001")  # the JSAPI order's own payer pays
    paid = _topups(harness).query("TOPUP-0001")
    assert (paid.state, paid.trade_type, paid.payer_openid) == (TradeState.SUCCESS, "JSAPI", OPENID)


def test_a_short_balance_is_a_payment_error(harness: Harness) -> None:
    _topups(harness).native(_order(amount="100.01"))
    _server(harness).pay_order("TOPUP-0001", OPENID)
    assert _topups(harness).query("TOPUP-0001").state is TradeState.PAYERROR


def test_close_an_unpaid_order_and_not_a_paid_one(harness: Harness) -> None:
    topups = _topups(harness)
    topups.native(_order("TOPUP-0001"))
    topups.close("TOPUP-0001")
    assert harness.replies[-1].status == 204
    assert _sent_json(harness, "/v3/pay/transactions/out-trade-no/TOPUP-0001/close") == [
        {"mchid": MCHID}
    ]
    assert topups.query("TOPUP-0001").state is TradeState.CLOSED
    with pytest.raises(BankRejectedError) as closed:
        topups.native(_order("TOPUP-0001"))
    assert closed.value.raw_code == "ORDER_CLOSED"
    topups.native(_order("TOPUP-0002"))
    _server(harness).pay_order("TOPUP-0002", OPENID)
    with pytest.raises(BankRejectedError) as paid:
        topups.close("TOPUP-0002")
    assert paid.value.raw_code == "ORDERPAID"


def test_an_unknown_order_is_order_not_exist(harness: Harness) -> None:
    with pytest.raises(BankRejectedError) as raised:
        _topups(harness).query("TOPUP-9999")
    assert (raised.value.raw_code, raised.value.code) == (
        "ORDER_NOT_EXIST",
        ReasonCode.ACCOUNT_UNKNOWN,
    )


def test_orders_need_a_notify_url(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, config_notify_url=None)
    with pytest.raises(ConfigurationError):
        _topups(harness).native(_order())
    assert harness.sent == []


def test_the_helper_refuses_another_protocol(harness: Harness) -> None:
    from walletlink.client import Client
    from walletlink.testing.mockbank import MockBank

    other = MockBank("generic_rest", bank_id="other")
    with Client([other.config()]) as client, pytest.raises(ConfigurationError):
        WeChatPayTopUps(client, "other")


# -- forged replies --------------------------------------------------------------------------------


def _forge(harness: Harness, path_part: str, payload: dict[str, object]) -> None:
    """Replies to ``path_part`` become ``payload``, validly signed by nobody we trust."""
    bank, original = harness.bank, harness.bank.handle

    def handle(request: MockRequest) -> MockResponse:
        genuine = original(request)
        if path_part not in request.path:
            return genuine
        forged = json.dumps(payload, separators=(",", ":")).encode()
        return MockResponse(status=200, headers=dict(genuine.headers), body=forged)

    bank.handle = handle  # type: ignore[method-assign]


def test_a_forged_query_reply_is_refused(harness: Harness) -> None:
    topups = _topups(harness)
    topups.native(_order())
    genuine = topups.query("TOPUP-0001")
    _forge(
        harness,
        "/out-trade-no/",
        {"mchid": MCHID, "appid": APPID, "out_trade_no": "TOPUP-0001", "trade_state": "SUCCESS",
         "amount": {"total": 5000, "currency": "CNY"}},
    )  # fmt: skip
    with pytest.raises(SignatureError):
        topups.query("TOPUP-0001")
    assert genuine.state is TradeState.NOTPAY


def test_a_query_about_another_order_or_amount_is_refused(harness: Harness) -> None:
    topups = _topups(harness)
    topups.native(_order("TOPUP-0001"))
    with pytest.raises(ProtocolError):
        topups.query("TOPUP-0001", expected=Money("49.99", "CNY"))
    _forge_signed(harness, "/out-trade-no/", out_trade_no="TOPUP-0002")
    with pytest.raises(ProtocolError):
        topups.query("TOPUP-0001")


def test_an_order_of_another_merchant_is_refused() -> None:
    with pytest.raises(ProtocolError):
        parse_order(
            {"mchid": "1900000001", "out_trade_no": "TOPUP-0001", "amount": {"total": 1}},
            mchid=MCHID,
            appid=APPID,
        )


def _forge_signed(harness: Harness, path_part: str, **changes: object) -> None:
    """Replies to ``path_part`` are changed by ``changes`` and signed by the platform: the
    platform itself answering about something else."""
    bank, server, original = harness.bank, _server(harness), harness.bank.handle

    def handle(request: MockRequest) -> MockResponse:
        genuine = original(request)
        if path_part not in request.path:
            return genuine
        return server._reply(genuine.status, {**json.loads(genuine.body), **changes})

    bank.handle = handle  # type: ignore[method-assign]


# -- the payment notification ---------------------------------------------------------------------


def _paid_notification(harness: Harness) -> tuple[dict[str, str], bytes]:
    inbox: list[tuple[dict[str, str], bytes]] = []
    harness.bank.webhook_target = lambda headers, body: inbox.append((dict(headers), body))
    _topups(harness).native(_order())
    _server(harness).pay_order("TOPUP-0001", OPENID)
    harness.bank.deliver_webhooks()
    assert len(inbox) == 1
    return inbox[0]


def test_the_payment_notification_is_verified_decrypted_and_acked(harness: Harness) -> None:
    headers, body = _paid_notification(harness)
    envelope = json.loads(body)
    assert envelope["event_type"] == "TRANSACTION.SUCCESS"
    assert envelope["resource"]["algorithm"] == "AEAD_AES_256_GCM"
    assert envelope["resource"]["associated_data"] == "transaction"
    event = harness.client.handle_notification(harness.bank.bank_id, headers, body)
    order = event.data["order"]
    assert (event.type, order.state, order.out_trade_no) == (
        "TRANSACTION.SUCCESS",
        TradeState.SUCCESS,
        "TOPUP-0001",
    )
    assert order.amount == Money("50.00", "CNY")
    assert event.bank_transfer_id == order.transaction_id
    assert event.status is None  # no journalled transfer is touched by money coming in
    status, _, ack = harness.client.notification_ack(harness.bank.bank_id, event)
    assert (status, json.loads(ack)["code"]) == (200, "SUCCESS")
    again = harness.client.handle_notification(harness.bank.bank_id, headers, body)
    assert again.duplicate
    # Later ledger moves of the same pay-in do not notify again.
    harness.bank.advance(61)
    assert len(harness.bank.webhooks) == 1


def test_a_forged_payment_notification_is_refused(harness: Harness) -> None:
    headers, body = _paid_notification(harness)
    envelope = json.loads(body)
    server = _server(harness)
    plain = json.loads(decrypt_wechatpay_resource(envelope["resource"], server.api_v3_key.encode()))
    plain["amount"]["total"] = 500000  # a bigger top-up, re-encrypted with the real key...
    from walletlink.signing.webhooks import encrypt_wechatpay_resource

    envelope["resource"] = {
        "original_type": "transaction",
        **encrypt_wechatpay_resource(
            json.dumps(plain).encode(),
            server.api_v3_key,
            nonce="abcdefabcdef",
            associated_data="transaction",
        ),
    }
    forged = json.dumps(envelope, separators=(",", ":")).encode()
    with pytest.raises(SignatureError):  # ...but the platform's signature does not cover it
        harness.client.handle_notification(harness.bank.bank_id, headers, forged)
    status, _, answer = _topups(harness).adapter.notification_nack(SignatureError("forged"))
    assert (status, json.loads(answer)["code"]) == (401, "FAIL")


def test_an_expired_order_cannot_be_paid(harness: Harness) -> None:
    expire = harness.clock.now() + timedelta(minutes=15)
    _topups(harness).native(_order(time_expire=expire))
    harness.clock.advance(16 * 60)
    with pytest.raises(ValueError, match="expired"):
        _server(harness).pay_order("TOPUP-0001", OPENID)
