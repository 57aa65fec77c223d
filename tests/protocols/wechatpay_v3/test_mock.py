"""The wechatpay_v3 mock platform, spoken to directly: it checks signatures, serials,
nonces and timestamps as the platform does, deduplicates out_bill_no and signs replies."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from walletlink.accounts import LocalAccount
from walletlink.errors import KeyNotFoundError
from walletlink.money import Money
from walletlink.protocols.wechatpay_v3._mock_keys import role_key
from walletlink.protocols.wechatpay_v3._sensitive import OAEP_SHA1
from walletlink.protocols.wechatpay_v3.mock import (
    DEFAULT_MCHID,
    MERCHANT_SERIAL,
    PUBLIC_KEY_ID,
    WeChatPayV3Server,
    wechatpay_v3_config,
)
from walletlink.signing.webhooks import WeChatPaySigner, WeChatPayVerifier
from walletlink.testing._http import MockRequest, MockResponse
from walletlink.testing.clock import FakeClock
from walletlink.testing.faults import FaultKind
from walletlink.testing.mockbank import MockBank

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
BILLS = "/v3/fund-app/mch-transfer/transfer-bills"


@pytest.fixture
def bank() -> Iterator[MockBank]:
    bank = MockBank("wechatpay_v3", clock=FakeClock())
    bank.open_account(LocalAccount(DEFAULT_MCHID), Money("100.00", "CNY"))
    bank.open_account(LocalAccount(OPENID), Money("0", "CNY"))
    yield bank
    bank.close()


def _server(bank: MockBank) -> WeChatPayV3Server:
    assert isinstance(bank.server, WeChatPayV3Server)
    return bank.server


def _bill(number: str = "PAYOUT00001", amount: int = 1000) -> dict[str, Any]:
    return {
        "appid": _SERVER_APPID,
        "out_bill_no": number,
        "transfer_scene_id": "1000",
        "openid": OPENID,
        "transfer_amount": amount,
        "transfer_remark": "payout",
        "transfer_scene_report_infos": [{"info_type": "活动名称", "info_content": "x"}],
    }


_SERVER_APPID = "wxd678efh567hg6787"


def _send(
    bank: MockBank,
    method: str,
    path: str,
    payload: Any = None,
    *,
    nonce: str = "",
    skew: float = 0,
    serial: str = MERCHANT_SERIAL,
    headers: Mapping[str, str] | None = None,
) -> MockResponse:
    body = b"" if payload is None else json.dumps(payload).encode()
    signer = WeChatPaySigner(
        mchid=DEFAULT_MCHID,
        serial_no=serial,
        key=_server(bank).merchant_key,
        **({"nonce": lambda: nonce} if nonce else {}),
    )
    url = bank.base_url + path
    header = signer.authorization(method, url, body, bank.clock.now() + timedelta(seconds=skew))
    headers = {"Authorization": header, **(headers or {})}
    return bank.handle(MockRequest.build(method, url, headers=headers, body=body))


def _verify(bank: MockBank, response: MockResponse) -> None:
    server = _server(bank)
    keys = {serial: key.public_key() for serial, key in server.platform.keys.items()}
    WeChatPayVerifier(platform_keys=keys).verify(
        dict(response.headers), response.body, bank.clock.now()
    )


def _code(response: MockResponse) -> tuple[int, str]:
    return response.status, json.loads(response.body)["code"]


def test_a_bill_is_created_once_and_replayed(bank: MockBank) -> None:
    first = _send(bank, "POST", BILLS, _bill())
    again = _send(bank, "POST", BILLS, _bill())
    assert first.status == 200
    assert json.loads(first.body) == json.loads(again.body)
    assert len(bank.transfers()) == 1
    _verify(bank, first)


def test_the_same_number_with_other_parameters_is_refused(bank: MockBank) -> None:
    _send(bank, "POST", BILLS, _bill())
    assert _code(_send(bank, "POST", BILLS, _bill(amount=999))) == (400, "INVALID_REQUEST")


def test_a_bad_signature_is_sign_error_and_unsigned(bank: MockBank) -> None:
    body = json.dumps(_bill()).encode()
    signer = WeChatPaySigner(
        mchid=DEFAULT_MCHID, serial_no=MERCHANT_SERIAL, key=_server(bank).merchant_key
    )
    header = signer.authorization("POST", bank.base_url + BILLS, body, bank.clock.now())
    tampered = MockRequest.build(
        "POST", bank.base_url + BILLS, headers={"Authorization": header}, body=body + b" "
    )
    response = bank.handle(tampered)
    assert _code(response) == (401, "SIGN_ERROR")
    assert "Wechatpay-Signature" not in response.headers
    assert bank.transfers() == []


def test_an_unknown_merchant_serial_is_refused(bank: MockBank) -> None:
    assert _code(_send(bank, "POST", BILLS, _bill(), serial="ABCDEF")) == (401, "SIGN_ERROR")


def test_a_replayed_nonce_is_refused(bank: MockBank) -> None:
    nonce = "593BEC0C930BF1AFEB40B4A08C8FB242"
    assert _code(_send(bank, "GET", f"{BILLS}/out-bill-no/PAYOUT00001", nonce=nonce)) == (
        404,
        "NOT_FOUND",
    )
    assert _code(_send(bank, "GET", f"{BILLS}/out-bill-no/PAYOUT00001", nonce=nonce)) == (
        401,
        "SIGN_ERROR",
    )
    assert bank.stats["replayed_nonces"] == 1


def test_a_stale_timestamp_is_refused(bank: MockBank) -> None:
    assert _code(_send(bank, "POST", BILLS, _bill(), skew=-301)) == (401, "SIGN_ERROR")
    assert _send(bank, "POST", BILLS, _bill(), skew=-299).status == 200


def test_not_enough_leaves_no_bill(bank: MockBank) -> None:
    assert _code(_send(bank, "POST", BILLS, _bill(amount=10001))) == (403, "NOT_ENOUGH")
    assert bank.transfers() == []
    assert _send(bank, "POST", BILLS, _bill(amount=10000)).status == 200


def test_a_missing_bill_is_not_found(bank: MockBank) -> None:
    response = _send(bank, "GET", f"{BILLS}/out-bill-no/NOSUCHBILL")
    assert _code(response) == (404, "NOT_FOUND")
    _verify(bank, response)


def test_certificates_are_listed_encrypted(bank: MockBank) -> None:
    response = _send(bank, "GET", "/v3/certificates")
    entries = json.loads(response.body)["data"]
    assert [e["encrypt_certificate"]["associated_data"] for e in entries] == ["certificate"]


def test_public_key_mode_answers_403_to_certificates() -> None:
    bank = MockBank("wechatpay_v3", mode="public_key")
    response = _send(bank, "GET", "/v3/certificates")
    assert _code(response) == (403, "NO_AUTH")
    assert response.headers["Wechatpay-Serial"] == PUBLIC_KEY_ID


def test_rotation_lists_the_new_certificate_before_switching() -> None:
    bank = MockBank("wechatpay_v3", rotate_after=3 * 86400)
    server = _server(bank)
    assert len(server.platform.listed(bank.clock.now())) == 1
    bank.clock.advance(2 * 86400)
    old, new = server.platform.listed(bank.clock.now())
    assert (
        format(old.serial_number, "X")
        == _send(bank, "GET", "/v3/certificates").headers["Wechatpay-Serial"]
    )
    bank.clock.advance(86400)
    assert (
        format(new.serial_number, "X")
        == _send(bank, "GET", "/v3/certificates").headers["Wechatpay-Serial"]
    )


def test_faults_are_answered_in_the_platforms_words(bank: MockBank) -> None:
    limited = bank.fault_response(FaultKind.RATE_LIMIT)
    assert _code(limited) == (429, "FREQUENCY_LIMITED")
    assert _code(bank.fault_response(FaultKind.SERVER_ERROR)) == (500, "SYSTEM_ERROR")
    _verify(bank, limited)


def test_config_helper_and_wrong_protocol(bank: MockBank) -> None:
    config = wechatpay_v3_config(bank)
    assert config.options["mchid"] == DEFAULT_MCHID
    with pytest.raises(TypeError):
        wechatpay_v3_config(MockBank("generic_rest"))
    with pytest.raises(KeyNotFoundError):
        WeChatPayVerifier(platform_keys={}).verify(
            dict(_send(bank, "GET", "/v3/certificates").headers), b"", bank.clock.now()
        )


# -- user_name (from 2,000 CNY) -----------------------------------------------------------------


@pytest.fixture
def rich() -> Iterator[MockBank]:
    bank = MockBank("wechatpay_v3", clock=FakeClock())
    bank.open_account(LocalAccount(DEFAULT_MCHID), Money("10000.00", "CNY"))
    bank.open_account(LocalAccount(OPENID), Money("0", "CNY"))
    yield bank
    bank.close()


def _sealed(key: rsa.RSAPublicKey, name: str = "李雷") -> str:
    # The way every SDK does it: cryptography's OAEP, SHA-1, with a random seed.
    return base64.b64encode(key.encrypt(name.encode(), OAEP_SHA1)).decode()


def _platform_serial(bank: MockBank) -> str:
    return format(_server(bank).platform.listed(bank.clock.now())[0].serial_number, "X")


def test_a_named_bill_opens_with_the_key_the_serial_names(rich: MockBank) -> None:
    serial = _platform_serial(rich)
    key = _server(rich).platform.keys[serial].public_key()
    bill = {**_bill(amount=200_000), "user_name": _sealed(key)}
    response = _send(rich, "POST", BILLS, bill, headers={"Wechatpay-Serial": serial})
    assert response.status == 200
    assert rich.transfers()[0].instruction.creditor_name == "李雷"
    # Another SDK call draws another seed: the same bill, so the original, not a mismatch.
    again = {**bill, "user_name": _sealed(key)}
    assert again["user_name"] != bill["user_name"]
    assert _send(rich, "POST", BILLS, again, headers={"Wechatpay-Serial": serial}).status == 200
    other = {**bill, "user_name": _sealed(key, "韩梅梅")}
    assert _code(_send(rich, "POST", BILLS, other, headers={"Wechatpay-Serial": serial})) == (
        400,
        "INVALID_REQUEST",
    )
    assert len(rich.transfers()) == 1


def test_2000_cny_without_a_name_is_a_param_error(rich: MockBank) -> None:
    response = _send(rich, "POST", BILLS, _bill(amount=200_000))
    assert _code(response) == (400, "PARAM_ERROR")
    _verify(rich, response)  # a signed refusal: the client may journal it REJECTED
    assert rich.transfers() == []
    assert _send(rich, "POST", BILLS, _bill(number="PAYOUT00002", amount=199_999)).status == 200


def test_a_name_under_the_wrong_key_is_a_param_error(rich: MockBank) -> None:
    serial = _platform_serial(rich)
    wrong = role_key("merchant").public_key()  # the merchant's own key, a common mix-up
    bill = {**_bill(amount=200_000), "user_name": _sealed(wrong)}
    response = _send(rich, "POST", BILLS, bill, headers={"Wechatpay-Serial": serial})
    assert _code(response) == (400, "PARAM_ERROR")
    assert "密文" in json.loads(response.body)["message"]
    assert rich.transfers() == []


@pytest.mark.parametrize("serial", [None, "ABCDEF0123", PUBLIC_KEY_ID])
def test_a_name_under_a_serial_the_platform_does_not_use_is_a_param_error(
    rich: MockBank, serial: str | None
) -> None:
    """No header, an unknown serial, or the public-key id of a merchant still on
    certificates: the platform cannot tell which private key opens the name."""
    key = _server(rich).platform.keys[_platform_serial(rich)].public_key()
    bill = {**_bill(amount=200_000), "user_name": _sealed(key)}
    headers = {"Wechatpay-Serial": serial} if serial else {}
    response = _send(rich, "POST", BILLS, bill, headers=headers)
    assert _code(response) == (400, "PARAM_ERROR")
    assert "Wechatpay-Serial" in json.loads(response.body)["message"]
