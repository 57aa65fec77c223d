"""T4: the same idempotency key with a changed body is refused locally, before any I/O.

A wallet that reuses a key for another payment (a bug, or a replay with edited fields) must
never reach the bank with it: UK Open Banking treats a changed body under one key as fraud,
and Stripe answers ``idempotency_error``. The journal's request hash catches it first.
"""

from __future__ import annotations

import random
from pathlib import Path

import attrs
import pytest

from tests.reliability._world import CREDITORS, wallet
from tests.reliability.conftest import Report, Scale
from walletlink.accounts import Iban
from walletlink.errors import IdempotencyMismatchError
from walletlink.models import Party, TransferRequest
from walletlink.money import Money
from walletlink.testing import FaultPlan

OTHER_DEBTOR = Iban("DE02120300000000202051")


def changed(request: TransferRequest, rng: random.Random) -> tuple[str, TransferRequest]:
    """The request with one field changed and the key kept."""
    field = rng.choice(["amount", "currency", "creditor", "debtor", "remittance", "e2e"])
    if field == "amount":
        new = request.amount + Money.from_minor(rng.randrange(1, 100), "EUR")
        return field, attrs.evolve(request, amount=new)
    if field == "currency":
        return field, attrs.evolve(request, amount=Money(request.amount.amount, "GBP"))
    if field == "creditor":
        account = CREDITORS[1] if request.creditor.account == CREDITORS[0] else CREDITORS[0]
        return field, attrs.evolve(request, creditor=Party(name="Ada", account=account))
    if field == "debtor":
        return field, attrs.evolve(request, debtor_account=OTHER_DEBTOR)
    if field == "remittance":
        return field, attrs.evolve(request, remittance=f"{request.remittance} (edited)")
    return field, attrs.evolve(request, end_to_end_id=f"E2E-{rng.randrange(10**9)}")


def test_t4_same_key_changed_body(tmp_path: Path, scale: Scale, report: Report) -> None:
    count = scale.pick(100, 10_000)
    rng = random.Random(4)
    with wallet(tmp_path, FaultPlan.none()) as world:
        originals = world.requests(min(count, 200), seed=4)
        for request in originals:
            world.client.transfer("acme", request)
        before = sum(world.sent.values())
        refused = 0
        for n in range(count):
            _field, edited = changed(originals[n % len(originals)], rng)
            assert edited.idempotency_key == originals[n % len(originals)].idempotency_key
            with pytest.raises(IdempotencyMismatchError):
                world.client.transfer("acme", edited)
            refused += 1
        sent = sum(world.sent.values()) - before
        transfers = len(world.bank.transfers())
    report(
        "T4",
        f"{count} reused keys with a changed body: {100 * refused // count}% "
        f"IdempotencyMismatchError, {sent} requests sent",
    )
    assert (count, 0, len(originals)) == (refused, sent, transfers)
