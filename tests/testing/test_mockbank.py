"""The MockBank shell: registry, config, bookkeeping, webhook delivery, and a ledger model."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tests.protocols.generic_rest.conftest import (
    API_KEY,
    BASE,
    CREDITOR,
    DEBTOR,
    WEBHOOK_SECRET,
    make_bank,
    post_transfer,
)
from walletlink.accounts import Iban, LocalAccount
from walletlink.config import Timeout
from walletlink.errors import ConfigurationError
from walletlink.money import Money
from walletlink.testing import FaultPlan, MockBank, MockRequest, protocol_servers


def test_unknown_protocol_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="no mock bank speaks 'carrier_pigeon'"):
        MockBank("carrier_pigeon")
    assert "generic_rest" in protocol_servers()


def test_config_for_a_client() -> None:
    bank = make_bank(bank_id="acme")
    config = bank.config(timeout=3)
    assert (config.bank_id, config.protocol, config.base_url, config.timeout) == (
        "acme",
        "generic_rest",
        BASE,
        Timeout(read=3),
    )
    assert dict(config.credentials) == {"api_key": API_KEY, "webhook_secrets": [WEBHOOK_SECRET]}


def test_generated_credentials_are_distinct_and_well_formed() -> None:
    one, two = MockBank(), MockBank()
    assert one.api_key != two.api_key
    assert one.api_key.startswith("sk_test_")
    assert one.webhook_secret.startswith("whsec_")


def test_open_account_reads_strings_and_money() -> None:
    bank = MockBank()
    assert bank.open_account(DEBTOR, "5.00") == Iban(DEBTOR)
    assert bank.open_account("wallet-1", Money("7", "JPY")) == LocalAccount("wallet-1")
    assert bank.balance("wallet-1") == Money("7", "JPY")
    assert bank.available(Iban(DEBTOR)) == Money("5.00", "EUR")
    with pytest.raises(ValueError, match="JPY"):
        bank.open_account("wallet-2", Money("7", "JPY"), "EUR")


def test_duplicates_at_bank_counts_the_same_e2e_paid_twice(
    bank: MockBank, session: requests.Session
) -> None:
    post_transfer(session, key="a", end_to_end_id="same", amount="1.00")
    post_transfer(session, key="a", end_to_end_id="same", amount="1.00")  # a replay: fine
    assert bank.duplicates_at_bank == 0
    post_transfer(session, key="b", end_to_end_id="same", amount="1.00")  # a new key: a double
    assert bank.duplicates_at_bank == 1
    assert [t.idempotency_key for t in bank.transfers()] == ["a", "b"]


def test_stats_count_requests_faults_and_replays() -> None:
    bank = make_bank(FaultPlan(unavailable=1.0, only_methods={"GET"}))
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {API_KEY}"
        bank.mount(session)
        post_transfer(session)
        post_transfer(session)
        session.get(f"{BASE}/v1/transfers", timeout=5)
    assert dict(bank.stats) == {"requests": 2, "replays": 1, "fault.unavailable": 1}


# -- webhooks -----------------------------------------------------------------------------


def test_failed_webhooks_stay_queued_until_delivered(
    bank: MockBank, session: requests.Session
) -> None:
    received: list[bytes] = []
    down = True

    def receiver(headers: Mapping[str, str], body: bytes) -> None:
        if down:
            raise ConnectionError("the wallet is down")
        received.append(body)

    bank.webhook_target = receiver
    post_transfer(session)
    bank.advance(0)
    assert (len(received), len(bank.pending_webhooks()), len(bank.webhook_errors)) == (0, 1, 1)
    down = False
    bank.advance(60)
    assert [json.loads(body)["type"] for body in received] == [
        "transfer.processing",
        "transfer.settled",
    ]
    assert bank.stats["webhooks_failed"] == 1


def test_duplicate_webhooks_repeat_id_and_bytes() -> None:
    bank = make_bank(FaultPlan(duplicate_webhooks=1.0))
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {API_KEY}"
        bank.mount(session)
        post_transfer(session)
    bank.advance(60)
    ids = [webhook.id for webhook in bank.webhooks]
    assert ids == ["evt_0001", "evt_0001", "evt_0002", "evt_0002"]
    assert bank.webhooks[0] == bank.webhooks[1]
    assert bank.stats["webhooks_duplicated"] == 2


def out_of_order_ids(seed: int) -> list[str]:
    bank = make_bank(FaultPlan(seed=seed, out_of_order_webhooks=1.0))
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {API_KEY}"
        bank.mount(session)
        for index in range(6):
            post_transfer(session, key=f"k{index}", end_to_end_id=f"e{index}", amount="1.00")
    bank.advance(60)
    return [webhook.id for webhook in bank.webhooks]


def test_out_of_order_webhooks_are_a_seeded_shuffle() -> None:
    ids = out_of_order_ids(seed=4)
    assert sorted(ids) == [f"evt_{n:04d}" for n in range(1, 13)]
    assert ids != sorted(ids)
    assert ids == out_of_order_ids(seed=4)


def test_webhooks_to_a_url() -> None:
    received: list[tuple[str, bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["webhook-id"], body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        bank = make_bank(webhook_target=f"http://127.0.0.1:{server.server_address[1]}/hooks")
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {API_KEY}"
            bank.mount(session)
            post_transfer(session)
        bank.advance(60)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert [event_id for event_id, _ in received] == ["evt_0001", "evt_0002"]
    assert json.loads(received[1][1])["data"]["status"] == "settled"


# -- the ledger model (reliability.md T14) ------------------------------------------------

ACCOUNTS = (DEBTOR, CREDITOR, "FR1420041010050500013M02606")
KEYS = [f"key-{n}" for n in range(6)]
TOTAL = Money("300.00", "EUR")


class LedgerModel(RuleBasedStateMachine):
    """Random writes through the generic_rest server; money never appears or vanishes."""

    def __init__(self) -> None:
        super().__init__()
        self.bank = MockBank(api_key=API_KEY, settle_after=30, processing_after=10)
        for value in ACCOUNTS:
            self.bank.open_account(value, "100.00", "EUR")
        self.bodies: dict[str, bytes] = {}

    def _post(self, path: str, key: str, body: bytes) -> int:
        request = MockRequest.build(
            "POST",
            f"{BASE}{path}",
            headers={"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": key},
            body=body,
        )
        return self.bank.handle(request).status

    @rule(
        key=st.sampled_from(KEYS),
        debtor=st.sampled_from(ACCOUNTS),
        creditor=st.sampled_from(ACCOUNTS),
        cents=st.integers(min_value=1, max_value=15_000),
    )
    def transfer(self, key: str, debtor: str, creditor: str, cents: int) -> None:
        body = json.dumps(
            {
                "amount": Money.from_minor(cents, "EUR").to_decimal_string(),
                "currency": "EUR",
                "debtor_account": {"scheme": "iban", "value": debtor},
                "creditor": {"name": "C", "account": {"scheme": "iban", "value": creditor}},
                "end_to_end_id": key,
            }
        ).encode()
        status = self._post("/v1/transfers", key, body)
        first = self.bodies.setdefault(key, body)
        if first == body:
            assert status == 201
        else:
            assert status == 422

    @rule(number=st.integers(min_value=1, max_value=len(KEYS)), key=st.sampled_from(KEYS))
    def cancel(self, number: int, key: str) -> None:
        status = self._post(f"/v1/transfers/tr_{number:04d}/cancel", f"cancel-{key}", b"")
        assert status in (200, 404, 409, 422)

    @rule(seconds=st.sampled_from([0, 5, 10, 30, 3600]))
    def advance(self, seconds: int) -> None:
        self.bank.advance(seconds)

    @invariant()
    def money_is_conserved(self) -> None:
        assert self.bank.ledger.total("EUR") == TOTAL

    @invariant()
    def no_negative_balances(self) -> None:
        for account in self.bank.ledger.accounts():
            assert not account.available.is_negative()
            assert not account.booked.is_negative()

    @invariant()
    def at_most_one_transfer_per_key(self) -> None:
        keys = [transfer.idempotency_key for transfer in self.bank.transfers()]
        assert len(keys) == len(set(keys))
        assert self.bank.duplicates_at_bank == 0


LedgerModel.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_ledger_model = LedgerModel.TestCase


def test_public_surface_is_sorted_and_importable() -> None:
    import walletlink.testing as testing

    assert testing.__all__ == sorted(testing.__all__)
    assert all(hasattr(testing, name) for name in testing.__all__)


def test_the_httpx_transport_without_httpx_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "httpx", None)
    monkeypatch.delitem(sys.modules, "walletlink.testing._ahttp", raising=False)
    with pytest.raises(ConfigurationError, match=r"pip install 'walletlink\[async\]'"):
        make_bank().httpx_transport()
