"""The cn_bank_sm adapter against its mock gateway, in both bank styles: the conformance suite,
and what is particular to SM2/SM4 envelopes (profiles, reply checks, errors, notifications)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import attrs
import pytest

from walletlink._retry import RetryPolicy
from walletlink.accounts import AccountId, Iban, LocalAccount
from walletlink.client import Client
from walletlink.config import BankConfig
from walletlink.errors import (
    AuthenticationError,
    BankRejectedError,
    BankUnavailableError,
    ConfigurationError,
    SignatureError,
    SignatureExpiredError,
    UnknownOutcomeError,
    ValidationError,
)
from walletlink.http import RawResponse
from walletlink.journal import MemoryJournal
from walletlink.models import Party, ReasonCode, TransferRequest, TransferStatus
from walletlink.money import Money
from walletlink.protocols.cn_bank_sm._wire import PROFILES, profile_from
from walletlink.protocols.cn_bank_sm.adapter import CnBankSmAdapter
from walletlink.protocols.cn_bank_sm.mock import CnBankSmServer, GatewayFailure
from walletlink.signing.sm import Sm2PrivateKey
from walletlink.testing.clock import FakeClock
from walletlink.testing.conformance import AdapterConformance
from walletlink.testing.faults import FaultPlan
from walletlink.testing.mockbank import MockBank

PAYER = "6222021234567890123"
PAYEE = "6217001234567890"
POOR = "6222029999999999"


class TestCnBankSmConformance(AdapterConformance):
    protocol = "cn_bank_sm"
    currency = "CNY"
    payment_path = "/api/transfer/create"

    def refused_requests(self, bank: MockBank) -> list[TransferRequest]:
        """Euros, an IBAN payee, an outBizNo with a dot or over 64 characters."""
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
        creditor = bank.open_account(LocalAccount(PAYEE), Money("0.00", "CNY"), name="Li Lei")
        return debtor, Party(name="Li Lei", account=creditor)

    def poor_account(self, bank: MockBank) -> AccountId:
        return bank.open_account(LocalAccount(POOR), Money("1.00", "CNY"))


class TestCnBankSmCmbStyleConformance(TestCnBankSmConformance):
    """The same suite with the CMB-style profile: signature in a field, DER hex, SM4-CBC."""

    def make_bank(self, clock: FakeClock, faults: FaultPlan) -> MockBank:
        return MockBank(
            self.protocol, clock=clock, faults=faults, settle_after=self.settle_after, profile="cmb"
        )


# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["cib", "cmb"])
def bank(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[MockBank]:
    bank = MockBank("cn_bank_sm", clock=clock, profile=request.param)
    bank.open_account(LocalAccount(PAYER), Money("100.00", "CNY"))
    bank.open_account(LocalAccount(PAYEE), Money("0.00", "CNY"), name="Li Lei")
    yield bank
    bank.close()


def _server(bank: MockBank) -> CnBankSmServer:
    assert isinstance(bank.server, CnBankSmServer)
    return bank.server


def _client(bank: MockBank, clock: FakeClock, **overrides: Any) -> Client:
    retry = RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(1))
    client = Client(
        [bank.config(**overrides)], journal=MemoryJournal(), retry=retry, clock=clock.now
    )
    bank.mount(client.session)
    return client


def _request(amount: str = "12.30", **changes: Any) -> TransferRequest:
    base = TransferRequest(
        amount=Money(amount, "CNY"),
        debtor_account=LocalAccount(PAYER),
        creditor=Party(name="Li Lei", account=LocalAccount(PAYEE)),
        remittance="工资",
    )
    return attrs.evolve(base, **changes) if changes else base


# -- behaviour ----------------------------------------------------------------------------------


def test_transfer_settles_and_is_found_by_out_biz_no(bank: MockBank, clock: FakeClock) -> None:
    client = _client(bank, clock)
    request = _request()
    transfer = client.transfer(bank.bank_id, request)
    assert (TransferStatus.PENDING, Money("12.30", "CNY")) == (transfer.status, transfer.amount)
    bank.advance(61)
    assert client.get_transfer(transfer.id).status == TransferStatus.SETTLED
    assert Money("87.70", "CNY") == bank.balance(PAYER)
    client.close()


def test_the_wire_is_signed_and_encrypted_as_the_profile_says(
    bank: MockBank, clock: FakeClock
) -> None:
    seen: list[tuple[dict[str, str], bytes]] = []
    answer = bank.handle

    def spy(request: Any) -> Any:
        seen.append((dict(request.headers), request.body))
        return answer(request)

    bank.handle = spy  # type: ignore[method-assign]
    client = _client(bank, clock)
    client.transfer(bank.bank_id, _request())
    client.close()
    profile = _server(bank).profile
    headers, body = seen[0]
    fields = json.loads(body)
    assert {profile.app_id_field, profile.timestamp_field, profile.nonce_field} <= set(fields)
    assert PAYER.encode() not in body
    assert "工资".encode() not in body
    if profile.sign_location == "header":
        assert profile.sign_name in headers
    else:
        assert len(fields[profile.sign_name]) > 128  # DER in hex


def test_business_refusals_are_rejection_values(bank: MockBank, clock: FakeClock) -> None:
    bank.open_account(LocalAccount("6222000000000077"), Money("0.00", "CNY"), name="Han Meimei")
    client = _client(bank, clock)
    wrong_name = _request(creditor=Party(name="Wang Wu", account=LocalAccount("6222000000000077")))
    transfer = client.transfer(bank.bank_id, wrong_name)
    assert transfer.reason is not None
    assert (
        transfer.status,
        transfer.reason.code,
        transfer.reason.raw_code,
    ) == (TransferStatus.REJECTED, ReasonCode.INVALID_CREDITOR, "PAYEE_NAME_MISMATCH")
    unknown = _request(creditor=Party(name="Nobody", account=LocalAccount("6222000000000088")))
    assert client.transfer(bank.bank_id, unknown).reason.code == ReasonCode.ACCOUNT_UNKNOWN  # type: ignore[union-attr]
    client.close()


def test_system_busy_on_a_transfer_is_unknown_then_resolved(
    bank: MockBank, clock: FakeClock
) -> None:
    """SYSTEM_BUSY before execution: UNKNOWN, then the lookup by outBizNo finds no order and
    the client sends the same intent under the same key: one transfer at the bank."""
    client = _client(bank, clock)
    _server(bank).failures.append(GatewayFailure("SYSTEM_BUSY"))
    request = _request()
    with pytest.raises(UnknownOutcomeError):
        client.transfer(bank.bank_id, request)
    assert bank.transfers() == []
    resolved = client.resolve_unknown(bank.bank_id)
    assert [(request.idempotency_key, TransferStatus.PENDING)] == [
        (t.idempotency_key, t.status) for t in resolved
    ]
    assert [request.idempotency_key] == [t.idempotency_key for t in bank.transfers()]
    client.close()


def test_a_reply_signed_by_another_key_is_refused(bank: MockBank, clock: FakeClock) -> None:
    stranger = Sm2PrivateKey.generate()
    client = _client(
        bank,
        clock,
        credentials={**bank.config().credentials, "bank_public_key": stranger.public_key.to_pem()},
    )
    with pytest.raises(SignatureError):
        client.balances(bank.bank_id, LocalAccount(PAYER))
    client.close()


def test_a_stale_reply_is_refused(bank: MockBank, clock: FakeClock) -> None:
    adapter = CnBankSmAdapter(bank.config())
    server = _server(bank)
    reply = server._answer(server.profile.success_code, "success", {})
    response = RawResponse(status=200, headers=dict(reply.headers), body=reply.body)
    adapter.response_verifier()(response, clock.now())
    with pytest.raises(SignatureExpiredError):
        adapter.response_verifier()(response, clock.now() + timedelta(minutes=6))


def test_the_gateway_refuses_a_wrong_app_key(bank: MockBank, clock: FakeClock) -> None:
    """Our signature with a key the bank does not hold: SIGN_ERROR, an AuthenticationError."""
    credentials = {
        **bank.config().credentials,
        "app_private_key": Sm2PrivateKey.generate().to_pem(),
    }
    client = _client(bank, clock, credentials=credentials)
    with pytest.raises(AuthenticationError):
        client.balances(bank.bank_id, LocalAccount(PAYER))
    client.close()


def test_busy_balance_read_is_unavailable(bank: MockBank, clock: FakeClock) -> None:
    client = _client(bank, clock)
    _server(bank).failures.append(GatewayFailure("SYSTEM_BUSY"))
    with pytest.raises(BankUnavailableError):
        client.balances(bank.bank_id, LocalAccount(PAYER))
    client.close()


def test_transactions_follow_pages_of_two(bank: MockBank, clock: FakeClock) -> None:
    client = _client(bank, clock, options={**bank.config().options, "page_size": 2})
    for index in range(5):
        client.transfer(bank.bank_id, _request(f"{index + 1}.00"))
    bank.advance(61)
    today = clock.now().date()
    booked = list(
        client.transactions(bank.bank_id, LocalAccount(PAYER), today, today + timedelta(days=1))
    )
    assert sorted(t.amount.minor_units for t in booked) == [100, 200, 300, 400, 500]
    client.close()


def test_notification_ack_is_the_profiles(bank: MockBank, clock: FakeClock) -> None:
    inbox: list[tuple[dict[str, str], bytes]] = []
    bank.webhook_target = lambda headers, body: inbox.append((dict(headers), body))
    client = _client(bank, clock)
    transfer = client.transfer(bank.bank_id, _request())
    bank.advance(61)
    event = client.handle_notification(bank.bank_id, *inbox[-1])
    adapter = client.adapter(bank.bank_id)
    assert (transfer.idempotency_key, TransferStatus.SETTLED) == (
        event.idempotency_key,
        event.status,
    )
    assert _server(bank).profile.ack_body == adapter.notification_ack(event)[2]
    client.close()


def test_validate_refuses_non_cn_accounts(bank: MockBank) -> None:
    adapter = CnBankSmAdapter(bank.config())
    with pytest.raises(ValidationError, match="Chinese bank account"):
        adapter.validate(_request(debtor_account=LocalAccount("ABC123")))
    adapter.validate(_request())


def test_configuration_errors(bank: MockBank) -> None:
    config = bank.config()
    for change in (
        {"credentials": {**config.credentials, "sm4_key": "00"}},
        {"credentials": {**config.credentials, "bank_public_key": "not a key"}},
        {"options": {**config.options, "profile": "icbc"}},
        {"options": {**config.options, "profile_overrides": {"no_such": "x"}}},
    ):
        with pytest.raises(ConfigurationError):
            CnBankSmAdapter(attrs.evolve(config, **change))


def test_profile_overrides_rename_fields() -> None:
    profile = profile_from("cib", {"sign_name": "X-Bank-Sign", "paths": {"balance": "/b"}})
    assert ("X-Bank-Sign", "/b", PROFILES["cib"].paths["create_transfer"]) == (
        profile.sign_name,
        profile.paths["balance"],
        profile.paths["create_transfer"],
    )


def test_config_repr_hides_keys(bank: MockBank) -> None:
    config: BankConfig = bank.config()
    assert "PRIVATE" not in repr(config)
    assert _server(bank).sm4_key.hex() not in repr(config)


def test_a_refusal_code_on_a_read_is_bank_rejected(bank: MockBank, clock: FakeClock) -> None:
    client = _client(bank, clock)
    _server(bank).failures.append(GatewayFailure("ACCOUNT_FROZEN"))
    with pytest.raises(BankRejectedError) as raised:
        client.balances(bank.bank_id, LocalAccount(PAYER))
    assert (
        raised.value.raw_code,
        raised.value.code,
    ) == ("ACCOUNT_FROZEN", ReasonCode.ACCOUNT_BLOCKED)
    client.close()


def test_keys_may_be_given_as_hex(bank: MockBank, clock: FakeClock) -> None:
    """Bank consoles hand keys out as hex: the private scalar and 04||x||y."""
    server = _server(bank)
    credentials = {
        **bank.config().credentials,
        "app_private_key": f"{server._app_private.d:064x}",
        "bank_public_key": server.bank_key.public_key.to_bytes().hex(),
    }
    client = _client(bank, clock, credentials=credentials)
    assert Money("100.00", "CNY") in [
        b.amount for b in client.balances(bank.bank_id, LocalAccount(PAYER))
    ]
    client.close()


def test_without_the_sm_extra_the_adapter_names_the_install_command(
    bank: MockBank, monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    config = bank.config()
    real_import = builtins.__import__

    def no_gmssl(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("gmssl"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gmssl)
    with pytest.raises(ConfigurationError, match=r"pip install 'walletlink\[sm\]'"):
        CnBankSmAdapter(config)
