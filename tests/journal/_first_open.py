"""A worker process that opens an SQLite journal the moment the others do, then claims keys.

Its own module so that the ``forkserver`` children can import it; it receives only plain,
picklable data and reports what happened (or what it raised) through a queue.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from walletlink import TransferRequest
from walletlink.journal import SQLiteJournal

#: One instant for every worker: the test is about locking, not time.
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def open_and_claim(
    path: str, raw: Sequence[tuple[dict[str, Any], str]], worker: int, start: Any, out: Any
) -> None:
    """Wait at ``start`` with the other workers, open the (brand-new) journal file, record
    an intent for every request and claim what is unresolved; report
    ``(worker, None, created keys, claimed keys)`` or ``(worker, error, [], [])``."""
    try:
        start.wait(timeout=120)
        journal = SQLiteJournal(Path(path), owner=f"worker-{worker}")
        try:
            created = []
            for canonical, key in raw:
                request = TransferRequest.from_canonical(canonical, key)
                _, fresh = journal.record_intent(
                    bank_id="acme", request=request, transfer_id=f"wl_{worker}_{key}", now=NOW
                )
                if fresh:
                    created.append(key)
            claimed = [r.idempotency_key for r in journal.claim_unresolved("acme", now=NOW)]
        finally:
            journal.close()
        out.put((worker, None, created, claimed))
    except BaseException as exc:  # reported, so the test names it instead of a bare exit code
        out.put((worker, "".join(traceback.format_exception(exc)).strip(), [], []))
