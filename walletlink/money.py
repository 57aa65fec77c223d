"""Exact money: a Decimal amount and an ISO 4217 currency with its exponent.

A float never becomes money: ``Money(0.1, "EUR")`` raises ``TypeError`` because 0.1 is not
0.1 in binary. Amounts are built from strings, Decimals, ints (whole units) or minor units,
and must fit their currency's exponent exactly: ``Money("1.005", "EUR")`` is an error, never a
silent rounding. Arithmetic and comparison work only within one currency.

Every computation runs in one private decimal context of 38 digits that traps ``Inexact``,
``Rounded`` and ``Overflow``: a sum, a product or a conversion to minor units is exact or it
raises :class:`~walletlink.errors.InvalidAmountError`. Python's default context (28 digits,
no traps) is never used, so a thread's ``decimal.getcontext()`` changes nothing here.

A string amount is a plain ASCII decimal: digits, an optional leading ``-`` and an optional
``.`` followed by digits. Exponents (``1E+2``), a leading ``+``, underscores (``1_000``),
non-ASCII digits (``١٢``, ``１２``) and ``NaN`` are refused, although ``Decimal()`` would take
them. A ``Decimal`` value may use any exponent. Negative zero is stored as zero.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Final

import attrs

from walletlink.errors import CurrencyError, CurrencyMismatchError, InvalidAmountError

__all__ = ["CURRENCY_EXPONENTS", "Money", "exact_sum", "exponent_of", "parse_amount"]

#: ISO 4217 minor-unit exponents of the active currencies (List One as of 2026-01-01), plus
#: ANG and BGN, withdrawn in 2025 (for XCG) and 2026 (for EUR) but still on older statements.
#: Currencies not listed here are refused: funds codes, units of account (XDR, XAD, ...),
#: precious metals and test codes are not money a wallet pays out.
CURRENCY_EXPONENTS: Final[dict[str, int]] = {
    **dict.fromkeys(
        "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP "
        "BYN BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP "
        "GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT "
        "LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN "
        "NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP "
        "SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VED VES "
        "WST XCD XCG YER ZAR ZMW ZWG".split(),
        2,
    ),
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    "CLF": 4,
    "UYW": 4,
}

_QUANTA: Final[dict[int, Decimal]] = {e: Decimal(1).scaleb(-e) for e in range(5)}
#: Significant digits an amount may have: more than any bank moves, and every result that needs
#: more raises instead of rounding.
PRECISION: Final = 38
# Used explicitly by every operation (context methods, ``context=``), never installed as the
# thread's context: a caller's decimal settings can neither loosen nor break Money.
_CONTEXT: Final = decimal.Context(
    prec=PRECISION,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[
        decimal.InvalidOperation,
        decimal.Inexact,
        decimal.Rounded,
        decimal.Overflow,
        decimal.DivisionByZero,
    ],
)
# Fitting an amount to its currency's exponent drops zeros (1.000 → 1.00, a Rounded signal):
# only a lost non-zero digit (Inexact) is an error there.
_QUANTIZE_CONTEXT: Final = decimal.Context(
    prec=PRECISION, traps=[decimal.InvalidOperation, decimal.Inexact]
)
_AMOUNT_TEXT: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# Far more than PRECISION digits (leading zeros included): refusing longer text first keeps
# parsing and the error message small.
_MAX_AMOUNT_TEXT: Final = 100
_ARITHMETIC_ERRORS: Final = (decimal.Inexact, decimal.Rounded, decimal.Overflow)


def exponent_of(currency: str) -> int:
    """The ISO 4217 exponent of ``currency`` (``EUR`` → 2, ``JPY`` → 0, ``KWD`` → 3)."""
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise CurrencyError(f"unknown ISO 4217 currency code {currency!r}") from None


def parse_amount(value: object) -> Decimal:
    """Turn a string, Decimal or int into a finite Decimal; refuse floats with ``TypeError``.

    Decimal commas, thousands separators and currency symbols are the caller's job: the
    statement parsers know their own formats, and a guess here would hide errors. A string
    is a plain ASCII decimal (see the module docstring); surrounding ASCII spaces are ignored.
    A ``Decimal`` may use any exponent (``Decimal("1E+2")`` is 100) but must be finite.
    """
    if isinstance(value, bool):
        raise TypeError("a bool is not an amount")
    if isinstance(value, float):
        raise TypeError("floats are not exact: pass the amount as a str or Decimal")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        amount = _parse_text(value)
    else:
        raise TypeError(f"cannot make an amount from {type(value).__name__}")
    if not amount.is_finite():
        raise InvalidAmountError("an amount must be finite")
    return amount


def _parse_text(value: str) -> Decimal:
    text = value.strip(" \t\r\n")
    if len(text) > _MAX_AMOUNT_TEXT or not _AMOUNT_TEXT.fullmatch(text):
        shown = repr(text[:_MAX_AMOUNT_TEXT]) + ("…" if len(text) > _MAX_AMOUNT_TEXT else "")
        raise InvalidAmountError(
            f"not a plain decimal amount: {shown} (ASCII digits, optional '-' and '.' only)"
        )
    # Decimal(str) is exact whatever the context: the digits are kept, never rounded.
    return Decimal(text)


def _shown(amount: Decimal) -> str:
    """An amount for an error message: a Decimal input may carry thousands of digits."""
    text = str(amount)
    return text if len(text) <= 40 else text[:40] + "…"


def exact_sum(amounts: Iterable[Decimal]) -> Decimal:
    """The exact sum of ``amounts``; ``InvalidAmountError`` when it needs more than 38 digits.

    For totals across currencies (an ISO 20022 ``CtrlSum``), where :class:`Money` cannot add.
    """
    total = Decimal(0)
    try:
        for amount in amounts:
            total = _CONTEXT.add(total, amount)
    except _ARITHMETIC_ERRORS:
        raise InvalidAmountError(f"a total needs more than {PRECISION} digits") from None
    return total


def _currency(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("currency must be an ISO 4217 code string")
    code = value.strip()
    # ASCII letters only: "ｅｕｒ".upper() or a folded "ſ" must not become a currency code.
    if len(code) != 3 or not (code.isascii() and code.isalpha()):
        raise CurrencyError(f"a currency is a three-letter ISO 4217 code, got {code[:8]!r}")
    code = code.upper()
    exponent_of(code)
    return code


def _amount(value: object) -> Decimal:
    return parse_amount(value)


@attrs.frozen(repr=False, eq=True, order=False)
class Money:
    """An exact amount in one currency. Negative amounts are allowed (ledgers need them).

    >>> Money("12.30", "EUR") + Money("0.70", "EUR")
    Money('13.00', 'EUR')
    >>> Money.from_minor(1234, "JPY")
    Money('1234', 'JPY')
    """

    amount: Decimal = attrs.field(converter=_amount)
    currency: str = attrs.field(converter=_currency)

    def __attrs_post_init__(self) -> None:
        exponent = CURRENCY_EXPONENTS[self.currency]
        try:
            scaled = self.amount.quantize(_QUANTA[exponent], context=_QUANTIZE_CONTEXT)
        except decimal.Inexact:
            raise InvalidAmountError(
                f"{self.currency} allows {exponent} decimal places, got {_shown(self.amount)}"
            ) from None
        except decimal.InvalidOperation:
            raise InvalidAmountError(
                f"amount too large: at most {PRECISION} digits in {self.currency}"
            ) from None
        if scaled.is_zero() and scaled.is_signed():
            # -0 equals 0 but would print "-0.00" into a bank's body.
            scaled = scaled.copy_abs()
        # Normalise the representation so that equal amounts hash and print alike.
        object.__setattr__(self, "amount", scaled)

    @classmethod
    def from_minor(cls, minor_units: int, currency: str) -> Money:
        """Build from integer minor units: ``Money.from_minor(1999, "EUR")`` is 19.99 EUR."""
        if isinstance(minor_units, bool) or not isinstance(minor_units, int):
            raise TypeError("minor units must be an int")
        code = _currency(currency)
        try:
            amount = Decimal(minor_units).scaleb(-CURRENCY_EXPONENTS[code], context=_CONTEXT)
        except _ARITHMETIC_ERRORS:
            raise InvalidAmountError(f"amount too large: at most {PRECISION} digits") from None
        return cls(amount, code)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @property
    def exponent(self) -> int:
        return CURRENCY_EXPONENTS[self.currency]

    @property
    def minor_units(self) -> int:
        """The amount as an integer count of minor units (cents, fils, yen)."""
        # scaleb in the default context would round past 28 digits; ours is exact (38 digits).
        return int(self.amount.scaleb(self.exponent, context=_CONTEXT))

    def to_decimal_string(self) -> str:
        """The amount as the plain decimal string banks expect: ``"12.30"``, ``"1234"``."""
        return f"{self.amount:f}"

    def is_zero(self) -> bool:
        return self.amount == 0

    def is_negative(self) -> bool:
        return self.amount < 0

    def is_positive(self) -> bool:
        return self.amount > 0

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatchError(f"cannot combine {self.currency} with {other.currency}")
        return other

    def _exact(self, operation: str, left: Decimal, right: Decimal) -> Money:
        try:
            if operation == "add":
                result = _CONTEXT.add(left, right)
            elif operation == "subtract":
                result = _CONTEXT.subtract(left, right)
            else:
                result = _CONTEXT.multiply(left, right)
        except _ARITHMETIC_ERRORS:
            raise InvalidAmountError(
                f"result needs more than {PRECISION} digits in {self.currency}"
            ) from None
        return Money(result, self.currency)

    def __add__(self, other: Money) -> Money:
        return self._exact("add", self.amount, self._same(other).amount)

    def __sub__(self, other: Money) -> Money:
        return self._exact("subtract", self.amount, self._same(other).amount)

    def __neg__(self) -> Money:
        return Money(self.amount.copy_negate(), self.currency)

    def __abs__(self) -> Money:
        return Money(self.amount.copy_abs(), self.currency)

    def __mul__(self, factor: int) -> Money:
        # Only integer factors: a rate multiplication needs a rounding rule the caller owns.
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError("Money can only be multiplied by an int")
        return self._exact("multiply", self.amount, Decimal(factor))

    @classmethod
    def sum(cls, items: Iterable[Money], currency: str) -> Money:
        """The exact total of ``items``, all in ``currency`` (zero when there are none)."""
        code = _currency(currency)
        total = cls.zero(code)
        for item in items:
            total = total + total._same(item)
        return total

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    def __bool__(self) -> bool:
        return not self.is_zero()

    def __repr__(self) -> str:
        return f"Money({self.to_decimal_string()!r}, {self.currency!r})"

    def __str__(self) -> str:
        return f"{self.to_decimal_string()} {self.currency}"


class _Unfrozen(Money):
    """Only ever seen inside :func:`_trusted_money`, before it becomes a Money."""

    __slots__ = ()
    __setattr__ = object.__setattr__
    __delattr__ = object.__delattr__


_new_object: Final = object.__new__


def _trusted_money(amount: Decimal, currency: str) -> Money:
    """A :class:`Money` built without re-validation, for parsers that have checked already.

    The caller guarantees what ``Money(amount, currency)`` would otherwise establish:
    ``currency`` is a listed upper-case code and ``amount`` is a finite Decimal with exactly
    the currency's exponent (``Decimal("12.30")`` for EUR, ``Decimal("5")`` for JPY), so the
    result equals, hashes and prints like the validated one. Used by the MT940 parser, whose
    regex and exponent check guarantee both for every ``:61:`` amount.

    The value is built as a :class:`_Unfrozen` (same slots, plain attribute setting, which
    CPython stores directly) and then becomes a Money: about 0.1 µs instead of 1.3 µs.
    """
    # Any: mypy sees the inherited frozen fields; _Unfrozen's slots are writable.
    money: Any = _new_object(_Unfrozen)
    money.amount = amount
    money.currency = currency
    money.__class__ = Money
    return money  # type: ignore[no-any-return]
