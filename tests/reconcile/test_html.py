from __future__ import annotations

from walletlink.reconcile import reconcile
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
