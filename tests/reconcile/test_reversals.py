"""Pass 6: a bank storno pairs with the booking it undoes and the wallet's returned payout."""

from __future__ import annotations

from walletlink.reconcile import RecordStatus, reconcile
from walletlink.reconcile.reversals import REVERSAL_PASS

from .factories import DAY0, rec


def test_returned_payout_is_one_reversed_item_not_a_mismatch_and_a_duplicate() -> None:
    wallet = [rec("w1", -5000, 0, end_to_end_id="E1", status=RecordStatus.RETURNED)]
    bank = [
        rec("b1", -5000, 0, end_to_end_id="E1"),
        rec("b2", 5000, 2, end_to_end_id="E1", reversal=True),
    ]
    result = reconcile(wallet, bank, as_of=DAY0)
    (item,) = result.reversals
    assert (item.bank_id, item.reversal_id, item.wallet_id) == ("b1", "b2", "w1")
    assert (item.pass_no, item.rule) == (REVERSAL_PASS, "reversal:reference")
    assert "end-to-end id equal" in item.reasons
    assert (result.mismatched, result.duplicates) == ((), ())
    assert sorted(c for _, _, c in result.assignments()) == ["reversed"] * 3


def test_reversal_without_references_pairs_by_amount_counterparty_and_date() -> None:
    wallet = [rec("w1", -5000, 0, counterparty="Jane Roe", status=RecordStatus.FAILED)]
    bank = [
        rec("other", -5000, 0, counterparty="John Doe"),
        rec("b1", -5000, 0, counterparty="Jane Roe"),
        rec("b2", 5000, 3, counterparty="Jane Roe", reversal=True),
    ]
    (item,) = reconcile(wallet, bank, as_of=DAY0).reversals
    assert (item.bank_id, item.reversal_id, item.wallet_id, item.rule) == (
        "b1",
        "b2",
        "w1",
        "reversal:amount",
    )


def test_wallet_row_still_booked_is_not_taken_and_stays_a_break() -> None:
    wallet = [rec("w1", -5000, 0, end_to_end_id="E1")]
    bank = [
        rec("b1", -5000, 0, end_to_end_id="E1"),
        rec("b2", 5000, 1, end_to_end_id="E1", reversal=True),
    ]
    result = reconcile(wallet, bank, as_of=DAY0)
    assert [(r.bank_id, r.wallet_id) for r in result.reversals] == [("b1", "")]
    assert [(u.record_id, u.category) for u in result.unmatched] == [("w1", "pending")]


def test_reversal_older_than_the_window_or_of_another_amount_is_left_alone() -> None:
    bank = [
        rec("b1", -5000, 0),
        rec("b2", 4999, 1, reversal=True),
        rec("b3", 5000, 30, reversal=True),
    ]
    assert reconcile([], bank).reversals == ()
