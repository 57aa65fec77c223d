"""Fixtures for the generic_rest mock bank: a bank with two accounts and a session.

The mock bank shell's own tests (tests/testing) use the same bank, so they import these
helpers from here and pull the fixtures in through tests/testing/conftest.py.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from walletlink.testing import FakeClock, FaultPlan, MockBank

API_KEY = "sk_test_walletlink"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
DEBTOR = "DE89370400440532013000"
CREDITOR = "GB33BUKB20201555555555"
EXTERNAL = "FR1420041010050500013M02606"
BASE = "https://mockbank.test"

BodyFactory = Callable[..., dict[str, Any]]


def make_bank(faults: FaultPlan | None = None, **options: Any) -> MockBank:
    bank = MockBank(
        api_key=API_KEY,
        webhook_secret=WEBHOOK_SECRET,
        clock=FakeClock(),
        faults=faults,
        **options,
    )
    bank.open_account(DEBTOR, "100.00", "EUR", name="Alice")
    bank.open_account(CREDITOR, "0.00", "EUR", name="Bob")
    return bank


def make_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": "12.30",
        "currency": "EUR",
        "debtor_account": {"scheme": "iban", "value": DEBTOR},
        "creditor": {"name": "Bob", "account": {"scheme": "iban", "value": CREDITOR}},
        "remittance": "Invoice 42",
        "end_to_end_id": "e2e-1",
        "metadata": {"order": "42"},
    }
    body.update(overrides)
    return body


@pytest.fixture
def bank() -> MockBank:
    return make_bank()


@pytest.fixture
def session(bank: MockBank) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {API_KEY}"
        bank.mount(session)
        yield session


def post_transfer(
    session: requests.Session, key: str = "key-1", base: str = BASE, **overrides: Any
) -> requests.Response:
    return session.post(
        f"{base}/v1/transfers",
        json=make_body(**overrides),
        headers={"Idempotency-Key": key},
        timeout=5,
    )
