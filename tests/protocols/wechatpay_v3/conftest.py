"""A client of a wechatpay_v3 mock platform, on a fake clock, for the adapter tests."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from walletlink._retry import RetryPolicy
from walletlink.accounts import LocalAccount
from walletlink.client import Client, Hooks
from walletlink.http import PreparedRequest, RawResponse
from walletlink.journal import SQLiteJournal
from walletlink.models import Party, TransferRequest
from walletlink.money import Money
from walletlink.protocols.wechatpay_v3.mock import DEFAULT_MCHID
from walletlink.testing.clock import FakeClock
from walletlink.testing.mockbank import MockBank

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


@attrs.define
class Harness:
    bank: MockBank
    client: Client
    clock: FakeClock
    sent: list[tuple[PreparedRequest, str]]
    replies: list[RawResponse]

    def request(self, amount: str | Money = "12.30", **changes: Any) -> TransferRequest:
        fields: dict[str, Any] = {
            "amount": amount if isinstance(amount, Money) else Money(amount, "CNY"),
            "debtor_account": LocalAccount(DEFAULT_MCHID),
            "creditor": Party(name="Li Lei", account=LocalAccount(OPENID, scheme="wechat_openid")),
            "remittance": "wallet withdrawal",
            **changes,
        }
        return TransferRequest(**fields)

    def paths(self) -> list[str]:
        return [request.path for request, _ in self.sent]


def make_harness(
    tmp_path: Path,
    clock: FakeClock | None = None,
    *,
    payer_balance: str = "0",
    funds: str = "1000.00",
    journal: Path | None = None,
    bank: MockBank | None = None,
    **bank_options: Any,
) -> Harness:
    """A client on a fresh mock platform, or (``bank=``) a second client of one, as a
    restarted process would be (give it the first one's ``journal`` file). On a fresh one the
    user ``OPENID`` holds ``payer_balance`` CNY (what they can pay top-up orders with)."""
    clock = bank.clock if bank is not None else clock or FakeClock()
    options = {k: bank_options.pop(k) for k in list(bank_options) if k.startswith("config_")}
    if bank is None:
        bank = MockBank("wechatpay_v3", clock=clock, settle_after=60, **bank_options)
        bank.open_account(LocalAccount(DEFAULT_MCHID), Money(funds, "CNY"))
        bank.open_account(LocalAccount(OPENID, scheme="wechat_openid"), Money(payer_balance, "CNY"))
    sent: list[tuple[PreparedRequest, str]] = []
    replies: list[RawResponse] = []
    config = bank.config()
    if options:
        extra = {k.removeprefix("config_"): v for k, v in options.items()}
        config = attrs.evolve(config, options={**config.options, **extra})
    client = Client(
        [config],
        journal=SQLiteJournal(journal or tmp_path / f"journal-{random.random()}.sqlite3"),
        retry=RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(1)),
        hooks=Hooks(
            on_request=lambda bank_id, request, url: sent.append((request, url)),
            on_response=lambda bank_id, response: replies.append(response),
        ),
        clock=clock.now,
    )
    bank.mount(client.session)
    return Harness(bank=bank, client=client, clock=clock, sent=sent, replies=replies)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    harness = make_harness(tmp_path)
    yield harness
    harness.client.close()
    harness.bank.close()
