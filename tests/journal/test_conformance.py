"""Both bundled journals pass the conformance suite every journal implementation must pass."""

from __future__ import annotations

from pathlib import Path

from walletlink.journal import Journal, MemoryJournal, SQLiteJournal
from walletlink.journal.conformance import JournalConformance


class TestSQLiteJournal(JournalConformance):
    def new_journal(self, directory: Path) -> Journal:
        return SQLiteJournal(directory / "journal.db")


class TestMemoryJournal(JournalConformance):
    def new_journal(self, directory: Path) -> Journal:
        return MemoryJournal()
