"""Account identifiers: IBAN (mod-97 checked), BIC, UK sort code + account number, local ids.

Account numbers are personal data. Each identifier keeps its full value in ``.value`` for the
wire, but its ``repr`` and ``str`` show only the last four characters, so an f-string or a log
line never spills a full number by accident.

Identifiers are ASCII: an IBAN or BIC has ASCII letters and digits only, a sort code and a UK
account number ASCII digits only, and a local account id printable ASCII. Anything else is
refused before any case folding, because ``str.upper()`` and ``str.isdigit()`` are Unicode-wide:
``"ſ".upper()`` is ``"S"`` and ``"١".isdigit()`` is true, so an IBAN or a sort code could
otherwise be spelled with characters no bank would read the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, TypeAlias

import attrs

from walletlink.errors import InvalidAccountError

__all__ = ["AccountId", "Bic", "Iban", "LocalAccount", "SortCodeAccount", "mask"]

# Lengths from the SWIFT IBAN registry; a country not listed is checked by mod-97 only.
_IBAN_LENGTHS: Final[dict[str, int]] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
_IBAN_SHAPE: Final = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
_BIC_SHAPE: Final = re.compile(r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?")
# Printable ASCII, no surrounding spaces (stripped first): what a bank-local id may contain.
_LOCAL_ID: Final = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
_SCHEME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,34}")


def mask(value: str, visible: int = 4) -> str:
    """``"GB33BUKB20201555555555"`` → ``"…5555"``: only the last ``visible`` characters."""
    return "…" + value[-visible:] if len(value) > visible else "…"


def _iban_checksum_ok(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def _normalise_iban(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("an IBAN is a string")
    if not value.isascii():
        raise InvalidAccountError("an IBAN has ASCII letters and digits only")
    iban = value.replace(" ", "").upper()
    if not _IBAN_SHAPE.fullmatch(iban):
        raise InvalidAccountError(f"malformed IBAN ending {mask(iban)}")
    expected = _IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        raise InvalidAccountError(
            f"an IBAN from {iban[:2]} has {expected} characters, got {len(iban)}"
        )
    if not _iban_checksum_ok(iban):
        raise InvalidAccountError(f"IBAN ending {mask(iban)} fails its mod-97 check")
    return iban


@attrs.frozen(repr=False)
class Iban:
    """An IBAN, normalised (no spaces, upper case) and mod-97 checked."""

    value: str = attrs.field(converter=_normalise_iban)

    @property
    def country(self) -> str:
        return self.value[:2]

    @property
    def masked(self) -> str:
        return mask(self.value)

    def formatted(self) -> str:
        """The IBAN in groups of four, as printed on paper."""
        return " ".join(self.value[i : i + 4] for i in range(0, len(self.value), 4))

    def __repr__(self) -> str:
        return f"Iban({self.masked!r})"

    __str__ = __repr__


def _normalise_bic(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("a BIC is a string")
    if not value.isascii():
        raise InvalidAccountError("a BIC has ASCII letters and digits only")
    bic = value.replace(" ", "").upper()
    if not _BIC_SHAPE.fullmatch(bic):
        raise InvalidAccountError(f"malformed BIC {bic!r}: expected 8 or 11 characters")
    return bic


@attrs.frozen
class Bic:
    """A BIC (ISO 9362): 8 or 11 characters. Not secret, so shown in full."""

    value: str = attrs.field(converter=_normalise_bic)

    @property
    def country(self) -> str:
        return self.value[4:6]

    def __str__(self) -> str:
        return self.value


def _digits(length: int, what: str) -> Callable[[object], str]:
    def convert(value: object) -> str:
        if not isinstance(value, str):
            raise TypeError(f"a {what} is a string")
        text = value.replace("-", "").replace(" ", "")
        if len(text) != length or not (text.isascii() and text.isdigit()):
            raise InvalidAccountError(f"a {what} has {length} ASCII digits")
        return text

    return convert


def _sort_code(value: object) -> str:
    return _digits(6, "sort code")(value)


def _uk_account_number(value: object) -> str:
    return _digits(8, "UK account number")(value)


@attrs.frozen(repr=False)
class SortCodeAccount:
    """A UK sort code (6 digits) and account number (8 digits)."""

    sort_code: str = attrs.field(converter=_sort_code)
    account_number: str = attrs.field(converter=_uk_account_number)

    @property
    def value(self) -> str:
        """The 14-digit identification UK Open Banking sends (sort code + account number)."""
        return self.sort_code + self.account_number

    @property
    def masked(self) -> str:
        return mask(self.account_number)

    def __repr__(self) -> str:
        return f"SortCodeAccount({self.sort_code[:2]}-**-**, {self.masked!r})"

    __str__ = __repr__


def _non_empty(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidAccountError("an account id must be a non-empty string")
    if len(value) > 70:
        raise InvalidAccountError("an account id has at most 70 characters")
    text = value.strip()
    if not _LOCAL_ID.fullmatch(text):
        raise InvalidAccountError("an account id has printable ASCII characters only")
    return text


def _scheme(value: object) -> str:
    if not isinstance(value, str) or not _SCHEME.fullmatch(value):
        raise InvalidAccountError(
            "an account scheme has 1 to 35 ASCII letters, digits, '_', '.', ':' or '-'"
        )
    return value


@attrs.frozen(repr=False)
class LocalAccount:
    """A bank-local account id (the bank's own numbering, or a wallet's virtual account)."""

    value: str = attrs.field(converter=_non_empty)
    scheme: str = attrs.field(default="local", converter=_scheme)

    @property
    def masked(self) -> str:
        return mask(self.value)

    def __repr__(self) -> str:
        return f"LocalAccount({self.masked!r}, scheme={self.scheme!r})"

    __str__ = __repr__


AccountId: TypeAlias = Iban | SortCodeAccount | LocalAccount
