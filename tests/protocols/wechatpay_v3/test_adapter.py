"""The wechatpay_v3 adapter: signing, reply verification in both key modes, certificate
refresh and rotation, error mapping, validate() and notifications."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st
from wechatpayv3 import utils as independent

from walletlink.errors import (
    AuthenticationError,
    BankRejectedError,
    KeyNotFoundError,
    ProtocolError,
    SignatureError,
    SignatureExpiredError,
    SignatureMismatchError,
    UnknownOutcomeError,
    ValidationError,
)
from walletlink.models import ReasonCode, TransferStatus, idempotency_key_for
from walletlink.protocols.wechatpay_v3._keys import PlatformKeys
from walletlink.protocols.wechatpay_v3._wire import decode_out_bill_no, out_bill_no
from walletlink.protocols.wechatpay_v3.adapter import WeChatPayV3Adapter
from walletlink.protocols.wechatpay_v3.mock import PUBLIC_KEY_ID, WeChatPayV3Server
from walletlink.signing.webhooks import decrypt_wechatpay_resource
from walletlink.testing._http import MockRequest, MockResponse
from walletlink.testing.mockbank import MockBank

from .conftest import OPENID, Harness, make_harness

VECTORS = Path(__file__).parents[2] / "vectors" / "wechatpay"
DAY = 24 * 3600


def _server(bank: MockBank) -> WeChatPayV3Server:
    assert isinstance(bank.server, WeChatPayV3Server)
    return bank.server


def _adapter(harness: Harness) -> WeChatPayV3Adapter:
    adapter = harness.client.adapter(harness.bank.bank_id)
    assert isinstance(adapter, WeChatPayV3Adapter)
    return adapter


# -- request signing ----------------------------------------------------------------------------


def test_requests_are_signed_over_the_exact_url_and_bytes_sent(harness: Harness) -> None:
    """An independent implementation (wechatpayv3) signs the same canonical string to the
    same bytes (PKCS#1 v1.5 is deterministic)."""
    harness.client.transfer(harness.bank.bank_id, harness.request())
    server = _server(harness.bank)
    for request, url in harness.sent:
        signed = request  # on_request sees the signed request
        header = signed.headers["Authorization"]
        params = dict(
            item.split("=", 1)
            for item in header.removeprefix("WECHATPAY2-SHA256-RSA2048 ").split(",")
        )
        params = {k: v.strip('"') for k, v in params.items()}
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        body = (signed.body or b"").decode()
        canonical = (
            f"{signed.method}\n{target}\n{params['timestamp']}\n{params['nonce_str']}\n{body}\n"
        )
        expected = independent.rsa_sign(server.merchant_key, canonical)
        assert expected == params["signature"]
        assert (params["mchid"], params["serial_no"]) == (
            "1900009191",
            "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        )


def test_a_query_is_signed_with_its_path_and_retries_get_a_fresh_nonce(harness: Harness) -> None:
    transfer = harness.client.transfer(harness.bank.bank_id, harness.request())
    harness.client.get_transfer(transfer.id)
    nonces = [
        request.headers["Authorization"].split('nonce_str="')[1][:32] for request, _ in harness.sent
    ]
    assert len(set(nonces)) == len(nonces)
    assert harness.paths()[
        -1
    ] == "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/" + out_bill_no(
        transfer.idempotency_key
    )


# -- published vectors and the independent implementation -----------------------------------


def test_published_callback_vector_verifies_and_decrypts() -> None:
    vectors = json.loads((VECTORS / "vectors.json").read_text())["callback"]
    cert = x509.load_pem_x509_certificate((VECTORS / "platform_certificate.pem").read_bytes())
    keys = PlatformKeys(pinned={"D7CE59D1F522D701": cert}, api_v3_key=b"x" * 32, download=False)
    now = datetime.fromtimestamp(1624523846, UTC)
    body = vectors["body"].encode()
    keys.verify_message(vectors["headers"], body, now)
    resource = json.loads(body)["resource"]
    assert vectors["plaintext"].encode() == decrypt_wechatpay_resource(
        resource, vectors["api_v3_key"]
    )
    # The independent implementation agrees on both.
    assert independent.rsa_verify(
        vectors["headers"]["Wechatpay-Timestamp"],
        vectors["headers"]["Wechatpay-Nonce"],
        vectors["body"],
        vectors["headers"]["Wechatpay-Signature"],
        cert.public_key(),
    )
    assert vectors["plaintext"] == independent.aes_decrypt(
        resource["nonce"],
        resource["ciphertext"],
        resource["associated_data"],
        vectors["api_v3_key"],
    )
    with pytest.raises(SignatureMismatchError):
        keys.verify_message(vectors["headers"], body.replace(b"payscore", b"payscorE", 1), now)
    with pytest.raises(SignatureExpiredError):
        keys.verify_message(vectors["headers"], body, now + timedelta(seconds=301))


def test_replies_of_the_mock_verify_with_the_independent_implementation(harness: Harness) -> None:
    harness.client.transfer(harness.bank.bank_id, harness.request())
    server = _server(harness.bank)
    for reply in harness.replies:
        serial = reply.header("Wechatpay-Serial")
        assert serial is not None
        public = server.platform.keys[serial].public_key()
        assert independent.rsa_verify(
            reply.header("Wechatpay-Timestamp"),
            reply.header("Wechatpay-Nonce"),
            reply.body.decode(),
            reply.header("Wechatpay-Signature"),
            public,
        )


# -- certificate mode: download, cache, refresh, rotation -------------------------------------


def test_certificates_are_downloaded_once_and_cached(harness: Harness) -> None:
    for _ in range(3):
        harness.client.transfer(harness.bank.bank_id, harness.request())
    assert harness.paths().count("/v3/certificates") == 1


def test_certificates_are_refreshed_on_the_clients_clock(harness: Harness) -> None:
    harness.client.transfer(harness.bank.bank_id, harness.request())
    harness.bank.advance(13 * 3600)
    harness.client.transfer(harness.bank.bank_id, harness.request())
    harness.client.transfer(harness.bank.bank_id, harness.request())
    assert harness.paths().count("/v3/certificates") == 2


def test_a_rotation_during_a_run_is_followed(tmp_path: Path) -> None:
    """The second certificate is listed two days before replies switch to it; the client's
    periodic refresh learns it from a reply signed with the old one, so the switch and the
    old certificate's expiry go unnoticed."""
    harness = make_harness(tmp_path, rotate_after=3 * DAY)
    server = _server(harness.bank)
    old, new = (c.serial_number for _, c in server.platform.certificates)
    for _ in range(5):  # every 18 hours, across the switch and the old one's expiry
        transfer = harness.client.transfer(harness.bank.bank_id, harness.request())
        assert transfer.status in (TransferStatus.PENDING, TransferStatus.PROCESSING)
        harness.bank.advance(18 * 3600)
    serials = [r.header("Wechatpay-Serial") for r in harness.replies]
    assert {format(old, "X"), format(new, "X")} == set(serials)
    assert format(new, "X") == serials[-1]
    # Due every 12 h, judged on the clock of the previous call: at 0, 36 and 72 hours.
    assert harness.paths().count("/v3/certificates") == 3


def test_a_client_that_never_refreshes_does_not_trust_the_new_certificate(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, rotate_after=3 * DAY, config_download_certificates=False)
    harness.client.transfer(harness.bank.bank_id, harness.request())
    harness.bank.advance(3 * DAY + 60)
    with pytest.raises(UnknownOutcomeError, match="no trusted platform key"):
        harness.client.transfer(harness.bank.bank_id, harness.request())
    assert "/v3/certificates" not in harness.paths()


def test_an_unknown_serial_brings_the_next_download_forward(tmp_path: Path) -> None:
    """A reply under a serial we do not know makes the next call download the list at once,
    but the list (signed with that same unknown key) is not trusted, and a third call does
    not download again inside the window: no loop, no trust from the download itself."""
    harness = make_harness(tmp_path, rotate_after=3 * DAY)
    harness.bank.advance(3 * DAY - 3600)  # the new one is listed, replies still old
    harness.client.transfer(harness.bank.bank_id, harness.request())
    adapter = _adapter(harness)
    adapter.keys.accept(b'{"data": []}')  # as if the last download had missed it
    harness.bank.advance(2 * 3600)  # replies are now signed with the new certificate
    with pytest.raises(UnknownOutcomeError):
        harness.client.transfer(harness.bank.bank_id, harness.request())
    assert harness.paths().count("/v3/certificates") == 1
    harness.bank.advance(600)
    with pytest.raises(KeyNotFoundError):  # the download itself
        harness.client.transfer(harness.bank.bank_id, harness.request())
    assert harness.paths().count("/v3/certificates") == 2
    with pytest.raises(UnknownOutcomeError):
        harness.client.transfer(harness.bank.bank_id, harness.request())
    assert harness.paths().count("/v3/certificates") == 2
    assert len(adapter.keys.serials) == 1  # still only the pinned one


def test_a_certificate_list_signed_by_an_untrusted_key_is_not_trusted(tmp_path: Path) -> None:
    """Bootstrap from a download signed by a key nobody pinned: refused, nothing trusted."""
    harness = make_harness(tmp_path, rotate_after=3 * DAY)
    harness.bank.clock.advance(3 * DAY + 60)  # the platform signs with the new one only
    with pytest.raises(KeyNotFoundError):
        harness.client.transfer(harness.bank.bank_id, harness.request())
    assert harness.paths() == ["/v3/certificates"]
    assert len(_adapter(harness).keys.serials) == 1  # the pinned one only


def test_a_listed_certificate_that_contradicts_the_pin_is_refused() -> None:
    pinned_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bank = MockBank("wechatpay_v3")
    server = _server(bank)
    real = server.platform.certificates[0][1]
    adapter = WeChatPayV3Adapter(bank.config())
    keys = PlatformKeys(
        pinned={format(real.serial_number, "X"): pinned_key.public_key()},
        api_v3_key=server.api_v3_key.encode(),
        download=True,
    )
    keys.observe(bank.clock.now())
    _, payload = server._certificates()
    with pytest.raises(SignatureMismatchError):
        keys.accept(json.dumps(payload).encode())
    assert adapter.keys.serials == keys.serials


# -- public-key mode and migration ------------------------------------------------------------


def test_public_key_mode_never_asks_for_certificates(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, mode="public_key")
    harness.client.transfer(harness.bank.bank_id, harness.request())
    assert "/v3/certificates" not in harness.paths()
    assert {PUBLIC_KEY_ID} == {r.header("Wechatpay-Serial") for r in harness.replies}


def test_migrating_merchants_route_by_serial(tmp_path: Path) -> None:
    harness = make_harness(tmp_path, mode="migrating")
    for _ in range(3):
        harness.client.transfer(harness.bank.bank_id, harness.request())
    serials = {r.header("Wechatpay-Serial") for r in harness.replies}
    assert PUBLIC_KEY_ID in serials
    assert len(serials) == 2


def test_a_403_from_certificates_is_not_asked_again_on_every_call(tmp_path: Path) -> None:
    """A merchant fully migrated to the public key who still has downloads on: one 403,
    then the public key carries on, and no download loop."""
    harness = make_harness(tmp_path, mode="public_key", config_download_certificates=True)
    for _ in range(4):
        harness.client.transfer(harness.bank.bank_id, harness.request())
    assert harness.paths().count("/v3/certificates") == 1


# -- error mapping and unknown outcomes ---------------------------------------------------------


def _answer_once(
    harness: Harness, status: int, code: str, path_part: str = "/transfer-bills"
) -> None:
    """The next call to ``path_part`` gets a signed ``{"code": ...}`` error from the platform."""
    bank, server = harness.bank, _server(harness.bank)
    original = bank.handle
    state = {"done": False}

    def handle(request: MockRequest) -> MockResponse:
        if not state["done"] and path_part in request.path:
            state["done"] = True
            bank.count("requests")
            return server._reply(status, {"code": code, "message": code.lower()})
        return original(request)

    bank.handle = handle  # type: ignore[method-assign]


@pytest.mark.parametrize("amount", ["12.30", "2000.00"])
def test_system_error_is_unknown_and_resolved_by_the_same_out_bill_no(
    tmp_path: Path, amount: str
) -> None:
    """From 2,000 CNY the bill carries an OAEP-encrypted name, randomised in every SDK: the
    resend must still be the very same bytes, under the same Wechatpay-Serial."""
    harness = make_harness(tmp_path, funds="5000.00")
    harness.client.retry = harness.client.retry.__class__(
        max_attempts=1, sleep=harness.clock.sleep, clock=harness.clock.monotonic
    )
    request = harness.request(amount)
    _answer_once(harness, 500, "SYSTEM_ERROR")
    with pytest.raises(UnknownOutcomeError):
        harness.client.transfer(harness.bank.bank_id, request)
    resolved = harness.client.resolve_unknown(harness.bank.bank_id)
    assert [request.idempotency_key] == [t.idempotency_key for t in resolved]
    posts = [r for r, _ in harness.sent if r.method == "POST"]
    assert len(posts) == 2
    assert len({r.body for r in posts}) == 1  # the resend after "absent": the very same bill
    assert len({r.headers.get("Wechatpay-Serial") for r in posts}) == 1
    assert ("user_name" in json.loads(posts[0].body or b"")) is (amount == "2000.00")
    assert harness.bank.duplicates_at_bank == 0
    harness.client.close()
    harness.bank.close()


def test_not_enough_is_a_rejection_value(harness: Harness) -> None:
    transfer = harness.client.transfer(harness.bank.bank_id, harness.request("999.99"))
    assert transfer.status is TransferStatus.PENDING
    rejected = harness.client.transfer(harness.bank.bank_id, harness.request("100.00"))
    assert rejected.status is TransferStatus.REJECTED
    assert rejected.reason is not None
    assert (rejected.reason.code, rejected.reason.raw_code) == (
        ReasonCode.INSUFFICIENT_FUNDS,
        "NOT_ENOUGH",
    )


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "PARAM_ERROR", BankRejectedError),
        (400, "INVALID_REQUEST", BankRejectedError),
        (401, "SIGN_ERROR", AuthenticationError),
        (403, "NO_AUTH", BankRejectedError),
    ],
)
def test_refusals_map_onto_the_error_tree(
    harness: Harness, status: int, code: str, error: type[Exception]
) -> None:
    harness.client.transfer(harness.bank.bank_id, harness.request())  # certificates fetched
    _answer_once(harness, status, code)
    with pytest.raises(error) as raised:
        harness.client.transfer(harness.bank.bank_id, harness.request())
    if isinstance(raised.value, BankRejectedError):
        assert code == raised.value.raw_code


def test_frequency_limited_is_retried(harness: Harness) -> None:
    _answer_once(harness, 429, "FREQUENCY_LIMITED")
    transfer = harness.client.transfer(harness.bank.bank_id, harness.request())
    assert transfer.status is TransferStatus.PENDING
    assert harness.paths().count("/v3/fund-app/mch-transfer/transfer-bills") == 2


def test_an_unsigned_refusal_leaves_the_transfer_unknown(harness: Harness) -> None:
    """A 4xx that would decide a payment's fate must verify; forged, it decides nothing."""
    harness.client.transfer(harness.bank.bank_id, harness.request())
    bank, original = harness.bank, harness.bank.handle

    def forged(request: MockRequest) -> MockResponse:
        if request.method == "POST":
            return MockResponse.json(403, {"code": "NOT_ENOUGH", "message": "forged"})
        return original(request)

    bank.handle = forged  # type: ignore[method-assign]
    with pytest.raises(UnknownOutcomeError):
        harness.client.transfer(harness.bank.bank_id, harness.request())


def test_a_forged_4xx_to_a_transfer_is_not_a_refusal(harness: Harness) -> None:
    """Any 4xx to a write is verified before it may decide the transfer's fate."""
    harness.client.transfer(harness.bank.bank_id, harness.request())
    bank, original = harness.bank, harness.bank.handle

    def forged(request: MockRequest) -> MockResponse:
        if request.method == "POST":
            return MockResponse.json(405, {"code": "INVALID_REQUEST", "message": "forged"})
        return original(request)

    bank.handle = forged  # type: ignore[method-assign]
    request = harness.request()
    with pytest.raises(UnknownOutcomeError):
        harness.client.transfer(harness.bank.bank_id, request)
    record = harness.client.journal.get(request.idempotency_key)
    assert record is not None
    assert record.status is TransferStatus.UNKNOWN


def test_a_missing_bill_is_absent_for_find_and_an_error_for_get(harness: Harness) -> None:
    request = harness.request()
    adapter = _adapter(harness)
    from walletlink.adapters.base import TransferRef

    ref = TransferRef(transfer_id="t1", idempotency_key=request.idempotency_key)
    assert (
        harness.client.run_flow(harness.bank.bank_id, adapter.find_transfer(ref, request)) is None
    )
    with pytest.raises(BankRejectedError):
        harness.client.run_flow(harness.bank.bank_id, adapter.get_transfer(ref, request))


def test_cancel_before_the_bill_moves(harness: Harness) -> None:
    harness.bank.ledger.processing_after = timedelta(seconds=30)
    transfer = harness.client.transfer(harness.bank.bank_id, harness.request())
    cancelled = harness.client.cancel_transfer(transfer.id)
    assert cancelled.status is TransferStatus.CANCELLED
    assert harness.bank.balance(harness.request().debtor_account).to_decimal_string() == "1000.00"


# -- validate -----------------------------------------------------------------------------------


def test_validate_refuses_what_the_platform_cannot_carry(harness: Harness) -> None:
    from walletlink.accounts import LocalAccount
    from walletlink.models import Party
    from walletlink.money import Money

    adapter = _adapter(harness)
    adapter.validate(harness.request())
    refused = [
        harness.request(Money("1.00", "EUR")),
        # From 2,000 CNY the name is encrypted: 420 bytes of UTF-8 exceed what OAEP fits.
        harness.request("2000.00", creditor=Party(name="李" * 140, account=LocalAccount(OPENID))),
        harness.request(debtor_account=LocalAccount("1234567890")),
        harness.request(creditor=Party(name="x", account=LocalAccount("bad openid!"))),
        harness.request(remittance="x" * 33),
        harness.request(idempotency_key="abc"),  # too short for out_bill_no
        harness.request(idempotency_key="WLK" + "0" * 25),  # the reserved encoded shape
    ]
    for request in refused:
        with pytest.raises(ValidationError):
            adapter.validate(request)


@given(st.uuids(version=4))
def test_uuid_keys_round_trip_through_out_bill_no(value: Any) -> None:
    number = out_bill_no(str(value))
    assert 5 <= len(number) <= 32
    assert number.isalnum()
    assert str(value) == decode_out_bill_no(number)


@given(st.text(min_size=1, max_size=40))
def test_derived_keys_round_trip_through_out_bill_no(identity: str) -> None:
    key = idempotency_key_for(identity)
    assert key == decode_out_bill_no(out_bill_no(key))


@given(st.from_regex(r"[0-9A-Za-z]{5,32}", fullmatch=True))
def test_plain_keys_travel_as_they_are(key: str) -> None:
    if key[:3] in ("WLK", "UID") and len(key) == 28 and key[3:].isupper() | key[3:].isdigit():
        return  # the reserved shape, refused by validate
    assert key == out_bill_no(key) == decode_out_bill_no(key)


def test_decode_refuses_garbage() -> None:
    with pytest.raises(ProtocolError):
        decode_out_bill_no("no-good")
    with pytest.raises(ProtocolError):
        decode_out_bill_no("WLK" + "Z" * 25)  # more than 128 bits


# -- notifications --------------------------------------------------------------------------


def _notification(harness: Harness) -> tuple[dict[str, str], bytes]:
    inbox: list[tuple[dict[str, str], bytes]] = []
    harness.bank.webhook_target = lambda headers, body: inbox.append((dict(headers), body))
    harness.client.transfer(harness.bank.bank_id, harness.request())
    harness.bank.advance(61)
    assert inbox
    return inbox[-1]


def test_notifications_decrypt_and_ack(harness: Harness) -> None:
    headers, body = _notification(harness)
    event = harness.client.handle_notification(harness.bank.bank_id, headers, body)
    assert (event.type, event.status) == ("MCHTRANSFER.BILL.FINISHED", TransferStatus.SETTLED)
    status, _ack_headers, ack = harness.client.notification_ack(harness.bank.bank_id, event)
    assert (status, json.loads(ack)) == (200, {"code": "SUCCESS", "message": "OK"})
    assert json.loads(body)["resource"]["algorithm"] == "AEAD_AES_256_GCM"


def test_a_failed_notification_gets_the_fail_answer(harness: Harness) -> None:
    headers, body = _notification(harness)
    adapter = _adapter(harness)
    with pytest.raises(SignatureError) as raised:
        harness.client.handle_notification(harness.bank.bank_id, headers, body + b" ")
    status, _, answer = adapter.notification_nack(raised.value)
    assert (status, json.loads(answer)["code"]) == (401, "FAIL")
    assert adapter.notification_nack(ValueError("journal down"))[0] == 500


def test_a_stale_notification_is_refused(harness: Harness) -> None:
    headers, body = _notification(harness)
    harness.clock.advance(301)
    with pytest.raises(SignatureExpiredError):
        harness.client.handle_notification(harness.bank.bank_id, headers, body)


def test_a_notification_under_another_api_v3_key_does_not_decrypt(harness: Harness) -> None:
    headers, body = _notification(harness)
    adapter = _adapter(harness)
    adapter._api_v3_key = "0" * 32
    with pytest.raises(SignatureMismatchError):
        adapter.parse_notification(headers, body, harness.clock.now())


def test_config_needs_a_trust_anchor(harness: Harness) -> None:
    from walletlink.errors import ConfigurationError

    config = harness.bank.config()
    options = {k: v for k, v in config.options.items() if k != "platform_serial"}
    import attrs

    with pytest.raises(ConfigurationError):
        WeChatPayV3Adapter(attrs.evolve(config, options=options))


def test_the_bill_body_matches_the_independent_sdks(harness: Harness) -> None:
    """wechatpayv3's mch_transfer_bills builds the same fields from the same values."""
    from wechatpayv3 import mchtransfer

    captured: dict[str, Any] = {}

    class _Core:
        def request(self, path: str, method: Any = None, data: Any = None, **_: Any) -> None:
            captured.update(path=path, data=data)

    class _Sdk:
        _core = _Core()
        _appid = "wxd678efh567hg6787"
        _notify_url = "https://wallet.example/wechatpay/notify"

    request = harness.request()
    harness.client.transfer(harness.bank.bank_id, request)
    ours = json.loads(next(r.body for r, _ in harness.sent if r.method == "POST") or b"")
    mchtransfer.mch_transfer_bills(
        _Sdk(),
        out_bill_no=ours["out_bill_no"],
        transfer_scene_id="1000",
        openid=request.creditor.account.value,
        transfer_amount=1230,
        transfer_remark=request.remittance,
        transfer_scene_report_infos=ours["transfer_scene_report_infos"],
    )
    assert captured["path"] == "/v3/fund-app/mch-transfer/transfer-bills"
    assert captured["data"] == ours
