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

# The BBAN structure of every country in the SWIFT IBAN registry (release 101), in the
# registry's own notation: "8!n10!n" is 8 digits then 10 digits; n is a digit, a an upper-case
# letter, c either. An IBAN is "CC" + 2 check digits + the BBAN, so the length follows. A
# country not listed (one that joins after this release) is checked by shape and mod-97 only.
_IBAN_BBANS: Final[dict[str, str]] = {
    "AD": "4!n4!n12!c", "AE": "3!n16!n", "AL": "8!n16!c", "AT": "5!n11!n", "AZ": "4!a20!c",
    "BA": "3!n3!n8!n2!n", "BE": "3!n7!n2!n", "BG": "4!a4!n2!n8!c", "BH": "4!a14!c",
    "BI": "5!n5!n11!n2!n", "BR": "8!n5!n10!n1!a1!c", "BY": "4!c4!n16!c", "CH": "5!n12!c",
    "CR": "4!n14!n", "CY": "3!n5!n16!c", "CZ": "4!n16!n", "DE": "8!n10!n", "DJ": "5!n5!n11!n2!n",
    "DK": "4!n9!n1!n", "DO": "4!c20!n", "EE": "2!n14!n", "EG": "4!n4!n17!n",
    "ES": "4!n4!n1!n1!n10!n", "FI": "3!n11!n", "FK": "2!a12!n", "FO": "4!n9!n1!n",
    "FR": "5!n5!n11!c2!n", "GB": "4!a6!n8!n", "GE": "2!a16!n", "GI": "4!a15!c", "GL": "4!n9!n1!n",
    "GR": "3!n4!n16!c", "GT": "4!c20!c", "HN": "4!a20!n", "HR": "7!n10!n",
    "HU": "3!n4!n1!n15!n1!n", "IE": "4!a6!n8!n", "IL": "3!n3!n13!n", "IQ": "4!a3!n12!n",
    "IS": "4!n2!n6!n10!n", "IT": "1!a5!n5!n12!c", "JO": "4!a4!n18!c", "KW": "4!a22!c",
    "KZ": "3!n13!c", "LB": "4!n20!c", "LC": "4!a24!c", "LI": "5!n12!c", "LT": "5!n11!n",
    "LU": "3!n13!c", "LV": "4!a13!c", "LY": "3!n3!n15!n", "MC": "5!n5!n11!c2!n", "MD": "2!c18!c",
    "ME": "3!n13!n2!n", "MK": "3!n10!c2!n", "MN": "4!n12!n", "MR": "5!n5!n11!n2!n",
    "MT": "4!a5!n18!c", "MU": "4!a2!n2!n12!n3!n3!a", "NI": "4!a20!n", "NL": "4!a10!n",
    "NO": "4!n6!n1!n", "OM": "3!n16!c", "PK": "4!a16!c", "PL": "8!n16!n", "PS": "4!a21!c",
    "PT": "4!n4!n11!n2!n", "QA": "4!a21!c", "RO": "4!a16!c", "RS": "3!n13!n2!n",
    "RU": "9!n5!n15!c", "SA": "2!n18!c", "SC": "4!a2!n2!n16!n3!a", "SD": "2!n12!n",
    "SE": "3!n16!n1!n", "SI": "5!n8!n2!n", "SK": "4!n6!n10!n", "SM": "1!a5!n5!n12!c",
    "SO": "4!n3!n12!n", "ST": "4!n4!n11!n2!n", "SV": "4!a20!n", "TL": "3!n14!n2!n",
    "TN": "2!n3!n13!n2!n", "TR": "5!n1!n16!c", "UA": "6!n19!c", "VA": "3!n15!n", "VG": "4!a16!n",
    "XK": "4!n10!n2!n", "YE": "4!a4!n18!c",
}  # fmt: skip
_BBAN_PART: Final = re.compile(r"([0-9]+)!([nac])")
_BBAN_CLASS: Final = {"n": "[0-9]", "a": "[A-Z]", "c": "[A-Z0-9]"}


def _bban_pattern(structure: str) -> re.Pattern[str]:
    parts = _BBAN_PART.findall(structure)
    # The table is data: a typo in it must fail loudly at import, not accept every BBAN.
    if "".join(f"{count}!{kind}" for count, kind in parts) != structure:
        raise ValueError(f"bad BBAN structure {structure!r}")
    return re.compile("".join(f"{_BBAN_CLASS[kind]}{{{count}}}" for count, kind in parts))


_IBAN_LENGTHS: Final[dict[str, int]] = {
    country: 4 + sum(int(count) for count, _ in _BBAN_PART.findall(structure))
    for country, structure in _IBAN_BBANS.items()
}
_BBAN_PATTERNS: Final[dict[str, re.Pattern[str]]] = {
    country: _bban_pattern(structure) for country, structure in _IBAN_BBANS.items()
}
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
    pattern = _BBAN_PATTERNS.get(iban[:2])
    if pattern is not None and not pattern.fullmatch(iban[4:]):
        raise InvalidAccountError(
            f"an IBAN from {iban[:2]} has a BBAN of the form {_IBAN_BBANS[iban[:2]]} "
            "(n digits, a letters, c letters or digits); IBAN ending "
            f"{mask(iban)} does not"
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
