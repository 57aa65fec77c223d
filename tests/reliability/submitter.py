"""One of T3's concurrent submitter processes: send every transfer of the shared list.

Run as ``python -m tests.reliability.submitter SPEC_JSON``. Every submitter builds the same
transfers (the same payout ids, so the same idempotency keys) and sends them to the one
loopback bank in the same order, so the processes race on each key. Each has its own
journal: the bank's idempotency store is the only thing between them. Prints one JSON
object: payout id -> the bank's transfer id, and how many 409 retries this process saw.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

from walletlink import BankConfig, Client, RetryPolicy
from walletlink._retry import RetryEvent
from walletlink.accounts import Iban
from walletlink.client import Hooks
from walletlink.errors import UnknownOutcomeError
from walletlink.journal import SQLiteJournal
from walletlink.models import Party, TransferRequest
from walletlink.money import Money

DEBTOR = Iban("DE89370400440532013000")
CREDITOR = Iban("GB33BUKB20201555555555")


def transfers(keys: int) -> list[TransferRequest]:
    return [
        TransferRequest(
            amount=Money.from_minor(100 + n, "EUR"),
            debtor_account=DEBTOR,
            creditor=Party(name="Ada Lovelace", account=CREDITOR),
            remittance=f"Race {n}",
            payout_id=f"race-{n}",
        )
        for n in range(keys)
    ]


def main(spec: dict[str, Any]) -> None:
    conflicts = 0

    def on_retry(bank_id: str, event: RetryEvent) -> None:
        nonlocal conflicts
        conflicts += event.reason == "status_409"

    config = BankConfig(
        bank_id="acme",
        protocol="generic_rest",
        base_url=spec["base_url"],
        credentials={"api_key": spec["api_key"], "webhook_secrets": [spec["webhook_secret"]]},
    )
    journal = SQLiteJournal(Path(spec["journal"]), durability="normal")
    # Retries wait on a counter, not the wall clock: the race is between processes, and a
    # loser's retry only has to come after the winner's answer, which it does.
    policy = RetryPolicy(sleep=lambda _: None, rng=random.Random(spec["seed"]))
    client = Client([config], journal=journal, retry=policy, hooks=Hooks(on_retry=on_retry))
    batch = transfers(spec["keys"])
    # The start line: every process is up and imported before any sends, so they race.
    print("ready", flush=True)
    sys.stdin.readline()
    unknown = 0
    for request in batch:
        try:
            client.transfer("acme", request)
        except UnknownOutcomeError:
            unknown += 1  # still in flight at the bank after every retry: looked up below
    for _ in range(10):
        if not journal.unresolved():
            break
        client.resolve_unknown()
    ids = {}
    for request in batch:
        record = journal.get(request.idempotency_key)
        assert record is not None
        assert record.transfer is not None
        ids[request.payout_id] = record.transfer.bank_transfer_id
    client.close()
    journal.close()
    print(json.dumps({"ids": ids, "conflicts": conflicts, "unknown": unknown}))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
