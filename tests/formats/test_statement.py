"""The statement model: balance checks and folding a stream into statements."""

from __future__ import annotations

from datetime import date

import pytest

from walletlink.errors import ParseError, StatementBalanceError
from walletlink.formats import Statement, StatementEnd, StatementHeader, collect_statements
from walletlink.models import Balance, BalanceType, BookingStatus, Direction, Transaction
from walletlink.money import Money

HEADER = StatementHeader(format="camt.053", statement_id="S1", currency="EUR")


def _balance(amount: str, kind: BalanceType) -> Balance:
    return Balance(account=None, amount=Money(amount, "EUR"), type=kind, as_of=date(2024, 1, 1))


def _entry(
    amount: str, direction: Direction, status: BookingStatus = BookingStatus.BOOKED
) -> Transaction:
    return Transaction(amount=Money(amount, "EUR"), direction=direction, status=status)


def _statement(closing: str) -> Statement:
    return Statement(
        header=HEADER,
        balances=(
            _balance("100.00", BalanceType.OPENING_BOOKED),
            _balance(closing, BalanceType.CLOSING_BOOKED),
        ),
        entries=(
            _entry("30.00", Direction.CREDIT),
            _entry("10.50", Direction.DEBIT),
            _entry("999.00", Direction.DEBIT, BookingStatus.PENDING),
        ),
    )


def test_balanced_statement_passes_and_pending_entries_do_not_count() -> None:
    statement = _statement("119.50")
    statement.check_balance()
    assert Money("19.50", "EUR") == statement.booked_net()


def test_unbalanced_statement_reports_the_difference() -> None:
    with pytest.raises(StatementBalanceError) as caught:
        _statement("120.00").check_balance()
    assert "difference 0.50 EUR" in str(caught.value)
    assert "'S1'" in str(caught.value)


def test_statement_without_balances_cannot_be_checked() -> None:
    with pytest.raises(StatementBalanceError, match="no opening"):
        Statement(header=HEADER).check_balance()


def test_previously_closed_balance_serves_as_opening() -> None:
    statement = Statement(
        header=HEADER,
        balances=(
            _balance("5.00", BalanceType.PREVIOUSLY_CLOSED_BOOKED),
            _balance("5.00", BalanceType.CLOSING_BOOKED),
        ),
    )
    statement.check_balance()
    assert statement.opening_balance.type == BalanceType.PREVIOUSLY_CLOSED_BOOKED  # type: ignore[union-attr]


def test_collect_statements_splits_at_each_end() -> None:
    first, second = _entry("1.00", Direction.CREDIT), _entry("2.00", Direction.DEBIT)
    end = StatementEnd(header=HEADER, balances=(), entry_count=1, booked_net=None)
    statements = list(collect_statements([HEADER, first, end, HEADER, second, end]))
    assert [(first,), (second,)] == [s.entries for s in statements]


def test_entries_after_the_last_end_are_an_error() -> None:
    with pytest.raises(ParseError):
        list(collect_statements([HEADER, _entry("1.00", Direction.CREDIT)]))


def test_currency_falls_back_to_balances() -> None:
    header = StatementHeader(format="camt.054", statement_id="N")
    statement = Statement(header=header, balances=(_balance("1.00", BalanceType.CLOSING_BOOKED),))
    assert statement.currency == "EUR"
