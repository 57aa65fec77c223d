"""T11: bank notifications delivered twice and out of order are applied exactly once.

The bank queues a notification per status change (processing, then settled); its fault plan
delivers 30% of them twice (same id, same bytes) and shuffles every batch. The wallet
applies an event's effect only when ``handle_notification`` says it is new, and the
journal never moves a transfer backwards, so the end state equals a run whose bank sent
each notification once, in order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import attrs

from tests.reliability._world import Wallet
from tests.reliability.conftest import Report, Scale
from walletlink.models import TransferStatus
from walletlink.money import Money
from walletlink.testing import FaultPlan


@attrs.frozen
class Outcome:
    deliveries: int
    effects: Mapping[str, int]  # event id -> times its effect was applied
    statuses: Mapping[str, TransferStatus]  # idempotency key -> journalled status
    settled: Money  # the wallet's running total of settled payouts, built from the effects


def run(tmp_path: Path, transfers: int, plan: FaultPlan) -> Outcome:
    inbox: list[tuple[Mapping[str, str], bytes]] = []
    world = Wallet(
        tmp_path,
        plan,
        name=f"journal-{plan.duplicate_webhooks}",
        webhook_target=lambda headers, body: inbox.append((dict(headers), body)),
    )
    try:
        world.send(world.requests(transfers, seed=11))
        world.bank.advance(3600)
        effects: Counter[str] = Counter()
        settled = Money("0.00", "EUR")
        for headers, body in inbox:
            event = world.client.handle_notification("acme", headers, body)
            if event.duplicate:
                continue
            effects[event.id] += 1
            if event.status is TransferStatus.SETTLED and event.idempotency_key:
                record = world.journal.get(event.idempotency_key)
                assert record is not None
                settled += record.transfer_request().amount
        statuses = {r.idempotency_key: r.status for r in world.journal.records()}
        return Outcome(len(inbox), dict(effects), statuses, settled)
    finally:
        world.close()


def test_t11_duplicated_shuffled_events_apply_once(
    tmp_path: Path, scale: Scale, report: Report
) -> None:
    transfers = scale.pick(250, 5_000)  # two notifications each
    in_order = run(tmp_path, transfers, FaultPlan(seed=11))
    faulty = run(
        tmp_path, transfers, FaultPlan(seed=11, duplicate_webhooks=0.3, out_of_order_webhooks=1)
    )
    events = len(in_order.effects)
    repeated = faulty.deliveries - events
    same = (faulty.statuses, faulty.settled) == (in_order.statuses, in_order.settled)
    report(
        "T11",
        f"{events} events, {repeated} delivered twice ({100 * repeated / events:.0f}%), "
        f"shuffled: {sum(n > 1 for n in faulty.effects.values())} applied twice, "
        f"{events - len(faulty.effects)} never applied, final state "
        f"{'equals' if same else 'DIFFERS FROM'} the in-order run",
    )
    assert 2 * transfers == events == in_order.deliveries
    assert repeated > events // 5
    assert dict.fromkeys(in_order.effects, 1) == faulty.effects
    assert in_order.statuses == faulty.statuses
    assert in_order.settled == faulty.settled
    assert {TransferStatus.SETTLED} == set(faulty.statuses.values())
