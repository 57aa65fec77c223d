"""walletlink's pytest plugin: mock banks, a wired client and the fake clock as fixtures.

Installed with walletlink (entry point ``pytest11``: ``walletlink``), so a wallet's tests
just ask for the fixtures::

    def test_payout(walletlink_client, walletlink_bank, walletlink_accounts): ...

- ``walletlink_protocol``: the protocol to test (``generic_rest``); set it with
  ``@pytest.mark.walletlink_protocol("berlin_group")``, by indirect parametrisation, or by
  overriding the fixture.
- ``walletlink_clock``: a :class:`~walletlink.testing.FakeClock` shared by bank and client.
- ``walletlink_faults``: the bank's :class:`~walletlink.testing.FaultPlan`: none, or
  ``@pytest.mark.walletlink_faults(seed=1, unavailable=0.3)``.
- ``walletlink_bank``: a :class:`~walletlink.testing.MockBank` of that protocol (bank id
  ``mockbank``).
- ``walletlink_accounts``: demo accounts open at that bank
  (:class:`~walletlink.testing.kit.DemoAccounts`).
- ``walletlink_journal``: a :class:`~walletlink.journal.SQLiteJournal` under ``tmp_path``.
- ``walletlink_client``: a :class:`~walletlink.Client` mounted on the bank, retrying and
  journalling on the fake clock.
- ``walletlink_webhooks``: a :class:`~walletlink.testing.kit.WebhookInbox` holding the
  bank's signed webhooks, to ``deliver(handler)`` into your code.
- ``walletlink_approve``: ``approve(transfer)``, the person completing SCA at the bank.

Everything walletlink is imported inside the fixtures, so a test session that never asks
for them pays nothing at collection. ``-p no:walletlink`` switches the plugin off.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from walletlink.client import Client
    from walletlink.journal import SQLiteJournal
    from walletlink.models import Transfer
    from walletlink.testing.clock import FakeClock
    from walletlink.testing.faults import FaultPlan
    from walletlink.testing.kit import DemoAccounts, WebhookInbox
    from walletlink.testing.mockbank import MockBank

__all__ = [
    "pytest_configure",
    "walletlink_accounts",
    "walletlink_approve",
    "walletlink_bank",
    "walletlink_client",
    "walletlink_clock",
    "walletlink_faults",
    "walletlink_journal",
    "walletlink_protocol",
    "walletlink_webhooks",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "walletlink_protocol(name): the protocol of the walletlink_bank fixture"
    )
    config.addinivalue_line(
        "markers", "walletlink_faults(**plan): FaultPlan(**plan) for the walletlink_bank fixture"
    )


@pytest.fixture
def walletlink_protocol(request: pytest.FixtureRequest) -> str:
    """The protocol under test: indirect parameter, then marker, then ``generic_rest``."""
    param = getattr(request, "param", None)
    if param is not None:
        return str(param)
    marker = request.node.get_closest_marker("walletlink_protocol")
    if marker is not None:
        return str(marker.args[0])
    return "generic_rest"


@pytest.fixture
def walletlink_clock() -> FakeClock:
    """The fake clock the bank and the client share."""
    from walletlink.testing.clock import FakeClock

    return FakeClock()


@pytest.fixture
def walletlink_faults(request: pytest.FixtureRequest) -> FaultPlan:
    """The bank's fault plan: ``@pytest.mark.walletlink_faults(**plan)``, else none."""
    from walletlink.testing.faults import FaultPlan

    marker = request.node.get_closest_marker("walletlink_faults")
    return FaultPlan(**marker.kwargs) if marker is not None else FaultPlan.none()


@pytest.fixture
def walletlink_webhooks() -> WebhookInbox:
    """Every signed webhook the bank sends; ``deliver(handler)`` feeds them to yours."""
    from walletlink.testing.kit import WebhookInbox

    return WebhookInbox()


@pytest.fixture
def walletlink_bank(
    walletlink_protocol: str,
    walletlink_clock: FakeClock,
    walletlink_faults: FaultPlan,
    walletlink_webhooks: WebhookInbox,
) -> Iterator[MockBank]:
    """A mock bank of ``walletlink_protocol`` (bank id ``mockbank``), closed afterwards."""
    from walletlink.testing.mockbank import MockBank

    bank = MockBank(
        walletlink_protocol,
        clock=walletlink_clock,
        faults=walletlink_faults,
        webhook_target=walletlink_webhooks,
    )
    with bank:
        yield bank


@pytest.fixture
def walletlink_accounts(walletlink_bank: MockBank) -> DemoAccounts:
    """A funded debtor, a creditor and a poor account, of the protocol's kind."""
    from walletlink.testing.kit import open_demo_accounts

    return open_demo_accounts(walletlink_bank)


@pytest.fixture
def walletlink_journal(tmp_path: Path) -> Iterator[SQLiteJournal]:
    """A SQLite journal under ``tmp_path``."""
    from walletlink.journal import SQLiteJournal

    journal = SQLiteJournal(tmp_path / "walletlink-journal.sqlite3")
    yield journal
    journal.close()


@pytest.fixture
def walletlink_client(
    walletlink_bank: MockBank,
    walletlink_accounts: DemoAccounts,
    walletlink_journal: SQLiteJournal,
    walletlink_clock: FakeClock,
) -> Iterator[Client]:
    """A client of the bank: mounted in process, journalled, retrying on the fake clock."""
    from walletlink._retry import RetryPolicy
    from walletlink.client import Client

    clock = walletlink_clock
    retry = RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(0))
    client = Client(
        [walletlink_bank.config()], journal=walletlink_journal, retry=retry, clock=clock.now
    )
    walletlink_bank.mount(client.session)
    with client:
        yield client


@pytest.fixture
def walletlink_approve(
    walletlink_bank: MockBank, walletlink_client: Client
) -> Callable[[Transfer], Transfer]:
    """``approve(transfer)``: the person completes SCA at the bank, then the lookup."""
    from walletlink.testing.kit import approve

    def approve_transfer(transfer: Transfer) -> Transfer:
        return approve(walletlink_bank, walletlink_client, transfer)

    return approve_transfer
