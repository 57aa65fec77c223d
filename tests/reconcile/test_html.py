from __future__ import annotations

from walletlink.reconcile import RecordStatus, reconcile
from walletlink.reconcile.html import to_html

from .factories import DAY0, rec


def test_page_is_self_contained_escaped_and_lists_worst_breaks_first() -> None:
    wallet = [rec("small", 100, 0), rec("<script>big</script>", 900_000, 0)]
    result = reconcile(wallet, [rec("b1", 5, 0, currency="USD")], as_of=DAY0.replace(day=20))
    page = to_html(result)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "<svg" in page
    assert "src=" not in page
    assert "href=" not in page
    assert page.index("9000.00") < page.index(">1.00<")


def test_clean_run_says_so() -> None:
    result = reconcile([rec("w", 100)], [rec("b", 100)])
    assert "No breaks." in to_html(result)


def test_account_numbers_are_masked_on_the_page() -> None:
    wallet = [rec("w", 100, account="DE89370400440532013000")]
    page = to_html(reconcile(wallet, [], as_of=DAY0.replace(day=20)))
    assert "DE89370400440532013000" not in page
    assert "…3000" in page


def test_fuzzy_pairs_and_reversals_are_listed_with_their_reasons() -> None:
    wallet = [
        rec("w1", 700, 0, counterparty="Shop"),
        rec("w2", -900, 0, end_to_end_id="E9", status=RecordStatus.RETURNED),
    ]
    bank = [
        rec("b1", 700, 1, counterparty="Shop"),
        rec("b2", -900, 0, end_to_end_id="E9"),
        rec("b3", 900, 2, end_to_end_id="E9", reversal=True),
    ]
    page = to_html(reconcile(wallet, bank, as_of=DAY0))
    assert "Pairings to review (2: not on an exact key)" in page
    assert "amount equal; booked +1 day; counterparty equal; only candidate" in page
    assert "b2 + b3 / w2" in page
    assert "reversal flag; end-to-end id equal" in page
