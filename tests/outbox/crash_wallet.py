"""The wallet process the SIGKILL tests kill: request payouts, drain the outbox, feed back.

Run as ``python -m tests.outbox.crash_wallet SPEC_JSON``. The spec names the wallet's
database (``db``: a SQLite file, or with ``schema`` a PostgreSQL DSN and the wallet's schema
in it), the journal (``journal``: a SQLite file, or the PostgresJournal's schema in the same
PostgreSQL database), the loopback bank, the payouts to request and where to die: ``kill_at`` is
``[point, n]``, and the process sends itself SIGKILL the ``n``-th time it reaches ``point``:

* ``before_commit``: the payout's debit and outbox row are written, not committed;
* ``after_commit``: a payout is committed, nothing sent;
* ``after_send``: the bank answered ``Client.transfer``, the outbox row is not marked;
* ``during_feedback``: the wallet posted its ledger entry for an outcome, not committed.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections import Counter
from datetime import timedelta
from typing import Any

from tests.outbox import wallet
from walletlink import BankConfig, Client, RetryPolicy
from walletlink.journal import Journal, SQLiteJournal
from walletlink.models import Transfer, TransferRequest
from walletlink.outbox import Outcome, drain

_reached: Counter[str] = Counter()


def checkpoint(spec: dict[str, Any], point: str) -> None:
    _reached[point] += 1
    kill_at = spec.get("kill_at")
    if kill_at is not None and kill_at[0] == point and kill_at[1] == _reached[point]:
        os.kill(os.getpid(), signal.SIGKILL)


def request_payouts(spec: dict[str, Any], conn: Any) -> None:
    """The payout endpoint, called for every payout the wallet has not recorded yet."""
    for payout_id, user, amount, closed in spec["payouts"]:
        query = "SELECT 1 FROM payouts WHERE id = ?"
        if wallet.run(conn, query, (payout_id,)).fetchone() is not None:
            continue
        try:
            wallet.request_payout(
                conn,
                user,
                payout_id,
                amount,
                closed=closed,
                before_commit=lambda: checkpoint(spec, "before_commit"),
            )
        except wallet.ValidationError:
            continue  # the user's balance does not cover it: the endpoint refuses
        checkpoint(spec, "after_commit")


class _SpyClient(Client):
    """A client that reaches the ``after_send`` checkpoint when the bank has answered."""

    spec: dict[str, Any]

    def transfer(self, bank_id: str, request: TransferRequest) -> Transfer:
        transfer = super().transfer(bank_id, request)
        checkpoint(self.spec, "after_send")
        return transfer

    def get_transfer(self, transfer_id: str) -> Transfer:
        transfer = super().get_transfer(transfer_id)
        checkpoint(self.spec, "after_send")
        return transfer


def open_journal(spec: dict[str, Any]) -> Journal:
    if spec["schema"] is None:
        return SQLiteJournal(spec["journal"])
    from walletlink.journal import PostgresJournal

    # The default lease: every kill point lies after the journal has the bank's answer (or
    # before the intent), and an unknown outcome gives its lease up, so no run waits on one.
    return PostgresJournal(spec["db"], schema=spec["journal"], pool_size=2)


def main(spec: dict[str, Any]) -> None:
    store = wallet.Store(spec["db"], spec["schema"])
    conn = wallet.connect(store)
    request_payouts(spec, conn)
    conn.close()
    journal = open_journal(spec)
    config = BankConfig(
        bank_id="acme",
        protocol="generic_rest",
        base_url=spec["base_url"],
        credentials={"api_key": spec["api_key"], "webhook_secrets": [spec["webhook_secret"]]},
    )
    client = _SpyClient([config], journal=journal, retry=RetryPolicy(sleep=lambda _: None))
    client.spec = spec

    def on_outcome(conn: Any, outcome: Outcome) -> None:
        wallet.on_outcome(conn, outcome)
        checkpoint(spec, "during_feedback")

    # Leases of zero: a killed drainer's rows are due at once for the next run.
    zero = timedelta(0)
    connect = lambda: wallet.connect(store)  # noqa: E731 - the factory is the point here
    drain(client, connect, on_outcome, lease=zero, retry_after=zero, poll_after=zero)
    client.close()
    journal.close()
    print("drained")


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
