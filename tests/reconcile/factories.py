"""Small builders shared by the reconciliation tests."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from walletlink.reconcile import Record

DAY0 = date(2026, 3, 2)


def rec(record_id: str, amount_minor: int, day: int = 0, **fields: Any) -> Record:
    """A record on account ``ACC`` in EUR, ``day`` days after 2 March 2026."""
    fields.setdefault("account", "ACC")
    fields.setdefault("currency", "EUR")
    fields.setdefault("value_date", DAY0 + timedelta(days=day))
    return Record(id=record_id, amount_minor=amount_minor, **fields)
