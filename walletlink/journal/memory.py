"""A journal that lives and dies with the process: the default when no journal is given.

It is the SQLite journal on a private in-memory database, so it has exactly the same
semantics (and passes the same conformance suite); only durability is missing. A crash
forgets every intent, so a wallet that must survive restarts passes a
:class:`~walletlink.journal.SQLiteJournal` on a file.
"""

from __future__ import annotations

from datetime import timedelta

from walletlink.journal.sqlite import SQLiteJournal

__all__ = ["MemoryJournal"]


class MemoryJournal(SQLiteJournal):
    """A non-durable :class:`~walletlink.journal.Journal` (SQLite ``:memory:``)."""

    #: No disk, no network: :class:`~walletlink.AsyncClient` calls it on the event loop
    #: instead of a worker thread (each hop to a thread costs more than the call).
    blocks = False

    def __init__(
        self,
        *,
        chain_key: bytes | None = None,
        lease: timedelta = timedelta(minutes=2),
        owner: str | None = None,
    ) -> None:
        # Nothing here outlives the process, so fsync would buy nothing.
        super().__init__(
            ":memory:", durability="off", chain_key=chain_key, lease=lease, owner=owner
        )
