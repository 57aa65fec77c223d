"""The cn_openapi mock gateway, spoken to directly with params.alipay_request_params: it checks
requests as the gateway does, signs its answers, deduplicates out_biz_no and sends signed
form-encoded messages."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from walletlink.accounts import LocalAccount
from walletlink.money import Money
from walletlink.protocols.cn_openapi.mock import CnOpenApiServer
from walletlink.signing.params import (
    alipay_cert_sn,
    alipay_request_params,
    alipay_root_cert_sn,
    decrypt_content,
    verify_notification_form,
    verify_sync_response,
)
from walletlink.testing._http import MockRequest
from walletlink.testing.clock import FakeClock
from walletlink.testing.faults import FaultKind
from walletlink.testing.mockbank import MockBank

PAYER = "2088101117955611"
PAYEE = "2088102177958114"
TRANSFER = "alipay.fund.trans.uni.transfer"
QUERY = "alipay.fund.trans.common.query"
USER_ID = "ALIPAY_USER_ID"
AES_KEY = base64.b64encode(b"0123456789abcdef").decode()


@pytest.fixture
def bank() -> Iterator[MockBank]:
    bank = MockBank("cn_openapi", clock=FakeClock(), aes_key=AES_KEY)
    bank.open_account(LocalAccount(PAYER), Money("100.00", "CNY"))
    bank.open_account(LocalAccount(PAYEE), Money("0.00", "CNY"), name="Li Lei")
    yield bank
    bank.close()


def _server(bank: MockBank) -> CnOpenApiServer:
    assert isinstance(bank.server, CnOpenApiServer)
    return bank.server


def _biz(out_biz_no: str = "ob_1", amount: str = "10.00") -> dict[str, Any]:
    return {
        "out_biz_no": out_biz_no,
        "trans_amount": amount,
        "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER",
        "order_title": "test",
        "payee_info": {"identity": PAYEE, "identity_type": "ALIPAY_USER_ID", "name": "Li Lei"},
        "payer_info": {"identity": PAYER, "identity_type": "ALIPAY_USER_ID"},
    }


def _params(bank: MockBank, method: str, biz: dict[str, Any], **options: Any) -> dict[str, str]:
    fields: dict[str, Any] = {
        "app_id": _server(bank).app_id,
        "method": method,
        "biz_content": biz,
        "now": bank.clock.now(),
        "key": _server(bank)._app_private,
    }
    fields.update(options)
    return alipay_request_params(**fields)


def _send(bank: MockBank, params: dict[str, str], *, query: str = "") -> tuple[bytes, Any]:
    url = f"{bank.base_url}/gateway.do" + (f"?{query}" if query else "")
    headers = {"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"}
    response = bank.handle(
        MockRequest.build("POST", url, headers=headers, body=urlencode(params).encode())
    )
    assert response.status == 200
    return response.body, json.loads(response.body)


def _node(bank: MockBank, body: bytes, method: str) -> dict[str, Any]:
    verified = verify_sync_response(body, method, _server(bank).gateway_key.public_key())
    assert verified.signed
    content = verified.content
    return json.loads(decrypt_content(content, AES_KEY)) if isinstance(content, str) else content


def test_a_signed_request_gets_a_signed_answer(bank: MockBank) -> None:
    body, _ = _send(bank, _params(bank, TRANSFER, _biz()))
    node = _node(bank, body, TRANSFER)
    assert (node["code"], node["out_biz_no"], node["status"]) == ("10000", "ob_1", "DEALING")
    assert bank.available(LocalAccount(PAYER)) == Money("90.00", "CNY")


@pytest.mark.parametrize(
    ("change", "code", "sub_code"),
    [
        ({"sign": None}, "40001", "isv.missing-signature"),
        ({"timestamp": None}, "40001", "isv.missing-timestamp"),
        ({"sign": base64.b64encode(bytes(256)).decode()}, "40002", "isv.invalid-signature"),
        ({"biz_content": json.dumps(_biz(amount="99.00"))}, "40002", "isv.invalid-signature"),
        ({"sign_type": "RSA"}, "40002", "isv.invalid-signature-type"),
        ({"charset": "gbk"}, "40002", "isv.invalid-charset"),
    ],
    ids=["no-sign", "no-timestamp", "bad-sign", "tampered", "legacy-rsa", "charset"],
)
def test_the_gateways_own_refusals(
    bank: MockBank, change: dict[str, str | None], code: str, sub_code: str
) -> None:
    params = _params(bank, TRANSFER, _biz())
    for name, value in change.items():
        if value is None:
            del params[name]
        else:
            params[name] = value
    body, _ = _send(bank, params)
    node = _node(bank, body, TRANSFER)
    assert (node["code"], node["sub_code"]) == (code, sub_code)
    assert bank.transfers() == []


@pytest.mark.parametrize("skew", [timedelta(minutes=31), -timedelta(minutes=31)])
def test_a_timestamp_outside_the_window_is_refused(bank: MockBank, skew: timedelta) -> None:
    body, _ = _send(bank, _params(bank, TRANSFER, _biz(), now=bank.clock.now() + skew))
    assert _node(bank, body, TRANSFER)["sub_code"] == "isv.invalid-timestamp"


def test_within_the_window_is_accepted(bank: MockBank) -> None:
    late = bank.clock.now() - timedelta(minutes=29)
    body, _ = _send(bank, _params(bank, TRANSFER, _biz(), now=late))
    assert _node(bank, body, TRANSFER)["code"] == "10000"


def test_an_unknown_app_gets_an_unsigned_error_response(bank: MockBank) -> None:
    params = _params(bank, TRANSFER, _biz(), app_id="2021999999999999")
    _, parsed = _send(bank, params)
    assert parsed == {
        "error_response": {
            "code": "40002",
            "msg": "Invalid Arguments",
            "sub_code": "isv.invalid-app-id",
            "sub_msg": "no such app",
        }
    }


def test_an_unknown_method_is_refused(bank: MockBank) -> None:
    body, _ = _send(bank, _params(bank, "alipay.trade.pay", {}))
    node = _node(bank, body, "alipay.trade.pay")
    assert (node["code"], node["sub_code"]) == ("40002", "isv.invalid-method")


def test_public_parameters_may_travel_in_the_query_string(bank: MockBank) -> None:
    params = _params(bank, TRANSFER, _biz())
    biz_content = {"biz_content": params.pop("biz_content")}
    body, _ = _send(bank, biz_content, query=urlencode(params))
    assert _node(bank, body, TRANSFER)["code"] == "10000"


def test_out_biz_no_is_deduplicated_per_app(bank: MockBank) -> None:
    first = _node(bank, _send(bank, _params(bank, TRANSFER, _biz()))[0], TRANSFER)
    bank.clock.advance(5)
    again = _node(bank, _send(bank, _params(bank, TRANSFER, _biz()))[0], TRANSFER)
    assert again["order_id"] == first["order_id"]
    other = _node(bank, _send(bank, _params(bank, TRANSFER, _biz(amount="20.00")))[0], TRANSFER)
    assert (other["code"], other["sub_code"]) == ("40004", "ACQ.CONTEXT_INCONSISTENT")
    assert len(bank.transfers()) == 1
    assert bank.stats["replays"] == 1


def test_insufficient_balance_is_a_business_failure_then_a_failed_order(bank: MockBank) -> None:
    node = _node(bank, _send(bank, _params(bank, TRANSFER, _biz(amount="500.00")))[0], TRANSFER)
    assert (node["code"], node["sub_code"]) == ("40004", "PAYER_BALANCE_NOT_ENOUGH")
    query = {
        "out_biz_no": "ob_1",
        "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER",
    }
    order = _node(bank, _send(bank, _params(bank, QUERY, query))[0], QUERY)
    assert (order["status"], order["error_code"]) == ("FAIL", "PAYER_BALANCE_NOT_ENOUGH")


def test_query_settles_on_the_clock_and_unknown_orders_are_absent(bank: MockBank) -> None:
    _send(bank, _params(bank, TRANSFER, _biz()))
    query = {
        "out_biz_no": "ob_1",
        "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER",
    }
    bank.advance(61)
    order = _node(bank, _send(bank, _params(bank, QUERY, query))[0], QUERY)
    assert (order["status"], order["trans_amount"], order["pay_date"]) == (
        "SUCCESS",
        "10.00",
        "2026-01-05 17:01:00",  # settled 60 s after 17:00 China time
    )
    missing = _node(
        bank, _send(bank, _params(bank, QUERY, {**query, "out_biz_no": "nope"}))[0], QUERY
    )
    assert (missing["code"], missing["sub_code"]) == ("40004", "ORDER_NOT_EXIST")


@pytest.mark.parametrize(
    ("change", "sub_code"),
    [
        ({"trans_amount": "0.05"}, "EXCEED_LIMIT_SM_MIN_AMOUNT"),
        ({"trans_amount": "1.005"}, "INVALID_PARAMETER"),
        (
            {"payee_info": {"identity": "2088000000000000", "identity_type": "ALIPAY_USER_ID"}},
            "PAYEE_NOT_EXIST",
        ),
        (
            {
                "payee_info": {
                    "identity": PAYEE,
                    "identity_type": "ALIPAY_USER_ID",
                    "name": "Han Meimei",
                }
            },
            "PAYEE_USERINFO_ERROR",
        ),
        (
            {"payee_info": {"identity": PAYER, "identity_type": "ALIPAY_USER_ID"}},
            "PAYER_PAYEE_CANNOT_SAME",
        ),
    ],
    ids=["below-minimum", "three-decimals", "no-payee", "wrong-name", "self"],
)
def test_business_checks(bank: MockBank, change: dict[str, Any], sub_code: str) -> None:
    node = _node(bank, _send(bank, _params(bank, TRANSFER, {**_biz(), **change}))[0], TRANSFER)
    assert (node["code"], node["sub_code"]) == ("40004", sub_code)
    assert bank.transfers() == []
    # Nothing executed, so the out_biz_no is free for the corrected request.
    retry = _node(bank, _send(bank, _params(bank, TRANSFER, _biz()))[0], TRANSFER)
    assert retry["code"] == "10000"


def test_aes_requests_get_encrypted_signed_answers(bank: MockBank) -> None:
    body, parsed = _send(bank, _params(bank, TRANSFER, _biz(), encrypt_key=AES_KEY))
    assert isinstance(parsed["alipay_fund_trans_uni_transfer_response"], str)
    assert _node(bank, body, TRANSFER)["status"] == "DEALING"


def test_a_wrong_aes_key_is_a_decryption_error(bank: MockBank) -> None:
    wrong = base64.b64encode(b"fedcba9876543210").decode()
    body, _ = _send(bank, _params(bank, TRANSFER, _biz(), encrypt_key=wrong))
    assert _node(bank, body, TRANSFER)["sub_code"] == "isv.decryption-error"


def test_status_changes_send_signed_form_messages(bank: MockBank) -> None:
    inbox: list[tuple[dict[str, str], bytes]] = []
    bank.webhook_target = lambda headers, body: inbox.append((dict(headers), body))
    _send(bank, _params(bank, TRANSFER, _biz()))
    bank.advance(61)
    ((headers, body),) = inbox
    assert headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    params = verify_notification_form(body, _server(bank).gateway_key.public_key())
    biz = json.loads(params["biz_content"])
    assert (params["msg_method"], biz["out_biz_no"], biz["status"]) == (
        "alipay.fund.trans.order.changed",
        "ob_1",
        "SUCCESS",
    )
    assert _server(bank).webhooks_for(bank.transfers()[0])[0].body == body  # re-sent alike


@pytest.mark.parametrize(
    ("kind", "status"),
    [(FaultKind.RATE_LIMIT, 429), (FaultKind.SERVER_ERROR, 500), (FaultKind.UNAVAILABLE, 503)],
)
def test_injected_faults_are_front_end_statuses(
    bank: MockBank, kind: FaultKind, status: int
) -> None:
    assert bank.fault_response(kind).status == status


def test_other_paths_are_not_the_gateway(bank: MockBank) -> None:
    response = bank.handle(MockRequest.build("POST", f"{bank.base_url}/other", body=b""))
    assert response.status == 404


# -- certificate mode and ISV tokens ------------------------------------------------------------


@pytest.fixture
def cert_bank() -> Iterator[MockBank]:
    bank = MockBank("cn_openapi", clock=FakeClock(), cert_mode=True, app_auth_tokens={"t1": "m1"})
    bank.open_account(LocalAccount(PAYER), Money("100.00", "CNY"))
    bank.open_account(LocalAccount(PAYEE), Money("0.00", "CNY"), name="Li Lei")
    yield bank
    bank.close()


def _cert_sns(bank: MockBank) -> dict[str, str]:
    server = _server(bank)
    root = server.client_config_fields()["credentials"]["alipay_root_cert"]
    return {
        "app_cert_sn": alipay_cert_sn(server.app_cert),
        "alipay_root_cert_sn": alipay_root_cert_sn(root),
    }


@pytest.mark.parametrize(
    ("change", "sub_code"),
    [
        ({"app_cert_sn": None}, "isv.invalid-app-cert-sn"),
        ({"app_cert_sn": "0" * 32}, "isv.invalid-app-cert-sn"),
        ({"alipay_root_cert_sn": "0" * 32}, "isv.invalid-alipay-root-cert-sn"),
        ({"alipay_root_cert_sn": None}, "isv.invalid-alipay-root-cert-sn"),
    ],
)
def test_certificate_mode_checks_both_sns(
    cert_bank: MockBank, change: dict[str, str | None], sub_code: str
) -> None:
    sns = {k: v for k, v in {**_cert_sns(cert_bank), **change}.items() if v is not None}
    body, _ = _send(cert_bank, _params(cert_bank, TRANSFER, _biz(), extra=sns))
    node = verify_sync_response(body, TRANSFER, _server(cert_bank).gateway_key.public_key())
    assert ("40002", sub_code) == (node.content["code"], node.content["sub_code"])


def test_certificate_mode_names_the_signing_certificate_and_rotates(cert_bank: MockBank) -> None:
    server = _server(cert_bank)
    first = alipay_cert_sn(server.gateway_cert)
    old_key = server.gateway_key.public_key()
    body, _ = _send(cert_bank, _params(cert_bank, TRANSFER, _biz(), extra=_cert_sns(cert_bank)))
    assert first == verify_sync_response(body, TRANSFER, {first: old_key}).cert_sn
    new = server.rotate_gateway_cert(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    body, _ = _send(cert_bank, _params(cert_bank, QUERY, _query_biz(), extra=_cert_sns(cert_bank)))
    keys = {first: old_key, alipay_cert_sn(new): server.gateway_key.public_key()}
    verified = verify_sync_response(body, QUERY, keys)
    assert (alipay_cert_sn(new), "10000") == (verified.cert_sn, verified.content["code"])


def _query_biz() -> dict[str, str]:
    return {
        "out_biz_no": "ob_1",
        "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER",
    }


def test_app_auth_tokens_scope_orders_to_their_merchant(cert_bank: MockBank) -> None:
    sns = _cert_sns(cert_bank)
    key = _server(cert_bank).gateway_key.public_key()
    body, _ = _send(
        cert_bank, _params(cert_bank, TRANSFER, _biz(), extra={**sns, "app_auth_token": "t1"})
    )
    assert verify_sync_response(body, TRANSFER, key).content["code"] == "10000"
    codes = []
    for extra in ({"app_auth_token": "t1"}, {}, {"app_auth_token": "t2"}):
        body, _ = _send(cert_bank, _params(cert_bank, QUERY, _query_biz(), extra={**sns, **extra}))
        node = verify_sync_response(body, QUERY, key).content
        codes.append((node["code"], node.get("sub_code")))
    expected = [
        ("10000", None),
        ("40004", "ORDER_NOT_EXIST"),
        ("20001", "aop.invalid-app-auth-token"),
    ]
    assert expected == codes
