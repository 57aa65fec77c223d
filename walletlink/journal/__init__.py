"""Durable idempotency: every transfer is journalled before its first byte is sent.

``SQLiteJournal(path)`` is the default store; ``MemoryJournal()`` has the same semantics
without durability. Any class that implements :class:`Journal` and passes
:mod:`walletlink.journal.conformance` can replace them.
"""

from walletlink.journal.base import (
    Journal,
    JournalRecord,
    JournalState,
    new_transfer_id,
    transfer_from_dict,
    transfer_to_dict,
)
from walletlink.journal.memory import MemoryJournal
from walletlink.journal.sqlite import SQLiteJournal

__all__ = [
    "Journal",
    "JournalRecord",
    "JournalState",
    "MemoryJournal",
    "SQLiteJournal",
    "new_transfer_id",
    "transfer_from_dict",
    "transfer_to_dict",
]
