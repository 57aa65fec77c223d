from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walletlink.errors import CurrencyError, CurrencyMismatchError, InvalidAmountError
from walletlink.money import CURRENCY_EXPONENTS, Money, exponent_of


def test_exponents_follow_iso_4217() -> None:
    assert (exponent_of("EUR"), exponent_of("JPY"), exponent_of("KWD")) == (2, 0, 3)


def test_amount_is_normalised_to_the_currency_exponent() -> None:
    assert Money("12.3", "EUR").to_decimal_string() == "12.30"
    assert Money("1500", "JPY").to_decimal_string() == "1500"
    assert Money(Decimal("1.5"), "KWD").to_decimal_string() == "1.500"


def test_float_is_refused() -> None:
    with pytest.raises(TypeError, match="float"):
        Money(0.1, "EUR")


def test_too_many_decimals_is_an_error_not_a_rounding() -> None:
    with pytest.raises(InvalidAmountError, match="2 decimal places"):
        Money("1.005", "EUR")
    with pytest.raises(InvalidAmountError):
        Money("1.5", "JPY")


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "abc", ""])
def test_non_numbers_are_refused(bad: str) -> None:
    with pytest.raises(InvalidAmountError):
        Money(bad, "EUR")


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(CurrencyError):
        Money("1", "XXX")


def test_minor_units_round_trip() -> None:
    assert Money.from_minor(1999, "EUR") == Money("19.99", "EUR")
    assert Money.from_minor(1999, "KWD").amount == Decimal("1.999")
    assert Money("19.99", "EUR").minor_units == 1999
    with pytest.raises(TypeError):
        Money.from_minor(True, "EUR")


def test_arithmetic_within_one_currency() -> None:
    assert Money("1.10", "EUR") + Money("2.20", "EUR") == Money("3.30", "EUR")
    assert Money("1.10", "EUR") - Money("2.20", "EUR") == Money("-1.10", "EUR")
    assert 3 * Money("0.10", "EUR") == Money("0.30", "EUR")
    assert -Money("1", "EUR") < Money("0", "EUR")


def test_currency_mismatch_is_an_error() -> None:
    with pytest.raises(CurrencyMismatchError):
        Money("1", "EUR") + Money("1", "USD")
    with pytest.raises(CurrencyMismatchError):
        _ = Money("1", "EUR") < Money("1", "USD")


def test_multiplying_by_a_rate_is_refused() -> None:
    with pytest.raises(TypeError):
        Money("1", "EUR") * Decimal("1.5")  # type: ignore[operator]


def test_repr_and_str() -> None:
    assert repr(Money("1.5", "EUR")) == "Money('1.50', 'EUR')"
    assert str(Money("1.5", "EUR")) == "1.50 EUR"


currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))


@given(st.integers(min_value=-(10**15), max_value=10**15), currencies)
def test_minor_units_are_exact_for_any_amount(minor: int, currency: str) -> None:
    money = Money.from_minor(minor, currency)
    assert money.minor_units == minor
    assert Money(money.to_decimal_string(), currency) == money


@given(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.integers(min_value=-(10**12), max_value=10**12),
    currencies,
)
def test_addition_matches_integer_addition(a: int, b: int, currency: str) -> None:
    total = Money.from_minor(a, currency) + Money.from_minor(b, currency)
    assert total.minor_units == a + b
