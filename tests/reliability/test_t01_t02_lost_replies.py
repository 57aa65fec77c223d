"""T1 and T2: transfers through dropped replies and connection resets, then reconciled.

T1 drops 20% of the bank's replies after it committed the transfer; T2 resets 10% of the
connections before the bank saw the request and 10% after it committed. The client retries
under the same key (the bank replays its first answer), gives up with ``UNKNOWN`` when the
retries run out, and the recovery job resolves every unknown by lookup. Pass: no key paid
twice, every journal record pairs with one bank transfer, every transfer decided.
"""

from __future__ import annotations

from pathlib import Path

from tests.reliability._world import wallet
from tests.reliability.conftest import Report, Scale
from walletlink.testing import FaultPlan


def test_t1_dropped_replies_after_commit(tmp_path: Path, scale: Scale, report: Report) -> None:
    count = scale.pick(300, 10_000)
    plan = FaultPlan(seed=1, drop_response_after_commit=0.2, only_methods={"POST"})
    with wallet(tmp_path, plan) as world:
        batch = world.requests(count, seed=1)
        outcomes = world.send(batch)
        world.reconcile()
        tally = world.tally(batch, outcomes)
        dropped = world.bank.stats.get("fault.drop_response_after_commit", 0)
    report(
        "T1",
        f"{count} transfers, {dropped} replies dropped ({tally.unknown} left unknown after "
        f"retries): {tally.dup} dup, {tally.lost} lost, {tally.final_percent} final",
    )
    assert dropped > count // 10  # the faults really fired
    assert (0, 0, count) == (tally.dup, tally.lost, tally.final)


def test_t2_resets_before_and_after_sending(tmp_path: Path, scale: Scale, report: Report) -> None:
    count = scale.pick(200, 5_000)
    plan = FaultPlan(seed=2, reset_before_commit=0.1, reset_after_commit=0.1, only_methods={"POST"})
    with wallet(tmp_path, plan) as world:
        batch = world.requests(count, seed=2)
        outcomes = world.send(batch)
        world.reconcile()
        tally = world.tally(batch, outcomes)
        before = world.bank.stats.get("fault.reset_before_commit", 0)
        after = world.bank.stats.get("fault.reset_after_commit", 0)
        replays = world.bank.stats.get("replays", 0)
    report(
        "T2",
        f"{count} transfers, {before} resets before commit, {after} after ({replays} "
        f"answered by the bank's key replay): {tally.dup} dup, {tally.lost} lost, "
        f"{tally.final_percent} final",
    )
    assert before > count // 20
    assert after > count // 20
    # Only a post-commit failure needs the key: every replay the bank served answers a
    # retry of a request it had already executed, never a fresh one.
    assert replays <= after + world.bank.stats.get("fault.drop_response_after_commit", 0)
    assert (0, 0, count) == (tally.dup, tally.lost, tally.final)
