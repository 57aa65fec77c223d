"""Bills of 2,000 CNY and more: the creditor's name, RSA-OAEP encrypted under the platform
key ``Wechatpay-Serial`` names, identical on every resend, and nowhere in plaintext."""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from wechatpayv3 import utils as independent

from walletlink.accounts import LocalAccount
from walletlink.errors import ConfigurationError, ValidationError
from walletlink.http import PreparedRequest
from walletlink.models import Party, Transfer, TransferStatus
from walletlink.protocols.wechatpay_v3._keys import PlatformKeys
from walletlink.protocols.wechatpay_v3._mock_keys import role_key
from walletlink.protocols.wechatpay_v3._sensitive import OAEP_SHA1, oaep_sha1_encrypt
from walletlink.protocols.wechatpay_v3.adapter import WeChatPayV3Adapter
from walletlink.protocols.wechatpay_v3.mock import DEFAULT_MCHID, PUBLIC_KEY_ID, WeChatPayV3Server
from walletlink.testing._http import MockRequest, MockResponse

from .conftest import OPENID, Harness, make_harness

NAME = "李雷"


def _server(harness: Harness) -> WeChatPayV3Server:
    assert isinstance(harness.bank.server, WeChatPayV3Server)
    return harness.bank.server


def _adapter(harness: Harness) -> WeChatPayV3Adapter:
    adapter = harness.client.adapter(harness.bank.bank_id)
    assert isinstance(adapter, WeChatPayV3Adapter)
    return adapter


def _named(harness: Harness, amount: str = "2000.00", name: str = NAME) -> object:
    creditor = Party(name=name, account=LocalAccount(OPENID, scheme="wechat_openid"))
    return harness.request(amount, creditor=creditor)


def _posts(harness: Harness) -> list[PreparedRequest]:
    return [request for request, _ in harness.sent if request.method == "POST"]


@pytest.fixture
def rich(tmp_path: Path) -> Harness:
    return make_harness(tmp_path, funds="50000.00")


@pytest.mark.parametrize("mode", ["certificate", "public_key", "migrating"])
def test_a_named_bill_is_encrypted_under_the_key_the_header_names(
    tmp_path: Path, mode: str
) -> None:
    harness = make_harness(tmp_path, funds="50000.00", mode=mode)
    transfer = harness.client.transfer(harness.bank.bank_id, _named(harness))
    assert transfer.status is TransferStatus.PENDING
    (post,) = _posts(harness)
    serial = post.headers["Wechatpay-Serial"]
    # The WeChat Pay public key where there is one (it does not rotate), else the pinned
    # platform certificate.
    server = _server(harness)
    expected = (
        PUBLIC_KEY_ID
        if mode != "certificate"
        else format(server.platform.listed(harness.clock.now())[0].serial_number, "X")
    )
    assert serial == expected
    sealed = json.loads(post.body or b"")["user_name"]
    assert len(base64.b64decode(sealed)) == 256  # one RSA-2048 block
    # An independent implementation (wechatpayv3's rsa_decrypt, OAEP SHA-1) opens it with
    # the platform's private key for that serial, and the mock platform read the same name.
    assert independent.rsa_decrypt(sealed, server.platform.keys[serial]) == NAME
    assert harness.bank.transfers()[0].instruction.creditor_name == NAME


def test_below_2000_cny_no_name_travels(rich: Harness) -> None:
    rich.client.transfer(rich.bank.bank_id, _named(rich, "1999.99"))
    (post,) = _posts(rich)
    assert "user_name" not in json.loads(post.body or b"")
    assert "Wechatpay-Serial" not in post.headers


def test_a_rebuilt_bill_is_byte_identical_and_other_bills_differ(rich: Harness) -> None:
    """Two adapters (two processes) build the same bytes for the same journalled request;
    another bill or another name gets an unrelated ciphertext."""
    config = rich.client.adapter(rich.bank.bank_id).config
    request = _named(rich)
    first, again = WeChatPayV3Adapter(config), WeChatPayV3Adapter(config)
    assert first._bill(request) == again._bill(request)  # type: ignore[arg-type]
    other_bill = _named(rich, "2000.01")
    other_name = _named(rich, name="韩梅梅")

    def sealed(request: object) -> str:
        body, _ = first._bill(request)  # type: ignore[arg-type]
        return str(json.loads(body)["user_name"])

    assert len({sealed(request), sealed(other_bill), sealed(other_name)}) == 3


def test_a_resend_from_a_new_client_on_the_same_journal_is_the_same_bill(
    tmp_path: Path,
) -> None:
    """The platform failed the first attempt and the process went away: a new process
    resolves the journalled intent, finds no bill and sends it again, and the platform sees
    the bytes the first attempt carried."""
    from walletlink.errors import UnknownOutcomeError

    journal = tmp_path / "journal.sqlite3"
    first = make_harness(tmp_path, funds="50000.00", journal=journal)
    first.client.retry = first.client.retry.__class__(
        max_attempts=1, sleep=first.clock.sleep, clock=first.clock.monotonic
    )
    server, original = _server(first), first.bank.handle

    def busy(request: MockRequest) -> MockResponse:
        if request.method != "POST":
            return original(request)
        return server._reply(500, {"code": "SYSTEM_ERROR", "message": "busy"})

    first.bank.handle = busy  # type: ignore[method-assign]
    with pytest.raises(UnknownOutcomeError):
        first.client.transfer(first.bank.bank_id, _named(first))
    first.client.close()
    first.bank.handle = original  # type: ignore[method-assign]

    second = make_harness(tmp_path, journal=journal, bank=first.bank)
    (resolved,) = second.client.resolve_unknown(first.bank.bank_id)
    assert resolved.status is TransferStatus.PENDING
    assert {r.body for r in _posts(second)} == {r.body for r in _posts(first)}
    assert len(first.bank.transfers()) == 1
    second.client.close()


def test_the_name_is_in_no_log_repr_or_body(
    rich: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    transfer = rich.client.transfer(rich.bank.bank_id, _named(rich))
    rich.client.get_transfer(transfer.id)
    texts = [caplog.text, repr(transfer)]
    for request, url in rich.sent:
        texts += [repr(request), url, (request.body or b"").decode(), repr(request.headers)]
    assert all(NAME not in text for text in texts)
    with pytest.raises(ValidationError) as raised:
        rich.client.transfer(rich.bank.bank_id, _named(rich, name="名" * 100))
    assert "名" not in str(raised.value) + repr(raised.value)


def test_a_name_too_long_for_the_key_is_refused_before_journalling(rich: Harness) -> None:
    with pytest.raises(ValidationError, match=r"creditor name is too long.*214 bytes"):
        rich.client.transfer(rich.bank.bank_id, _named(rich, name="名" * 72))  # 216 bytes
    assert rich.sent == []
    rich.client.transfer(rich.bank.bank_id, _named(rich, name="名" * 71))  # 213 bytes fit


@settings(max_examples=25, deadline=None)
@given(message=st.binary(max_size=214), seed=st.binary(min_size=20, max_size=20))
def test_our_oaep_encoding_decrypts_with_cryptographys_oaep(message: bytes, seed: bytes) -> None:
    key = role_key("platform-old")
    sealed = oaep_sha1_encrypt(key.public_key(), message, seed)
    assert key.decrypt(sealed, OAEP_SHA1) == message


def test_oaep_refuses_what_does_not_fit_and_bad_seeds() -> None:
    key = role_key("platform-old").public_key()
    with pytest.raises(ValidationError):
        oaep_sha1_encrypt(key, b"x" * 215, b"\0" * 20)
    with pytest.raises(ValueError, match="20 bytes"):
        oaep_sha1_encrypt(key, b"x", b"\0" * 19)


def test_the_encryption_key_prefers_the_public_key_then_the_pin(rich: Harness) -> None:
    keys = _adapter(rich).keys
    serial, key = keys.encryption_key(rich.clock.now())
    assert serial == rich.client.adapter(rich.bank.bank_id).config.options["platform_serial"]
    assert isinstance(key, rsa.RSAPublicKey)
    public = role_key("public-key").public_key()
    both = PlatformKeys(
        pinned={PUBLIC_KEY_ID: public, serial: key}, api_v3_key=b"k" * 32, download=False
    )
    assert both.encryption_key(None) == (PUBLIC_KEY_ID, public)


def test_no_valid_platform_key_is_a_configuration_error(rich: Harness) -> None:
    keys = _adapter(rich).keys
    later = rich.clock.now() + timedelta(days=365 * 10)  # the pinned certificate expired
    with pytest.raises(ConfigurationError, match="no valid WeChat Pay platform key"):
        keys.encryption_key(later)


def test_a_name_that_is_not_the_users_real_name_fails_the_bill(tmp_path: Path) -> None:
    """实名校验: the platform opens the name and compares it with the user's real name; the
    bill is made and fails NAME_NOT_CORRECT, with a notification."""
    from walletlink.models import ReasonCode
    from walletlink.money import Money

    harness = make_harness(tmp_path, funds="50000.00")
    named = LocalAccount("oUpF8uNamedUserOpenId00000", scheme="wechat_openid")
    harness.bank.open_account(named, Money("0", "CNY"), name=NAME)
    inbox: list[tuple[dict[str, str], bytes]] = []
    harness.bank.webhook_target = lambda headers, body: inbox.append((dict(headers), body))

    def pay(name: str, payout: str) -> Transfer:
        creditor = Party(name=name, account=named)
        request = harness.request("2000.00", creditor=creditor, payout_id=payout)
        return harness.client.transfer(harness.bank.bank_id, request)

    wrong = pay("韩梅梅", "P-WRONG")
    assert wrong.status is TransferStatus.REJECTED
    assert wrong.reason is not None
    assert (wrong.reason.code, wrong.reason.raw_code) == (
        ReasonCode.INVALID_CREDITOR,
        "NAME_NOT_CORRECT",
    )
    harness.bank.deliver_webhooks()
    ((headers, body),) = inbox
    event = harness.client.handle_notification(harness.bank.bank_id, headers, body)
    assert (event.status, event.idempotency_key) == (TransferStatus.REJECTED, wrong.idempotency_key)
    assert harness.bank.balance(LocalAccount(DEFAULT_MCHID)) == Money("50000.00", "CNY")
    assert pay(NAME, "P-RIGHT").status is TransferStatus.PENDING
    harness.client.close()
    harness.bank.close()
