from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walletlink.errors import CurrencyError, ValidationError
from walletlink.money import Money
from walletlink.reconcile import Record, clean_reference, format_minor


@pytest.mark.parametrize("placeholder", ["NOTPROVIDED", " nonref ", "NONE", "", None])
def test_placeholder_references_become_empty(placeholder: str | None) -> None:
    assert clean_reference(placeholder) == ""


def test_dates_become_utc_dates() -> None:
    late_evening_in_new_york = datetime(2026, 3, 1, 22, 30, tzinfo=timezone(timedelta(hours=-5)))
    record = Record(
        id="r", account="A", currency="eur", amount_minor=1, value_date=late_evening_in_new_york
    )
    assert (record.value_date, record.currency) == (date(2026, 3, 2), "EUR")


def test_amounts_must_be_integer_minor_units_and_currency_known() -> None:
    with pytest.raises(ValidationError):
        Record(id="r", account="A", currency="EUR", amount_minor=1.5, value_date=date.today())  # type: ignore[arg-type]
    with pytest.raises(CurrencyError):
        Record(id="r", account="A", currency="XXX", amount_minor=1, value_date=date.today())


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [(-1234, "EUR", "-12.34"), (5, "EUR", "0.05"), (1234, "JPY", "1234"), (1, "KWD", "0.001"),
     (2**60, "EUR", "11529215046068469.76")],
)  # fmt: skip
def test_format_minor(minor: int, currency: str, text: str) -> None:
    assert format_minor(minor, currency) == text


@given(st.integers(-(2**70), 2**70), st.sampled_from(["EUR", "JPY", "KWD", "CLF"]))
def test_format_minor_agrees_with_money(minor: int, currency: str) -> None:
    assert format_minor(minor, currency) == Money.from_minor(minor, currency).to_decimal_string()


def test_utc_is_kept() -> None:
    stamp = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
    assert Record(
        id="r", account="A", currency="EUR", amount_minor=1, value_date=stamp
    ).value_date == date(2026, 3, 1)
