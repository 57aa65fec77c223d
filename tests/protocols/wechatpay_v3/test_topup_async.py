"""Top-ups and refunds through AsyncClient: the same adapter flows, awaited.

``WeChatPayTopUps`` wraps a blocking ``Client``; with an ``AsyncClient`` the guide tells users
to await ``run_flow`` on the adapter's order flows and ``transfer`` on a ``refund_request``.
This checks that spelling end to end against the mock platform, journal included.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from walletlink import AsyncClient, LocalAccount, Money, SQLiteJournal, TransferStatus
from walletlink._retry import RetryPolicy
from walletlink.client import Hooks
from walletlink.http import PreparedRequest
from walletlink.protocols.wechatpay_v3.adapter import WeChatPayV3Adapter
from walletlink.protocols.wechatpay_v3.mock import DEFAULT_MCHID, WeChatPayV3Server
from walletlink.protocols.wechatpay_v3.topup import OrderRequest, TradeState, refund_request
from walletlink.testing import FakeClock, MockBank

from .conftest import OPENID

pytest.importorskip("httpx")


def test_an_async_client_tops_up_and_refunds_once(tmp_path: Path) -> None:
    clock = FakeClock()
    bank = MockBank("wechatpay_v3", bank_id="wechat", clock=clock, settle_after=60)
    bank.open_account(LocalAccount(DEFAULT_MCHID), Money("1000.00", "CNY"))
    bank.open_account(LocalAccount(OPENID, scheme="wechat_openid"), Money("100.00", "CNY"))
    server = bank.server
    assert isinstance(server, WeChatPayV3Server)
    journal = SQLiteJournal(tmp_path / "journal.sqlite3")
    total = Money("50.00", "CNY")
    sent: list[PreparedRequest] = []

    async def run() -> tuple[TradeState, TransferStatus, str, str]:
        async with AsyncClient(
            [bank.config()],
            journal=journal,
            retry=RetryPolicy(sleep=clock.sleep, clock=clock.monotonic),
            hooks=Hooks(on_request=lambda bank_id, request, url: sent.append(request)),
            clock=clock.now,
        ) as client:
            bank.mount_async(client)
            adapter = client.adapter("wechat")
            assert isinstance(adapter, WeChatPayV3Adapter)
            order = OrderRequest(out_trade_no="TOPUP-A1", amount=total, description="top-up")
            native = await client.run_flow("wechat", adapter.create_native_order(order))
            assert native.code_url.startswith("weixin://")
            server.pay_order("TOPUP-A1", OPENID)
            paid = await client.run_flow("wechat", adapter.query_order("TOPUP-A1", total))
            request = refund_request(
                mchid=DEFAULT_MCHID,
                out_trade_no="TOPUP-A1",
                amount=Money("20.00", "CNY"),
                order_total=total,
                refund_id="REFUND-A1",
            )
            first = await client.transfer("wechat", request)
            again = await client.transfer("wechat", request)  # the journal answers
            assert again.id == first.id
            bank.advance(61)
            looked_up = await client.get_transfer(first.id)
            return paid.state, looked_up.status, first.id, again.id

    state, status, first_id, again_id = asyncio.run(run())
    assert state is TradeState.SUCCESS
    assert status is TransferStatus.SETTLED
    assert first_id == again_id
    # One refund POST, whatever the client was asked twice.
    refunds = [r for r in sent if r.method == "POST" and r.path.startswith("/v3/refund/")]
    assert len(refunds) == 1
