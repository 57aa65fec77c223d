"""WAIT_USER_CONFIRM: a bill the user must confirm in WeChat (用户确认收款) is
REQUIRES_ACTION with the reply's ``package_info`` for the app, and ends SUCCESS once the user
confirms, or CANCELLED (the money back with the merchant) when nobody confirms in time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from walletlink.models import Transfer, TransferStatus
from walletlink.money import Money
from walletlink.protocols.wechatpay_v3.mock import DEFAULT_MCHID, WeChatPayV3Server
from walletlink.testing.kit import approve

from .conftest import OPENID, Harness, make_harness

DAY = 24 * 3600


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    harness = make_harness(tmp_path, user_confirm=True)
    yield harness
    harness.client.close()
    harness.bank.close()


def _server(harness: Harness) -> WeChatPayV3Server:
    assert isinstance(harness.bank.server, WeChatPayV3Server)
    return harness.bank.server


def _inbox(harness: Harness) -> list[tuple[dict[str, str], bytes]]:
    inbox: list[tuple[dict[str, str], bytes]] = []
    harness.bank.webhook_target = lambda headers, body: inbox.append((dict(headers), body))
    return inbox


def _waiting(harness: Harness) -> Transfer:
    transfer = harness.client.transfer(harness.bank.bank_id, harness.request())
    assert transfer.status is TransferStatus.REQUIRES_ACTION
    assert transfer.next_action is not None
    assert transfer.next_action.kind == "wechat_confirm"
    assert transfer.next_action.data["package_info"]
    return transfer


def _balance(harness: Harness, account: str) -> Money:
    from walletlink.accounts import LocalAccount

    return harness.bank.balance(LocalAccount(account))


def test_a_bill_waiting_for_the_user_exposes_package_info(harness: Harness) -> None:
    transfer = _waiting(harness)
    (reply,) = [r for r in harness.replies if r.status == 200 and b"out_bill_no" in r.body]
    assert json.loads(reply.body)["state"] == "WAIT_USER_CONFIRM"
    # The journal keeps it for the app, and the query (which carries it too) agrees.
    again = harness.client.get_transfer(transfer.id)
    assert again.status is TransferStatus.REQUIRES_ACTION
    assert again.next_action == transfer.next_action
    # Nothing moved while the user has not confirmed, however long the ledger runs.
    harness.bank.advance(3600)
    assert harness.client.get_transfer(transfer.id).status is TransferStatus.REQUIRES_ACTION
    assert _balance(harness, OPENID) == Money("0", "CNY")


def test_the_user_confirms_and_the_bill_succeeds_with_a_notification(harness: Harness) -> None:
    inbox = _inbox(harness)
    transfer = _waiting(harness)
    assert transfer.next_action is not None
    _server(harness).confirm_receipt(transfer.next_action.data["package_info"])
    harness.bank.advance(61)
    ((headers, body),) = inbox
    event = harness.client.handle_notification(harness.bank.bank_id, headers, body)
    assert (event.type, event.status) == ("MCHTRANSFER.BILL.FINISHED", TransferStatus.SETTLED)
    assert event.idempotency_key == transfer.idempotency_key
    assert harness.client.get_transfer(transfer.id).status is TransferStatus.SETTLED
    assert _balance(harness, OPENID) == Money("12.30", "CNY")


def test_an_unconfirmed_bill_expires_cancelled_with_a_notification(harness: Harness) -> None:
    inbox = _inbox(harness)
    transfer = _waiting(harness)
    harness.bank.advance(DAY - 1)
    assert inbox == []  # still waiting: WAIT_USER_CONFIRM is not a final state
    harness.bank.advance(2)
    ((headers, body),) = inbox
    event = harness.client.handle_notification(harness.bank.bank_id, headers, body)
    assert event.status is TransferStatus.CANCELLED
    journalled = harness.client.get_transfer(transfer.id)
    assert journalled.status is TransferStatus.CANCELLED
    assert journalled.next_action is None
    assert _balance(harness, DEFAULT_MCHID) == Money("1000.00", "CNY")  # released
    assert transfer.next_action is not None
    with pytest.raises(LookupError):  # too late to confirm
        _server(harness).confirm_receipt(transfer.next_action.data["package_info"])


def test_the_merchant_may_cancel_while_the_user_has_not_confirmed(harness: Harness) -> None:
    transfer = _waiting(harness)
    assert harness.client.cancel_transfer(transfer.id).status is TransferStatus.CANCELLED
    harness.bank.advance(2 * DAY)  # the expiry timer finds nothing left to do
    assert [t.status for t in harness.bank.transfers()] == [TransferStatus.CANCELLED]


def test_the_testing_kit_plays_the_user(harness: Harness) -> None:
    transfer = _waiting(harness)
    confirmed = approve(harness.bank, harness.client, transfer)
    assert confirmed.status in (TransferStatus.PENDING, TransferStatus.PROCESSING)
    harness.bank.advance(61)
    assert harness.client.get_transfer(transfer.id).status is TransferStatus.SETTLED


def test_without_user_confirm_bills_never_wait(tmp_path: Path) -> None:
    harness = make_harness(tmp_path)
    transfer = harness.client.transfer(harness.bank.bank_id, harness.request())
    assert (transfer.status, transfer.next_action) == (TransferStatus.PENDING, None)
    harness.client.close()
    harness.bank.close()
