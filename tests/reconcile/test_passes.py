from __future__ import annotations

from walletlink.reconcile import FieldDiff, ReconcileConfig, RecordStatus, reconcile
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


def test_key_pass_reports_per_account_in_order_of_first_wallet_row() -> None:
    # The unique keys are decided in canonical order and the repeated ones through the
    # nested index; the report still lists account B (first wallet row w1) before A, and in
    # each account the keys in order of their first wallet row, repeated or not.
    config = ReconcileConfig(anomalies=False)
    wallet = [
        rec("w1", 100, account="B", end_to_end_id="E1"),
        rec("w2", 200, account="A", end_to_end_id="E2"),
        rec("w3", 300, account="B", end_to_end_id="E3"),
        rec("w4", 400, account="A", end_to_end_id="E4"),
        rec("w5", 500, account="B", end_to_end_id="E5"),
        rec("w6", 600, account="A", end_to_end_id="E6"),
        rec("w7", 700, account="A", end_to_end_id="E6"),
    ]
    bank = [
        rec("b1", 100, account="B", end_to_end_id="E1"),
        rec("b2", 200, account="A", end_to_end_id="E2"),
        rec("b3", 300, account="B", end_to_end_id="E3"),
        rec("b3x", 300, account="B", end_to_end_id="E3"),
        rec("b4", 401, account="A", end_to_end_id="E4"),
        rec("b5", 500, account="B", end_to_end_id="E5"),
        rec("b5x", 500, account="A", end_to_end_id="E5"),  # E5 on another account: no key
        rec("b8", 800, account="C", end_to_end_id="E8"),
        rec("b9", 800, account="C", end_to_end_id="E8"),
    ]
    result = reconcile(wallet, bank, config)
    pairs = [(m.wallet_id, m.bank_id) for m in result.matched if m.pass_no == 1]
    assert pairs == [("w1", "b1"), ("w3", "b3"), ("w5", "b5"), ("w2", "b2")]
    assert [(m.wallet_id, m.bank_id) for m in result.mismatched] == [("w4", "b4")]
    duplicates = [(d.side, d.record_id, d.duplicate_of) for d in result.duplicates]
    assert duplicates[:3] == [("bank", "b3x", "b3"), ("wallet", "w7", "w6"), ("bank", "b9", "b8")]
