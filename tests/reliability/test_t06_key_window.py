"""T6: an outcome still unknown when the bank's idempotency window has passed.

Past the window the bank no longer folds a resend into the first attempt, so the client
must not retry on its own: the transfer stays ``UNKNOWN`` until the recovery job looks it
up. The lookup (by key or end-to-end id) finds what the bank executed; only a transfer the
bank says it never saw is sent again, once, under the same key.
"""

from __future__ import annotations

from pathlib import Path

from tests.reliability._world import wallet
from tests.reliability.conftest import Report, Scale
from walletlink.models import TransferStatus
from walletlink.testing import FaultPlan

WINDOW = 24 * 3600  # the mock bank keeps idempotency keys for 24 hours


def test_t6_unknown_past_the_key_window(tmp_path: Path, scale: Scale, report: Report) -> None:
    count = scale.pick(100, 2_000)
    # Every attempt of a write fails after sending: half after the bank executed it (the
    # reply is lost), half before (the connection resets first).
    plan = FaultPlan(
        seed=6, drop_response_after_commit=0.5, reset_before_commit=0.5, only_methods={"POST"}
    )
    with wallet(tmp_path, plan) as world:
        # One attempt per transfer, one transfer every 7 s: fewer than the breaker's 10
        # failures a minute, so every transfer reaches the bank and ends UNKNOWN.
        world.client.retry = world.client.retry.evolve(max_attempts=1)
        batch = world.requests(count, seed=6)
        outcomes = world.send(batch, pause=7)
        posts_when_given_up = world.sent["POST"]
        world.bank.advance(WINDOW + 3600)  # the wallet is down past the bank's window
        automatic = world.sent["POST"] - posts_when_given_up
        unknown = sum(r.status is TransferStatus.UNKNOWN for r in world.journal.records())
        executed = len(world.bank.transfers())
        world.bank.set_faults(FaultPlan.none())
        world.reconcile()
        resent = world.sent["POST"] - posts_when_given_up
        tally = world.tally(batch, outcomes)
    report(
        "T6",
        f"{count} transfers unknown past the 24 h key window: {automatic} automatic retries, "
        f"{100 * unknown // count}% UNKNOWN; reconciled: {executed} found by lookup, "
        f"{resent} never executed resent once under their key; {tally.dup} dup, "
        f"{tally.lost} lost, {tally.final_percent} final",
    )
    assert (count, 0, count) == (outcomes["unknown"], automatic, unknown)
    assert 0 < executed < count  # both halves of the plan fired
    assert count - executed == resent  # only what the bank never saw went out again
    assert (0, 0, count) == (tally.dup, tally.lost, tally.final)
