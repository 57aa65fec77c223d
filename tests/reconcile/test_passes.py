from __future__ import annotations

from walletlink.reconcile import FieldDiff, RecordStatus
from walletlink.reconcile.passes import field_diffs

from .factories import rec


def test_agreeing_records_have_no_diffs() -> None:
    assert field_diffs(rec("w", 100), rec("b", 100, 2), 0, 2, 3) == ()


def test_currency_difference_hides_the_meaningless_amount_delta() -> None:
    diffs = field_diffs(rec("w", 100), rec("b", 900, currency="JPY"), 0, 0, 3)
    assert diffs == (FieldDiff("currency", "EUR", "JPY", 0),)


def test_every_differing_field_is_named_with_both_values() -> None:
    wallet = rec("w", -100)
    bank = rec("b", 250, 5, status=RecordStatus.PENDING)
    assert field_diffs(wallet, bank, 0, 5, 3) == (
        FieldDiff("direction", "debit", "credit", 0),
        FieldDiff("amount", "-1.00", "2.50", 350),
        FieldDiff("status", "booked", "pending", 0),
        FieldDiff("value_date", "2026-03-02", "2026-03-07", 5),
    )
