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


def test_records_share_one_object_per_account_counterparty_currency_and_day() -> None:
    # A million records hold a few hundred distinct values of these; each parsed copy
    # would cost its own object. Equal values, same objects; the values themselves unchanged.
    def build(n: int) -> Record:
        return Record(
            id=f"r{n}",
            account="".join(["DE89", "3704"]),  # a fresh string object each time
            currency="".join(["e", "ur"]),
            amount_minor=1,
            value_date=date(2026, 3, 1 + n - n),
            booking_date=datetime(2026, 3, 1, 12, n),
            counterparty=" ".join(["Acme", " Ltd"]),
        )

    first, second = build(1), build(2)
    assert (first.account, first.currency, first.counterparty) == ("DE893704", "EUR", "Acme Ltd")
    assert first.account is second.account
    assert first.currency is second.currency
    assert first.counterparty is second.counterparty
    assert first.value_date is second.value_date
    assert first.booking_date is second.booking_date == date(2026, 3, 1)


def test_a_remembered_currency_spelling_still_checks_every_other_one() -> None:
    assert (
        Record(id="a", account="A", currency=" gbp ", amount_minor=1, value_date=DAY).currency
        == "GBP"
    )
    assert (
        Record(id="b", account="A", currency=" gbp ", amount_minor=1, value_date=DAY).currency
        == "GBP"
    )
    with pytest.raises(CurrencyError):
        Record(id="c", account="A", currency="gbq", amount_minor=1, value_date=DAY)
    with pytest.raises(ValidationError):
        Record(id="d", account="A", currency=826, amount_minor=1, value_date=DAY)  # type: ignore[arg-type]


def test_a_date_subclass_is_kept_as_given() -> None:
    class Day(date):
        pass

    day = Day(2026, 3, 1)
    assert (
        Record(id="r", account="A", currency="EUR", amount_minor=1, value_date=day).value_date
        is day
    )


DAY = date(2026, 3, 1)
