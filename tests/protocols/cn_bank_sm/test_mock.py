"""The cn_bank_sm mock gateway, spoken to directly with the envelope code: it verifies SM2
and decrypts SM4 as the bank does, refuses a bad signature, a stale timestamp, a replayed
nonce and a wrong app id, deduplicates outBizNo and signs every answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from walletlink.accounts import LocalAccount
from walletlink.money import Money
from walletlink.protocols.cn_bank_sm._wire import (
    decrypt_biz,
    encrypt_biz,
    format_time,
    new_nonce,
    open_envelope,
    seal,
)
from walletlink.protocols.cn_bank_sm.mock import CnBankSmServer
from walletlink.signing.sm import Sm2PrivateKey
from walletlink.testing._http import MockRequest
from walletlink.testing.clock import FakeClock
from walletlink.testing.faults import FaultKind
from walletlink.testing.mockbank import MockBank

PAYER = "6222021234567890123"
PAYEE = "6217001234567890"


@pytest.fixture(params=["cib", "cmb"])
def bank(request: pytest.FixtureRequest) -> Iterator[MockBank]:
    bank = MockBank("cn_bank_sm", clock=FakeClock(), profile=request.param)
    bank.open_account(LocalAccount(PAYER), Money("100.00", "CNY"))
    bank.open_account(LocalAccount(PAYEE), Money("0.00", "CNY"), name="Li Lei")
    yield bank
    bank.close()


def _server(bank: MockBank) -> CnBankSmServer:
    assert isinstance(bank.server, CnBankSmServer)
    return bank.server


def _transfer_biz(out_biz_no: str = "ob_1", amount: str = "10.00") -> dict[str, Any]:
    return {
        "outBizNo": out_biz_no,
        "amount": amount,
        "currency": "CNY",
        "payerAccount": PAYER,
        "payeeAccount": PAYEE,
        "payeeName": "Li Lei",
    }


def _envelope(
    bank: MockBank,
    biz: dict[str, Any],
    *,
    key: Sm2PrivateKey | None = None,
    app_id: str | None = None,
    nonce: str | None = None,
    sent_ago: timedelta = timedelta(0),
) -> tuple[dict[str, str], bytes]:
    server = _server(bank)
    profile = server.profile
    fields = {
        profile.app_id_field: app_id or server.app_id,
        profile.timestamp_field: format_time(profile, bank.clock.now() - sent_ago),
        profile.nonce_field: nonce or new_nonce(),
        profile.biz_field: encrypt_biz(profile, server.sm4_key, biz),
    }
    return seal(profile, fields, key or server._app_private)


def _send(
    bank: MockBank, path_key: str, headers: dict[str, str], body: bytes
) -> tuple[dict[str, str], dict[str, Any]]:
    server = _server(bank)
    url = bank.base_url + server.profile.paths[path_key]
    response = bank.handle(MockRequest.build("POST", url, headers=headers, body=body))
    assert response.status == 200
    fields = open_envelope(
        server.profile, response.headers, response.body, server.bank_key.public_key
    )
    content = fields.get(server.profile.biz_field)
    return fields, decrypt_biz(server.profile, server.sm4_key, content) if content else {}


def _code(bank: MockBank, fields: dict[str, str]) -> str:
    return fields[_server(bank).profile.code_field]


def test_a_signed_transfer_executes_and_a_replay_returns_the_same_order(bank: MockBank) -> None:
    success = _server(bank).profile.success_code
    fields, order = _send(bank, "create_transfer", *_envelope(bank, _transfer_biz()))
    assert (success, "ACCEPTED", "10.00") == (_code(bank, fields), order["status"], order["amount"])
    again, replayed = _send(bank, "create_transfer", *_envelope(bank, _transfer_biz()))
    assert (success, order["orderNo"]) == (_code(bank, again), replayed["orderNo"])
    assert len(bank.transfers()) == 1
    other, _ = _send(bank, "create_transfer", *_envelope(bank, _transfer_biz(amount="11.00")))
    assert _code(bank, other) == "DUPLICATE_OUT_BIZ_NO"


def test_a_signature_by_another_key_is_refused(bank: MockBank) -> None:
    headers, body = _envelope(bank, _transfer_biz(), key=Sm2PrivateKey.generate())
    fields, _ = _send(bank, "create_transfer", headers, body)
    assert _code(bank, fields) == "SIGN_ERROR"
    assert bank.transfers() == []


def test_a_tampered_body_is_refused(bank: MockBank) -> None:
    headers, body = _envelope(bank, _transfer_biz())
    profile = _server(bank).profile
    fields = json.loads(body)
    fields[profile.nonce_field] = new_nonce()  # signed content changed, signature kept
    fields_out, _ = _send(bank, "create_transfer", headers, json.dumps(fields).encode())
    assert _code(bank, fields_out) == "SIGN_ERROR"


def test_a_stale_timestamp_is_refused(bank: MockBank) -> None:
    headers, body = _envelope(bank, _transfer_biz(), sent_ago=timedelta(minutes=6))
    fields, _ = _send(bank, "create_transfer", headers, body)
    assert _code(bank, fields) == "TIMESTAMP_EXPIRED"


def test_a_replayed_nonce_is_refused(bank: MockBank) -> None:
    nonce = new_nonce()
    first, _ = _send(bank, "balance", *_envelope(bank, {"accountNo": PAYER}, nonce=nonce))
    second, _ = _send(bank, "balance", *_envelope(bank, {"accountNo": PAYER}, nonce=nonce))
    assert (_server(bank).profile.success_code, "NONCE_USED") == (
        _code(bank, first),
        _code(bank, second),
    )
    assert bank.stats["replays_refused"] == 1


def test_a_wrong_app_id_is_refused(bank: MockBank) -> None:
    fields, _ = _send(bank, "balance", *_envelope(bank, {"accountNo": PAYER}, app_id="WL999"))
    assert _code(bank, fields) == "APP_NOT_FOUND"


def test_content_under_another_sm4_key_is_refused(bank: MockBank) -> None:
    server = _server(bank)
    profile = server.profile
    fields = {
        profile.app_id_field: server.app_id,
        profile.timestamp_field: format_time(profile, bank.clock.now()),
        profile.nonce_field: new_nonce(),
        profile.biz_field: encrypt_biz(profile, bytes(16), {"accountNo": PAYER}),
    }
    answer, _ = _send(bank, "balance", *seal(profile, fields, server._app_private))
    assert _code(bank, answer) == "PARAM_ERROR"


def test_balance_and_unknown_order(bank: MockBank) -> None:
    _, balance = _send(bank, "balance", *_envelope(bank, {"accountNo": PAYER}))
    assert (balance["availableBalance"], balance["ledgerBalance"]) == ("100.00", "100.00")
    fields, _ = _send(bank, "query_transfer", *_envelope(bank, {"outBizNo": "nope"}))
    assert _code(bank, fields) == "ORDER_NOT_FOUND"


def test_unknown_paths_and_faults(bank: MockBank) -> None:
    response = bank.handle(MockRequest.build("POST", bank.base_url + "/nope"))
    assert response.status == 404
    assert bank.fault_response(FaultKind.UNAVAILABLE).status == 503


def test_notifications_are_signed_and_encrypted(bank: MockBank) -> None:
    server = _server(bank)
    _send(bank, "create_transfer", *_envelope(bank, _transfer_biz()))
    bank.advance(61)
    (webhook,) = bank.webhooks
    fields = open_envelope(
        server.profile, webhook.headers, webhook.body, server.bank_key.public_key
    )
    biz = decrypt_biz(server.profile, server.sm4_key, fields[server.profile.biz_field])
    assert ("TRANSFER_STATUS", "SUCCESS", "ob_1", webhook.id) == (
        biz["notifyType"],
        biz["status"],
        biz["outBizNo"],
        biz["notifyId"],
    )


def test_loopback_serves_the_same_gateway(bank: MockBank) -> None:
    server = _server(bank)
    with bank.serve() as served:
        headers, body = _envelope(bank, {"accountNo": PAYER})
        url = served.url + server.profile.paths["balance"]
        response = requests.post(url, headers=headers, data=body, timeout=5)
    fields = open_envelope(
        server.profile, dict(response.headers), response.content, server.bank_key.public_key
    )
    assert server.profile.success_code == fields[server.profile.code_field]
