"""Durable idempotency: every transfer is journalled before its first byte is sent.

``SQLiteJournal(path)`` is the default store; ``MemoryJournal()`` has the same semantics
without durability; ``PostgresJournal(dsn)`` (``walletlink[postgres]``) is one journal for
several servers. Any class that implements :class:`Journal` and passes
:mod:`walletlink.journal.conformance` can replace them.
"""

from typing import TYPE_CHECKING, Any

from walletlink.journal.base import (
    Journal,
    JournalRecord,
    JournalState,
    new_transfer_id,
    transfer_from_dict,
    transfer_to_dict,
)
from walletlink.journal.checkpoint import Checkpoint
from walletlink.journal.memory import MemoryJournal
from walletlink.journal.sqlite import SQLiteJournal

if TYPE_CHECKING:
    from walletlink.journal.postgres import PostgresJournal

__all__ = [
    "Checkpoint",
    "Journal",
    "JournalRecord",
    "JournalState",
    "MemoryJournal",
    "PostgresJournal",
    "SQLiteJournal",
    "new_transfer_id",
    "transfer_from_dict",
    "transfer_to_dict",
]


def __getattr__(name: str) -> Any:
    # psycopg is an optional dependency: import it only when PostgresJournal is asked for.
    if name == "PostgresJournal":
        from walletlink.journal.postgres import PostgresJournal

        return PostgresJournal
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
