"""The cn_openapi adapter: request signing, raw-substring reply verification, AES, the status,
reason and gateway-error tables, notifications, and the shared conformance suite."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import attrs
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from walletlink._retry import RetryPolicy
from walletlink.accounts import AccountId, Iban, LocalAccount
from walletlink.adapters.base import Flow, TransferRef
from walletlink.client import Client, Hooks
from walletlink.errors import (
    AuthenticationError,
    BankRejectedError,
    BankUnavailableError,
    ConfigurationError,
    ProtocolError,
    SignatureError,
    SignatureMismatchError,
    UnknownOutcomeError,
    ValidationError,
)
from walletlink.http import PreparedRequest, RawResponse
from walletlink.models import Party, ReasonCode, Transfer, TransferRequest, TransferStatus
from walletlink.money import Money
from walletlink.protocols.cn_openapi.adapter import (
    REASON_MAP,
    STATUS_MAP,
    CnOpenApiAdapter,
    identity_type,
    map_reason,
    map_status,
)
from walletlink.protocols.cn_openapi.mock import CnOpenApiServer, GatewayFailure, cn_openapi_config
from walletlink.signing.params import (
    china_timestamp,
    sign_content,
    sign_notification,
    verify_content,
    verify_notification_form,
)
from walletlink.testing.clock import FakeClock
from walletlink.testing.conformance import AdapterConformance
from walletlink.testing.mockbank import MockBank

PAYER = "2088101117955611"
PAYEE = "2088102177958114"
POOR = "2088103300000009"
AES_KEY = base64.b64encode(bytes(range(16))).decode()
METHOD = "alipay.fund.trans.uni.transfer"
NODE = "alipay_fund_trans_uni_transfer_response"


class TestCnOpenApiConformance(AdapterConformance):
    protocol = "cn_openapi"
    currency = "CNY"
    payment_path = "/gateway.do"

    def refused_requests(self, bank: MockBank) -> list[TransferRequest]:
        """What the gateway cannot carry: euros, an IBAN payee, an out_biz_no with a dot or
        longer than 64 characters."""
        _, creditor = self._accounts(bank)
        return [
            *super().refused_requests(bank),
            self._request(bank, amount=Money("12.30", "EUR")),
            self._request(
                bank, creditor=attrs.evolve(creditor, account=Iban("GB33BUKB20201555555555"))
            ),
            self._request(bank, idempotency_key="order.42"),
            self._request(bank, idempotency_key="k" * 65),
        ]

    def accounts(self, bank: MockBank) -> tuple[AccountId, Party]:
        debtor = bank.open_account(LocalAccount(PAYER), Money("1000.00", "CNY"))
        creditor = bank.open_account(LocalAccount(PAYEE), Money("0.00", "CNY"))
        return debtor, Party(name="Li Lei", account=creditor)

    def poor_account(self, bank: MockBank) -> AccountId:
        return bank.open_account(LocalAccount(POOR), Money("1.00", "CNY"))


# -- fixtures and helpers -----------------------------------------------------------------------


def _gateway(bank: MockBank) -> CnOpenApiServer:
    server = bank.server
    assert isinstance(server, CnOpenApiServer)
    return server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bank(clock: FakeClock) -> Iterator[MockBank]:
    bank = MockBank("cn_openapi", clock=clock, aes_key=AES_KEY)
    bank.open_account(LocalAccount(PAYER), Money("1000.00", "CNY"))
    bank.open_account(LocalAccount(PAYEE), Money("0.00", "CNY"), name="Li Lei")
    yield bank
    bank.close()


def _client(
    bank: MockBank, clock: FakeClock, *, hooks: Hooks | None = None, **options: Any
) -> Client:
    retry = RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(1))
    client = Client([cn_openapi_config(bank, **options)], retry=retry, hooks=hooks, clock=clock.now)
    bank.mount(client.session)
    return client


@pytest.fixture
def client(bank: MockBank, clock: FakeClock) -> Iterator[Client]:
    client = _client(bank, clock)
    yield client
    client.close()


def _request(amount: str = "12.30", payee: str = PAYEE, **changes: Any) -> TransferRequest:
    fields: dict[str, Any] = {
        "amount": Money(amount, "CNY"),
        "debtor_account": LocalAccount(PAYER),
        "creditor": Party(name="Li Lei", account=LocalAccount(payee)),
        "remittance": "红包 for lunch",
    }
    fields.update(changes)
    return TransferRequest(**fields)


def _finish(flow: Flow[Any], response: RawResponse) -> Any:
    with pytest.raises(StopIteration) as stop:
        flow.send(response)
    return stop.value.value


def _signed_reply(
    bank: MockBank, node_text: str, *, name: str = NODE, layout: str = '{{{n}:{t},"sign":"{s}"}}'
) -> RawResponse:
    """A reply around ``node_text`` exactly as given, in any ``layout`` (spacing, member
    order): what ``sign_sync_response``, which writes the gateway's compact layout, cannot."""
    key = _gateway(bank).gateway_key
    sign = base64.b64encode(key.sign(node_text.encode(), padding.PKCS1v15(), hashes.SHA256()))
    body = layout.format(n=json.dumps(name), t=node_text, s=sign.decode())
    return RawResponse(status=200, headers={}, body=body.encode())


def _form(request: PreparedRequest) -> dict[str, str]:
    assert request.body is not None
    return dict(parse_qsl(request.body.decode(), keep_blank_values=True, strict_parsing=True))


# -- requests -----------------------------------------------------------------------------------


def test_request_carries_the_public_parameters_and_a_signature_the_mock_accepts(
    bank: MockBank, clock: FakeClock
) -> None:
    adapter = CnOpenApiAdapter(
        cn_openapi_config(bank, encrypt=False, notify_url="https://w.test/n")
    )
    request = _request()
    flow = adapter.create_transfer(request, "wl_1")
    prepared = next(flow)
    signer = adapter.signer()
    signed = signer(prepared, bank.base_url + "/gateway.do", clock.now())
    params = _form(signed)
    expected_public = {
        "app_id": _gateway(bank).app_id,
        "method": METHOD,
        "format": "JSON",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": china_timestamp(clock.now()),
        "version": "1.0",
        "notify_url": "https://w.test/n",
    }
    assert expected_public == {k: params[k] for k in expected_public}
    assert params["timestamp"] == "2026-01-05 17:00:00"  # 09:00 UTC is 17:00 in China
    biz = json.loads(params["biz_content"])
    assert {
        "out_biz_no": request.idempotency_key,
        "trans_amount": "12.30",
        "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER",
        "order_title": "walletlink transfer",
        "remark": "红包 for lunch",
        "payee_info": {"identity": PAYEE, "identity_type": "ALIPAY_USER_ID", "name": "Li Lei"},
        "payer_info": {"identity": PAYER, "identity_type": "ALIPAY_USER_ID"},
    } == biz
    # The sign covers the sorted parameters, sign_type included, with the app's key.
    verify_content(sign_content(params), params["sign"], _gateway(bank).app_public_key)
    transfer = _finish(flow, _post(bank, signed))
    assert TransferStatus.PROCESSING is transfer.status


def _post(bank: MockBank, request: PreparedRequest) -> RawResponse:
    from walletlink.testing._http import MockRequest

    mock = MockRequest.build(
        "POST", bank.base_url + request.path, headers=request.headers, body=request.body or b""
    )
    answer = bank.handle(mock)
    return RawResponse(status=answer.status, headers=dict(answer.headers), body=answer.body)


def test_a_tampered_request_is_refused_by_the_gateway(bank: MockBank, clock: FakeClock) -> None:
    adapter = CnOpenApiAdapter(cn_openapi_config(bank, encrypt=False))
    request = _request()
    flow = adapter.create_transfer(request, "wl_1")
    signed = adapter.signer()(next(flow), bank.base_url, clock.now())
    params = _form(signed)
    params["biz_content"] = params["biz_content"].replace("12.30", "99.30")
    tampered = attrs.evolve(signed, body=urlencode(params).encode())
    reply = _post(bank, tampered)
    assert b'"sub_code":"isv.invalid-signature"' in reply.body
    with pytest.raises(AuthenticationError, match=r"isv\.invalid-signature"):
        _finish(flow, reply)
    assert bank.transfers() == []


def test_each_attempt_gets_a_fresh_timestamp(bank: MockBank, clock: FakeClock) -> None:
    """A retry minutes later must not be refused as stale: the signer stamps every attempt."""
    adapter = CnOpenApiAdapter(cn_openapi_config(bank))
    prepared = next(adapter.create_transfer(_request(), "wl_1"))
    first = _form(adapter.signer()(prepared, "", clock.now()))
    clock.advance(3600)
    second = _form(adapter.signer()(prepared, "", clock.now()))
    assert (
        first["timestamp"],
        second["timestamp"],
    ) == ("2026-01-05 17:00:00", "2026-01-05 18:00:00")
    assert first["biz_content"] == second["biz_content"]  # same out_biz_no, same transfer


def test_json_request_format(bank: MockBank, clock: FakeClock) -> None:
    client = _client(bank, clock, format="json", encrypt=False)
    try:
        transfer = client.transfer(bank.bank_id, _request())
        assert TransferStatus.PROCESSING is transfer.status
        bank.advance(61)
        assert TransferStatus.SETTLED is client.get_transfer(transfer.id).status
    finally:
        client.close()


# -- replies ------------------------------------------------------------------------------------


def test_reply_is_verified_over_the_raw_node_text(bank: MockBank) -> None:
    """Spacing, key order and escapes no re-serialisation would reproduce still verify."""
    adapter = CnOpenApiAdapter(cn_openapi_config(bank, encrypt=False))
    request = _request()
    node = (
        '{ "status" : "SUCCESS",\n  "order_id":"2026\\u00301",'
        f'"out_biz_no": "{request.idempotency_key}", "code":"10000", "msg":"Success",'
        ' "pay_fund_order_id":"p1", "trans_date":"2026-01-05 17:00:00" }'
    )
    reply = _signed_reply(bank, node, layout='{{\n  "sign" : "{s}" ,\n  {n} : {t}\n}}')
    flow = adapter.create_transfer(request, "wl_1")
    next(flow)
    transfer = _finish(flow, reply)
    assert (transfer.bank_transfer_id, transfer.status) == ("20260" + "1", TransferStatus.SETTLED)
    parsed = json.loads(reply.body)[NODE]
    key = _gateway(bank).gateway_key.public_key()
    sign = json.loads(reply.body)["sign"]
    with pytest.raises(SignatureMismatchError):  # what a re-serialising verifier would check
        verify_content(json.dumps(parsed, separators=(",", ":")), sign, key)


def test_a_tampered_reply_raises(bank: MockBank) -> None:
    adapter = CnOpenApiAdapter(cn_openapi_config(bank, encrypt=False))
    request = _request()
    node = (
        f'{{"code":"10000","msg":"Success","out_biz_no":"{request.idempotency_key}",'
        '"order_id":"1","status":"DEALING"}'
    )
    reply = _signed_reply(bank, node)
    forged = RawResponse(status=200, headers={}, body=reply.body.replace(b"DEALING", b"SUCCESS"))
    flow = adapter.create_transfer(request, "wl_1")
    next(flow)
    with pytest.raises(SignatureMismatchError):
        _finish(flow, forged)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"<html>busy</html>", ProtocolError),
        (b'{"sign":"x"}', ProtocolError),
        (
            f'{{"{NODE}":{{"code":"10000"}},"{NODE}":{{"code":"10000"}},"sign":"x"}}'.encode(),
            SignatureMismatchError,
        ),
        (f'{{"{NODE}":{{"code":"10000"}}}}'.encode(), SignatureError),
    ],
    ids=["not-json", "no-node", "node-twice", "unsigned-node"],
)
def test_hostile_replies_raise(bank: MockBank, body: bytes, error: type[Exception]) -> None:
    adapter = CnOpenApiAdapter(cn_openapi_config(bank))
    flow = adapter.create_transfer(_request(), "wl_1")
    next(flow)
    with pytest.raises(error):
        _finish(flow, RawResponse(status=200, headers={}, body=body))


def test_a_signed_reply_about_another_order_raises(bank: MockBank) -> None:
    adapter = CnOpenApiAdapter(cn_openapi_config(bank, encrypt=False))
    node = (
        '{"code":"10000","msg":"Success","out_biz_no":"someone-else",'
        '"order_id":"1","status":"SUCCESS"}'
    )
    flow = adapter.create_transfer(_request(), "wl_1")
    next(flow)
    with pytest.raises(ProtocolError, match="on idempotency key"):
        _finish(flow, _signed_reply(bank, node))


def test_aes_round_trip_through_the_mock(bank: MockBank, clock: FakeClock) -> None:
    sent: list[PreparedRequest] = []
    received: list[RawResponse] = []
    hooks = Hooks(
        on_request=lambda bank_id, request, url: sent.append(request),
        on_response=lambda bank_id, response: received.append(response),
    )
    client = _client(bank, clock, hooks=hooks)
    try:
        request = _request()
        transfer = client.transfer(bank.bank_id, request)
        assert TransferStatus.PROCESSING is transfer.status
    finally:
        client.close()
    params = _form(sent[0])
    assert params["encrypt_type"] == "AES"
    assert request.idempotency_key not in params["biz_content"]  # not sent in clear
    reply = json.loads(received[0].body)
    assert isinstance(reply[NODE], str)  # the node travels encrypted, signed as sent
    assert request.idempotency_key.encode() not in received[0].body


# -- tables -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("SUCCESS", TransferStatus.SETTLED),
        ("DEALING", TransferStatus.PROCESSING),
        ("WAIT_PAY", TransferStatus.PROCESSING),
        ("FAIL", TransferStatus.REJECTED),
        ("REFUND", TransferStatus.RETURNED),
        ("CLOSED", TransferStatus.CANCELLED),
        ("INIT", TransferStatus.UNKNOWN),
        (None, TransferStatus.UNKNOWN),
    ],
)
def test_status_table(raw: str | None, expected: TransferStatus) -> None:
    assert expected is map_status(raw)


def test_status_table_is_the_documented_one() -> None:
    assert {"SUCCESS", "DEALING", "WAIT_PAY", "FAIL", "REFUND", "CLOSED"} == set(STATUS_MAP)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("PAYER_BALANCE_NOT_ENOUGH", ReasonCode.INSUFFICIENT_FUNDS),
        ("BALANCE_IS_NOT_ENOUGH", ReasonCode.INSUFFICIENT_FUNDS),
        ("PAYEE_NOT_EXIST", ReasonCode.ACCOUNT_UNKNOWN),
        ("PAYEE_USERINFO_ERROR", ReasonCode.INVALID_CREDITOR),
        ("EXCEED_LIMIT_DM_AMOUNT", ReasonCode.LIMIT_EXCEEDED),
        ("EXCEED_LIMIT_SM_MIN_AMOUNT", ReasonCode.INVALID_AMOUNT),
        ("SOMETHING_NEW", ReasonCode.OTHER),
    ],
)
def test_reason_table_keeps_the_raw_code(raw: str, expected: ReasonCode) -> None:
    reason = map_reason(raw, "why")
    assert (expected, raw, "why") == (reason.code, reason.raw_code, reason.message)
    assert raw not in REASON_MAP or REASON_MAP[raw] is expected


@pytest.mark.parametrize(
    ("code", "sub_code", "error", "standard"),
    [
        ("20001", "aop.invalid-auth-token", AuthenticationError, None),
        ("40001", "isv.missing-biz-param", BankRejectedError, "other"),
        ("40002", "isv.invalid-parameter", BankRejectedError, "other"),
        ("40006", "isv.insufficient-isv-permissions", BankRejectedError, "authorisation_failed"),
        ("20000", "isp.unknow-error", BankUnavailableError, None),
    ],
)
def test_gateway_codes_map_onto_the_error_tree(
    bank: MockBank,
    client: Client,
    code: str,
    sub_code: str,
    error: type[Exception],
    standard: str | None,
) -> None:
    _gateway(bank).failures.append(GatewayFailure(code, sub_code))
    with pytest.raises(error) as raised:
        client.balances(bank.bank_id, LocalAccount(PAYER))
    if standard is not None:
        assert isinstance(raised.value, BankRejectedError)
        assert (standard, sub_code) == (raised.value.code, raised.value.raw_code)


@pytest.mark.parametrize(
    ("code", "sub_code"), [("20000", "isp.unknow-error"), ("40004", "SYSTEM_ERROR")]
)
def test_an_unavailable_gateway_leaves_a_transfer_unknown_then_resolved(
    bank: MockBank, client: Client, code: str, sub_code: str
) -> None:
    """20000 arrives as HTTP 200: the transfer is journalled unknown and found by out_biz_no."""
    _gateway(bank).failures.append(GatewayFailure(code, sub_code))
    request = _request()
    with pytest.raises(UnknownOutcomeError):
        client.transfer(bank.bank_id, request)
    resolved = client.resolve_unknown(bank.bank_id)
    assert [request.idempotency_key] == [t.idempotency_key for t in resolved]
    assert len(bank.transfers()) == 1  # resent once under the same out_biz_no, not twice


def test_business_decline_is_a_rejected_value(bank: MockBank, client: Client) -> None:
    transfer = client.transfer(bank.bank_id, _request(payee="2088109999999999"))
    assert TransferStatus.REJECTED is transfer.status
    assert transfer.reason is not None
    assert (
        transfer.reason.code,
        transfer.reason.raw_code,
    ) == (ReasonCode.ACCOUNT_UNKNOWN, "PAYEE_NOT_EXIST")


def test_insufficient_funds_is_kept_on_lookup(bank: MockBank, client: Client) -> None:
    transfer = client.transfer(bank.bank_id, _request(amount="5000.00"))
    assert transfer.reason is not None
    assert transfer.reason.raw_code == "PAYER_BALANCE_NOT_ENOUGH"
    looked_up = client.get_transfer(transfer.id)
    assert looked_up.reason is not None
    assert (
        looked_up.status,
        looked_up.reason.code,
        looked_up.reason.raw_code,
    ) == (TransferStatus.REJECTED, ReasonCode.INSUFFICIENT_FUNDS, "PAYER_BALANCE_NOT_ENOUGH")


def test_unknown_app_id_is_an_authentication_error(bank: MockBank, clock: FakeClock) -> None:
    config = cn_openapi_config(bank)
    config = attrs.evolve(config, options={**config.options, "app_id": "2021999999999999"})
    client = Client([config], clock=clock.now)
    bank.mount(client.session)
    try:
        with pytest.raises(AuthenticationError, match=r"isv\.invalid-app-id"):
            client.balances(bank.bank_id, LocalAccount(PAYER))
    finally:
        client.close()


def test_a_skewed_clock_is_refused_as_a_bad_timestamp(bank: MockBank, clock: FakeClock) -> None:
    client = Client([cn_openapi_config(bank)], clock=lambda: clock.now() + timedelta(hours=1))
    bank.mount(client.session)
    try:
        with pytest.raises(BankRejectedError) as raised:
            client.balances(bank.bank_id, LocalAccount(PAYER))
        assert raised.value.raw_code == "isv.invalid-timestamp"
    finally:
        client.close()


# -- lookups, accounts --------------------------------------------------------------------------


def test_find_transfer_asks_by_the_same_out_biz_no(bank: MockBank, clock: FakeClock) -> None:
    adapter = CnOpenApiAdapter(cn_openapi_config(bank, encrypt=False))
    request = _request()
    ref = TransferRef(transfer_id="wl_1", idempotency_key=request.idempotency_key)
    flow = adapter.find_transfer(ref, request)
    prepared = adapter.signer()(next(flow), "", clock.now())
    params = _form(prepared)
    assert params["method"] == "alipay.fund.trans.common.query"
    assert request.idempotency_key == json.loads(params["biz_content"])["out_biz_no"]
    assert _finish(flow, _post(bank, prepared)) is None  # ORDER_NOT_EXIST: never sent


def test_balances_and_account_log(bank: MockBank, client: Client) -> None:
    transfer = client.transfer(bank.bank_id, _request())
    balances = client.balances(bank.bank_id, LocalAccount(PAYER))
    assert [Money("987.70", "CNY"), Money("1000.00", "CNY")] == [b.amount for b in balances]
    bank.advance(61)
    assert TransferStatus.SETTLED is client.get_transfer(transfer.id).status
    day = bank.clock.now().date()
    lines = list(client.transactions(bank.bank_id, LocalAccount(PAYEE), day, day))
    assert [(Money("12.30", "CNY"), "credit", "红包 for lunch")] == [
        (t.amount, t.direction.value, t.remittance) for t in lines
    ]


# -- notifications ------------------------------------------------------------------------------


@pytest.fixture
def settled(bank: MockBank, client: Client) -> tuple[Transfer, dict[str, str], bytes]:
    inbox: list[tuple[dict[str, str], bytes]] = []
    bank.webhook_target = lambda headers, body: inbox.append((dict(headers), body))
    transfer = client.transfer(bank.bank_id, _request())
    bank.advance(61)
    headers, body = inbox[-1]
    return transfer, headers, body


def test_notification_is_verified_applied_and_acknowledged(
    bank: MockBank, client: Client, settled: tuple[Transfer, dict[str, str], bytes]
) -> None:
    transfer, headers, body = settled
    params = verify_notification_form(body, _gateway(bank).gateway_key.public_key())
    event = client.handle_notification(bank.bank_id, headers, body)
    assert (params["notify_id"], TransferStatus.SETTLED, transfer.id, False) == (
        event.id,
        event.status,
        event.transfer_id,
        event.duplicate,
    )
    assert "sign" not in event.data
    assert client.handle_notification(bank.bank_id, headers, body).duplicate
    assert client.notification_ack(bank.bank_id, event) == (
        200,
        {"Content-Type": "text/plain"},
        b"success",
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"SUCCESS", b"FAIL"),
        (b"12.30", b"19.30"),
        (b"sign_type=RSA2", b"sign_type=RSA"),
    ],
    ids=["status", "amount", "legacy-sign-type"],
)
def test_a_tampered_notification_raises(
    bank: MockBank,
    client: Client,
    settled: tuple[Transfer, dict[str, str], bytes],
    old: bytes,
    new: bytes,
) -> None:
    _, headers, body = settled
    tampered = body.replace(old, new)
    assert tampered != body
    with pytest.raises(SignatureError):
        client.handle_notification(bank.bank_id, headers, tampered)


def test_a_notification_for_another_app_is_refused(bank: MockBank, clock: FakeClock) -> None:
    client = _client(bank, clock)
    other = CnOpenApiAdapter(cn_openapi_config(bank))
    try:
        transfer = client.transfer(bank.bank_id, _request())
        _gateway(bank).app_id = "2021000000000002"
        bank.advance(61)
        assert TransferStatus.PROCESSING is transfer.status
        (webhook,) = bank.webhooks
        with pytest.raises(ProtocolError, match="another app_id"):
            other.parse_notification(webhook.headers, webhook.body, clock.now())
    finally:
        client.close()


# -- configuration and input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("credentials", "options", "message"),
    [
        ({}, {"app_id": "1"}, "app_private_key"),
        (
            {"app_private_key": "bm90IGEga2V5", "gateway_public_key": "x"},
            {"app_id": "1"},
            "not a PKCS#1 or PKCS#8 private key",
        ),
        (None, {}, "app_id"),
        (None, {"app_id": "1", "format": "xml"}, "format"),
        (None, {"app_id": "1", "encrypt": True}, "aes_key"),
    ],
)
def test_bad_configuration_is_refused_at_start(
    bank: MockBank, credentials: dict[str, str] | None, options: dict[str, Any], message: str
) -> None:
    fields = _gateway(bank).client_config_fields()
    creds = fields["credentials"] if credentials is None else credentials
    if credentials is None:
        creds = {k: v for k, v in creds.items() if k != "aes_key"}
    config = bank.config(credentials=creds, options=options)
    with pytest.raises(ConfigurationError, match=message) as raised:
        CnOpenApiAdapter(config)
    assert "PRIVATE KEY" not in str(raised.value)


def test_identity_types() -> None:
    assert [
        identity_type(LocalAccount(PAYEE)),
        identity_type(LocalAccount("lilei@example.com")),
        identity_type(LocalAccount("13800000000", scheme="alipay_logon_id")),
        identity_type(LocalAccount("6222020000000000", scheme="bank_card")),
    ] == [
        "ALIPAY_USER_ID",
        "ALIPAY_LOGON_ID",
        "ALIPAY_LOGON_ID",
        "BANKCARD_ACCOUNT",
    ]
    with pytest.raises(ValidationError):
        identity_type(Iban("GB33BUKB20201555555555"))


def test_non_cny_and_bad_out_biz_no_are_refused_before_io(bank: MockBank) -> None:
    adapter = CnOpenApiAdapter(cn_openapi_config(bank))
    euros = TransferRequest(
        amount=Money("1.00", "EUR"),
        debtor_account=LocalAccount(PAYER),
        creditor=Party(name="x", account=LocalAccount(PAYEE)),
    )
    with pytest.raises(ValidationError, match="CNY"):
        next(adapter.create_transfer(euros, "wl_1"))
    with pytest.raises(ValidationError, match="out_biz_no"):
        next(adapter.create_transfer(_request(idempotency_key="has.dot"), "wl_1"))


# -- untrusted data in signed replies -----------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"utc_timestamp": "9" * 30}, "utc_timestamp is out of range"),
        ({"utc_timestamp": "", "notify_time": "0001-01-01 00:00:00"}, "malformed"),
    ],
)
def test_a_notification_time_out_of_range_is_a_protocol_error(
    bank: MockBank,
    client: Client,
    settled: tuple[Transfer, dict[str, str], bytes],
    change: dict[str, str],
    error: str,
) -> None:
    _, headers, body = settled
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    params.update(change)
    params = sign_notification(params, _gateway(bank).gateway_key)
    with pytest.raises(ProtocolError, match=error):
        client.handle_notification(bank.bank_id, headers, urlencode(params).encode())


def test_a_notification_contradicting_the_amount_is_not_applied(
    bank: MockBank, client: Client, settled: tuple[Transfer, dict[str, str], bytes]
) -> None:
    transfer, headers, body = settled
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    biz = json.loads(params["biz_content"])
    biz["trans_amount"] = "9999.00"
    params["biz_content"] = json.dumps(biz)
    params = sign_notification(params, _gateway(bank).gateway_key)
    with pytest.raises(ProtocolError, match="on amount"):
        client.handle_notification(bank.bank_id, headers, urlencode(params).encode())
    record = client.journal.get(transfer.idempotency_key)
    assert record is not None
    assert record.status is TransferStatus.UNKNOWN


def test_a_query_reply_with_a_time_before_utc_can_hold_is_a_protocol_error(
    bank: MockBank,
) -> None:
    adapter = CnOpenApiAdapter(cn_openapi_config(bank, encrypt=False))
    request = _request()
    node = json.dumps(
        {
            "code": "10000",
            "msg": "Success",
            "out_biz_no": request.idempotency_key,
            "order_id": "1",
            "status": "SUCCESS",
            "trans_amount": request.amount.to_decimal_string(),
            "pay_date": "0001-01-01 00:00:00",
        }
    )
    flow = adapter.get_transfer(TransferRef(transfer_id="wl_1"), request)
    next(flow)
    with pytest.raises(ProtocolError, match="malformed"):
        _finish(flow, _signed_reply(bank, node, name="alipay_fund_trans_common_query_response"))


# -- certificate mode, ISV tokens, cancellation -------------------------------------------------


@pytest.fixture
def cert_bank(clock: FakeClock) -> Iterator[MockBank]:
    bank = MockBank("cn_openapi", clock=clock, cert_mode=True, app_auth_tokens={"tok-a": "shop a"})
    bank.open_account(LocalAccount(PAYER), Money("1000.00", "CNY"))
    bank.open_account(LocalAccount(PAYEE), Money("0.00", "CNY"), name="Li Lei")
    yield bank
    bank.close()


def test_certificate_mode_sends_the_sns_and_verifies_by_the_replys_cert_sn(
    cert_bank: MockBank, clock: FakeClock
) -> None:
    from walletlink.signing.params import alipay_cert_sn, alipay_root_cert_sn

    gateway = _gateway(cert_bank)
    adapter = CnOpenApiAdapter(cn_openapi_config(cert_bank))
    flow = adapter.create_transfer(_request(), "wl_1")
    signed = adapter.signer()(next(flow), cert_bank.base_url + "/gateway.do", clock.now())
    params = _form(signed)
    root_pem = gateway.client_config_fields()["credentials"]["alipay_root_cert"]
    assert (alipay_cert_sn(gateway.app_cert), alipay_root_cert_sn(root_pem)) == (
        params["app_cert_sn"],
        params["alipay_root_cert_sn"],
    )
    verify_content(sign_content(params), params["sign"], gateway.app_public_key)
    reply = _post(cert_bank, signed)
    assert b'"alipay_cert_sn":"' + alipay_cert_sn(gateway.gateway_cert).encode() in reply.body
    assert TransferStatus.PROCESSING is _finish(flow, reply).status


def test_a_rotated_gateway_certificate_needs_installing(
    cert_bank: MockBank, clock: FakeClock
) -> None:
    import cryptography.hazmat.primitives.asymmetric.rsa as rsa_module

    old = _client(cert_bank, clock)
    transfer = old.transfer(cert_bank.bank_id, _request())
    old_cert = _gateway(cert_bank).client_config_fields()["credentials"]["gateway_cert"]
    new_key = rsa_module.generate_private_key(public_exponent=65537, key_size=2048)
    _gateway(cert_bank).rotate_gateway_cert(new_key)
    with pytest.raises(SignatureMismatchError, match="not installed"):
        old.get_transfer(transfer.id)
    old.close()
    fields = _gateway(cert_bank).client_config_fields()
    both = {
        **fields["credentials"],
        "gateway_cert": [old_cert, fields["credentials"]["gateway_cert"]],
    }
    adapter = CnOpenApiAdapter(cert_bank.config(credentials=both, options=fields["options"]))
    ref = TransferRef(transfer_id=transfer.id, idempotency_key=transfer.idempotency_key)
    flow = adapter.get_transfer(ref, _request(idempotency_key=transfer.idempotency_key))
    signed = adapter.signer()(next(flow), cert_bank.base_url + "/gateway.do", clock.now())
    assert transfer.idempotency_key == _finish(flow, _post(cert_bank, signed)).idempotency_key


def test_a_wrong_app_cert_sn_is_refused_by_the_gateway(
    cert_bank: MockBank, clock: FakeClock
) -> None:
    adapter = CnOpenApiAdapter(cn_openapi_config(cert_bank))
    flow = adapter.balances(LocalAccount(PAYER))
    prepared = next(flow)
    params = _form(prepared)
    params["app_cert_sn"] = "0" * 32
    tampered = attrs.evolve(prepared, body=urlencode(params).encode())
    signed = adapter.signer()(tampered, cert_bank.base_url + "/gateway.do", clock.now())
    with pytest.raises(BankRejectedError) as raised:
        _finish(flow, _post(cert_bank, signed))
    assert raised.value.raw_code == "isv.invalid-app-cert-sn"


def test_app_auth_token_per_bank_and_per_merchant(cert_bank: MockBank, clock: FakeClock) -> None:
    fields = _gateway(cert_bank).client_config_fields()
    creds = {**fields["credentials"], "app_auth_tokens": {"shop-a": "tok-a", "shop-b": "tok-b"}}
    adapter = CnOpenApiAdapter(cert_bank.config(credentials=creds, options=fields["options"]))
    assert "app_auth_token" not in _form(next(adapter.balances(LocalAccount(PAYER))))
    shop_a = _request(metadata={"app_auth_merchant": "shop-a"})
    flow = adapter.create_transfer(shop_a, "wl_1")
    signed = adapter.signer()(next(flow), cert_bank.base_url + "/gateway.do", clock.now())
    assert _form(signed)["app_auth_token"] == "tok-a"
    assert TransferStatus.PROCESSING is _finish(flow, _post(cert_bank, signed)).status
    # The order is shop a's: asked for without its token, the gateway does not know it.
    ref = TransferRef(transfer_id="wl_1", idempotency_key=shop_a.idempotency_key)
    plain = _request(idempotency_key=shop_a.idempotency_key)
    flow = adapter.find_transfer(ref, plain)
    signed = adapter.signer()(next(flow), cert_bank.base_url + "/gateway.do", clock.now())
    assert _finish(flow, _post(cert_bank, signed)) is None
    with pytest.raises(ValidationError, match="app_auth_merchant"):
        adapter.validate(_request(metadata={"app_auth_merchant": "shop-z"}))
    flow = adapter.create_transfer(_request(metadata={"app_auth_merchant": "shop-b"}), "wl_2")
    signed = adapter.signer()(next(flow), cert_bank.base_url + "/gateway.do", clock.now())
    with pytest.raises(AuthenticationError, match=r"aop\.invalid-app-auth-token"):
        _finish(flow, _post(cert_bank, signed))
    creds["app_auth_token"] = "tok-a"
    adapter = CnOpenApiAdapter(cert_bank.config(credentials=creds, options=fields["options"]))
    assert _form(next(adapter.balances(LocalAccount(PAYER))))["app_auth_token"] == "tok-a"
    assert "tok-a" not in repr(adapter._settings)


def test_payouts_have_no_cancellation() -> None:
    """alipay.fund.trans.uni.transfer has no close or cancel: the adapter claims none."""
    from walletlink.adapters.base import Cancellation
    from walletlink.models import Capability

    assert Capability.CANCEL not in CnOpenApiAdapter.capabilities
    assert not hasattr(CnOpenApiAdapter, "cancel_transfer")
    assert not issubclass(CnOpenApiAdapter, Cancellation)


def test_certificate_mode_notifications_verify_with_any_installed_certificate(
    cert_bank: MockBank, clock: FakeClock
) -> None:
    import cryptography.hazmat.primitives.asymmetric.rsa as rsa_module

    inbox: list[tuple[dict[str, str], bytes]] = []
    cert_bank.webhook_target = lambda headers, body: inbox.append((dict(headers), body))
    old_cert = _gateway(cert_bank).client_config_fields()["credentials"]["gateway_cert"]
    _gateway(cert_bank).rotate_gateway_cert(
        rsa_module.generate_private_key(public_exponent=65537, key_size=2048)
    )
    fields = _gateway(cert_bank).client_config_fields()
    creds = fields["credentials"]
    both = {**creds, "gateway_cert": old_cert + "\n" + creds["gateway_cert"]}
    retry = RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(1))
    config = cert_bank.config(credentials=both, options=fields["options"])
    with Client([config], retry=retry, clock=clock.now) as client:
        cert_bank.mount(client.session)
        transfer = client.transfer(cert_bank.bank_id, _request())
        cert_bank.advance(61)
        headers, body = inbox[-1]
        event = client.handle_notification(cert_bank.bank_id, headers, body)
        assert (transfer.id, TransferStatus.SETTLED) == (event.transfer_id, event.status)
    only_old = {**creds, "gateway_cert": old_cert}
    adapter = CnOpenApiAdapter(cert_bank.config(credentials=only_old, options=fields["options"]))
    with pytest.raises(SignatureMismatchError):
        adapter.parse_notification(headers, body, clock.now())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"app_auth_token": ""}, "app_auth_token is"),
        ({"app_auth_token": "s" * 129}, "app_auth_token is"),
        ({"app_auth_tokens": {"shop": 7}}, "app_auth_tokens maps"),
        ({"app_auth_tokens": ["zzsecret"]}, "app_auth_tokens maps"),
    ],
)
def test_bad_app_auth_tokens_are_refused_at_start(
    bank: MockBank, extra: dict[str, Any], message: str
) -> None:
    fields = _gateway(bank).client_config_fields()
    config = bank.config(credentials={**fields["credentials"], **extra}, options=fields["options"])
    with pytest.raises(ConfigurationError, match=message) as raised:
        CnOpenApiAdapter(config)
    assert "sss" not in str(raised.value)
    assert "zzsecret" not in str(raised.value)
