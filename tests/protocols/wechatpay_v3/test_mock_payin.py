"""The mock platform's orders and refunds, spoken to directly: every request is
authenticated as the platform does, orders and refunds follow the platform's rules, and
every answer is signed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from walletlink.accounts import LocalAccount
from walletlink.money import Money
from walletlink.protocols.wechatpay_v3.mock import DEFAULT_MCHID, WeChatPayV3Server
from walletlink.testing._http import MockRequest
from walletlink.testing.clock import FakeClock
from walletlink.testing.mockbank import MockBank

from .test_mock import _code, _send, _verify

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
APPID = "wxd678efh567hg6787"
NATIVE = "/v3/pay/transactions/native"
REFUNDS = "/v3/refund/domestic/refunds"


@pytest.fixture
def bank() -> Iterator[MockBank]:
    bank = MockBank("wechatpay_v3", clock=FakeClock())
    bank.open_account(LocalAccount(DEFAULT_MCHID), Money("100.00", "CNY"))
    bank.open_account(LocalAccount(OPENID), Money("80.00", "CNY"))
    yield bank
    bank.close()


def _server(bank: MockBank) -> WeChatPayV3Server:
    assert isinstance(bank.server, WeChatPayV3Server)
    return bank.server


def _order(number: str = "TOPUP-0001", total: int = 5000) -> dict[str, Any]:
    return {
        "appid": APPID,
        "mchid": DEFAULT_MCHID,
        "description": "top-up",
        "out_trade_no": number,
        "notify_url": "https://wallet.example/notify",
        "amount": {"total": total, "currency": "CNY"},
    }


def _refund(number: str = "REFUND-1", refund: int = 2000, total: int = 5000) -> dict[str, Any]:
    return {
        "out_trade_no": "TOPUP-0001",
        "out_refund_no": number,
        "amount": {"refund": refund, "total": total, "currency": "CNY"},
    }


def _paid(bank: MockBank) -> None:
    assert _send(bank, "POST", NATIVE, _order()).status == 200
    _server(bank).pay_order("TOPUP-0001", OPENID)


def test_an_unsigned_order_is_refused_and_not_created(bank: MockBank) -> None:
    body = json.dumps(_order()).encode()
    response = bank.handle(MockRequest.build("POST", bank.base_url + NATIVE, body=body))
    assert _code(response) == (401, "SIGN_ERROR")
    assert "Wechatpay-Signature" not in response.headers
    query = "/v3/pay/transactions/out-trade-no/TOPUP-0001?mchid=" + DEFAULT_MCHID
    assert _code(_send(bank, "GET", query)) == (404, "ORDER_NOT_EXIST")


def test_an_order_query_is_signed_over_its_query_string(bank: MockBank) -> None:
    _send(bank, "POST", NATIVE, _order())
    response = _send(bank, "GET", "/v3/pay/transactions/out-trade-no/TOPUP-0001?mchid=1")
    assert _code(response) == (400, "PARAM_ERROR")  # another merchant's id
    good = _send(bank, "GET", f"/v3/pay/transactions/out-trade-no/TOPUP-0001?mchid={DEFAULT_MCHID}")
    assert json.loads(good.body)["trade_state"] == "NOTPAY"
    _verify(bank, good)


def test_orders_are_checked_as_the_platform_does(bank: MockBank) -> None:
    bad = [
        {**_order(), "appid": "wx0000000000000000"},
        {**_order(), "out_trade_no": "abc"},
        {**_order(), "notify_url": "http://wallet.example/notify"},
        {**_order(), "amount": {"total": 0, "currency": "CNY"}},
        {**_order(), "amount": {"total": 100, "currency": "USD"}},
        {**_order(), "time_expire": "tomorrow"},
    ]
    for order in bad:
        assert _code(_send(bank, "POST", NATIVE, order)) == (400, "PARAM_ERROR")
    jsapi = _send(bank, "POST", "/v3/pay/transactions/jsapi", _order())  # no payer
    assert _code(jsapi) == (400, "PARAM_ERROR")


def test_a_replayed_nonce_on_a_refund_is_refused(bank: MockBank) -> None:
    _paid(bank)
    nonce = "593BEC0C930BF1AFEB40B4A08C8FB243"
    assert _send(bank, "POST", REFUNDS, _refund(), nonce=nonce).status == 200
    assert _code(_send(bank, "POST", REFUNDS, _refund(), nonce=nonce)) == (401, "SIGN_ERROR")


def test_a_refund_number_is_kept_for_ever_and_checked(bank: MockBank) -> None:
    _paid(bank)
    first = _send(bank, "POST", REFUNDS, _refund())
    _verify(bank, first)
    again = _send(bank, "POST", REFUNDS, _refund())
    assert json.loads(first.body) == json.loads(again.body)
    assert _code(_send(bank, "POST", REFUNDS, _refund(refund=2001))) == (400, "INVALID_REQUEST")
    bank.clock.advance(3 * 86400)  # unlike the 24h idempotency window of other banks
    assert (
        json.loads(_send(bank, "POST", REFUNDS, _refund()).body)["refund_id"]
        == json.loads(first.body)["refund_id"]
    )
    assert len([t for t in bank.transfers() if "out_refund_no" in t.instruction.metadata]) == 1


def test_refunds_are_checked_against_the_order(bank: MockBank) -> None:
    assert _code(_send(bank, "POST", REFUNDS, _refund())) == (404, "RESOURCE_NOT_EXISTS")
    assert _send(bank, "POST", NATIVE, _order()).status == 200
    assert _code(_send(bank, "POST", REFUNDS, _refund())) == (400, "INVALID_REQUEST")  # unpaid
    _server(bank).pay_order("TOPUP-0001", OPENID)
    assert _code(_send(bank, "POST", REFUNDS, _refund(total=4999))) == (400, "PARAM_ERROR")
    assert _code(_send(bank, "POST", REFUNDS, _refund(refund=5001))) == (400, "INVALID_REQUEST")
    bad_number = _refund(number="refund#1")
    assert _code(_send(bank, "POST", REFUNDS, bad_number)) == (400, "PARAM_ERROR")
    assert _send(bank, "POST", REFUNDS, _refund(refund=5000)).status == 200
    missing = _send(bank, "GET", f"{REFUNDS}/NO-SUCH-REFUND")
    assert _code(missing) == (404, "RESOURCE_NOT_EXISTS")
    _verify(bank, missing)


def test_a_close_is_a_signed_204(bank: MockBank) -> None:
    _send(bank, "POST", NATIVE, _order())
    path = "/v3/pay/transactions/out-trade-no/TOPUP-0001/close"
    response = _send(bank, "POST", path, {"mchid": DEFAULT_MCHID})
    assert (response.status, response.body) == (204, b"")
    _verify(bank, response)
    assert _code(_send(bank, "POST", NATIVE, _order())) == (400, "ORDER_CLOSED")


def test_paying_moves_the_money_and_refunding_moves_it_back(bank: MockBank) -> None:
    _paid(bank)
    bank.advance(61)
    assert bank.balance(OPENID) == Money("30.00", "CNY")
    assert bank.balance(DEFAULT_MCHID) == Money("150.00", "CNY")
    _send(bank, "POST", REFUNDS, _refund())
    bank.advance(61)
    assert bank.balance(OPENID) == Money("50.00", "CNY")
    assert bank.balance(DEFAULT_MCHID) == Money("130.00", "CNY")
    refund = json.loads(_send(bank, "GET", f"{REFUNDS}/REFUND-1").body)
    assert refund["status"] == "SUCCESS"
    assert "success_time" in refund


def test_the_hook_refuses_what_cannot_be_paid(bank: MockBank) -> None:
    with pytest.raises(ValueError, match="not waiting"):
        _server(bank).pay_order("TOPUP-0001", OPENID)
    _send(bank, "POST", NATIVE, _order())
    with pytest.raises(ValueError, match="account"):
        _server(bank).pay_order("TOPUP-0001", "someone-unknown")
