"""A transactional outbox for payouts: the wallet's debit and the bank payout, exactly once.

The pattern (Brandur Leach, "Transactionally staged job drains in Postgres"; the
microservices.io transactional outbox): the wallet writes the payout intent into an outbox
table *in the same database transaction* as its own debit, so both commit or neither does;
a drainer later sends every committed intent through :meth:`walletlink.Client.transfer`
(whose journal guarantees one payment per key) and feeds the bank's outcome back to the
wallet in a transaction that also marks the outbox row, so the wallet's refund of a rejected
payout is posted exactly once::

    with conn:                                   # the wallet's transaction
        debit(conn, user, amount)
        outbox.enqueue(conn, "acme", TransferRequest(..., payout_id=payout_id))

    outbox.drain(client, connect, on_outcome)    # any number of drainers, any time

See ``docs/outbox.md``.
"""

from walletlink.outbox._core import (
    DrainReport,
    OnOutcome,
    OutboxEntry,
    Outcome,
    drain,
    enqueue,
    entries,
    install,
    observe,
)

__all__ = [
    "DrainReport",
    "OnOutcome",
    "OutboxEntry",
    "Outcome",
    "drain",
    "enqueue",
    "entries",
    "install",
    "observe",
]
