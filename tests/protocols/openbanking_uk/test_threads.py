"""One client shared by threads (or tasks) making their first UK Open Banking payment at once.

The race: every flow asks the adapter's token cache first; two flows that both miss it both
POST /token. The client sends a token request once per bank and scope at a time, and a flow
that asked while another flow's request was out gets that reply instead of its own.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import attrs
import pytest

from tests.protocols.openbanking_uk.test_adapter import DEBTOR, make_bank, transfer_request
from walletlink import AsyncClient, BankConfig, Client, Hooks, RetryPolicy
from walletlink.errors import AuthenticationError
from walletlink.models import TransferStatus
from walletlink.protocols.openbanking_uk.adapter import OpenBankingUkAdapter
from walletlink.testing import FakeClock

THREADS = 4


def gate_first_lookups(adapter: OpenBankingUkAdapter, parties: int) -> None:
    """Hold each thread's first token-cache lookup until ``parties`` threads have made one:
    every one of them has then missed the empty cache, the exact interleaving of the race.
    A barrier, not a sleep: the threads meet, whatever the scheduler does."""
    cache = adapter._tokens
    barrier = threading.Barrier(parties, timeout=30)
    looked = threading.local()
    original: Callable[[str, datetime], str | None] = cache.get

    def get(scope: str, now: datetime) -> str | None:
        found = original(scope, now)
        if not getattr(looked, "once", False):
            looked.once = True
            barrier.wait()
        return found

    cache.get = get  # type: ignore[method-assign]


def test_threads_making_the_first_payment_at_once_fetch_one_token() -> None:
    clock = FakeClock()
    bank = make_bank(clock)
    client = Client(
        [bank.config()],
        retry=RetryPolicy(sleep=clock.sleep, clock=clock.monotonic, rng=random.Random(1)),
        clock=clock.now,
    )
    bank.mount(client.session)
    adapter = client.adapter(bank.bank_id)
    assert isinstance(adapter, OpenBankingUkAdapter)
    gate_first_lookups(adapter, THREADS)
    requests = [transfer_request(remittance=f"first {index}") for index in range(THREADS)]
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            transfers = list(pool.map(lambda r: client.transfer(bank.bank_id, r), requests))
    finally:
        client.close()
    assert bank.stats.get("token_requests") == 1
    # Each payment still got its own consent, under its own key, with the shared token.
    assert {t.status for t in transfers} == {TransferStatus.REQUIRES_ACTION}
    assert len({t.bank_transfer_id for t in transfers}) == THREADS


def test_a_token_the_bank_forgets_is_fetched_again_not_reused() -> None:
    """The shared reply is only for flows that asked while it was out: a flow that finds the
    cache empty later (the bank revoked the token, the client cleared it) fetches anew."""
    clock = FakeClock()
    bank = make_bank(clock)
    with Client([bank.config()], clock=clock.now) as client:
        bank.mount(client.session)
        client.transfer(bank.bank_id, transfer_request(remittance="one"))
        adapter = client.adapter(bank.bank_id)
        assert isinstance(adapter, OpenBankingUkAdapter)
        adapter._tokens.clear()
        client.transfer(bank.bank_id, transfer_request(remittance="two"))
    assert bank.stats.get("token_requests") == 2


def test_tasks_making_the_first_payment_at_once_fetch_one_token() -> None:
    """The async client: tasks interleave at every await, so every task but the first finds
    the cache empty while the first one's token request is on the wire (over loopback)."""
    clock = FakeClock()
    bank = make_bank(clock)

    async def scenario(config: BankConfig) -> list[TransferStatus]:
        async with AsyncClient([config], clock=clock.now) as client:
            transfers = await asyncio.gather(
                *(
                    client.transfer(bank.bank_id, transfer_request(remittance=f"task {index}"))
                    for index in range(THREADS)
                )
            )
        return [t.status for t in transfers]

    pytest.importorskip("httpx")
    with bank.serve() as served:
        statuses = asyncio.run(scenario(served.config()))
    assert statuses == [TransferStatus.REQUIRES_ACTION] * THREADS
    assert bank.stats.get("token_requests") == 1


def test_threads_making_the_first_account_read_at_once_create_one_consent() -> None:
    """Without a configured account-access consent the first read creates one: threads that
    all make it at once create one consent, and each is told to have it authorised."""
    clock = FakeClock()
    bank = make_bank(clock)
    config = bank.config()
    options = {k: v for k, v in config.options.items() if k != "account_access_consent_id"}
    operations: list[str] = []
    client = Client(
        [attrs.evolve(config, options=options)],
        hooks=Hooks(on_request=lambda bank_id, request, url: operations.append(request.operation)),
        clock=clock.now,
    )
    bank.mount(client.session)
    adapter = client.adapter(bank.bank_id)
    assert isinstance(adapter, OpenBankingUkAdapter)
    gate_first_lookups(adapter, THREADS)

    def first_read(_: int) -> str:
        with pytest.raises(AuthenticationError) as refused:
            client.balances(bank.bank_id, DEBTOR)
        return refused.value.message.split()[2]  # "account-access consent <id> is ..."

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            consents = set(pool.map(first_read, range(THREADS)))
    finally:
        client.close()
    assert consents == {adapter.account_access_consent_id}
    assert bank.stats.get("token_requests") == 1
    # A thread that starts its read once the consent exists looks it up instead.
    assert operations.count("create_account_access_consent") == 1
