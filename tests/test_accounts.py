import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walletlink.accounts import _IBAN_BBANS, Bic, Iban, LocalAccount, SortCodeAccount, mask
from walletlink.errors import InvalidAccountError

VALID = ["GB33BUKB20201555555555", "DE89370400440532013000", "FR1420041010050500013M02606"]


@pytest.mark.parametrize("value", VALID)
def test_valid_ibans(value: str) -> None:
    assert Iban(value).value == value


def test_iban_is_normalised() -> None:
    assert Iban("gb33 bukb 2020 1555 5555 55").value == "GB33BUKB20201555555555"
    assert Iban("GB33BUKB20201555555555").formatted() == "GB33 BUKB 2020 1555 5555 55"


def test_bad_checksum_is_refused_without_leaking_the_number() -> None:
    with pytest.raises(InvalidAccountError) as info:
        Iban("GB34BUKB20201555555555")
    assert "20201555555555" not in str(info.value)
    assert "mod-97" in str(info.value)


def test_wrong_length_for_country() -> None:
    with pytest.raises(InvalidAccountError, match="22 characters"):
        Iban("GB33BUKB2020155555555")


def test_repr_and_str_are_masked() -> None:
    iban = Iban("GB33BUKB20201555555555")
    assert repr(iban) == "Iban('…5555')"
    assert "BUKB" not in f"{iban}"


def test_bic() -> None:
    assert Bic("deutdeff").value == "DEUTDEFF"
    assert Bic("DEUTDEFF500").country == "DE"
    with pytest.raises(InvalidAccountError):
        Bic("DEUT")


def test_sort_code_account() -> None:
    account = SortCodeAccount("20-00-00", "55555555")
    assert account.value == "20000055555555"
    assert "55555555" not in repr(account)
    with pytest.raises(InvalidAccountError):
        SortCodeAccount("2000", "55555555")


def test_local_account() -> None:
    assert LocalAccount(" acct_123 ").value == "acct_123"
    with pytest.raises(InvalidAccountError):
        LocalAccount("")


def test_mask() -> None:
    assert mask("1234567890") == "…7890"
    assert mask("12") == "…"


def _with_check_digits(country: str, bban: str) -> str:
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


@given(st.text(alphabet="0123456789", min_size=18, max_size=18))
def test_any_correct_check_digits_validate_and_any_single_digit_change_fails(bban: str) -> None:
    good = _with_check_digits("DE", bban)
    assert Iban(good).value == good
    changed = good[:10] + str((int(good[10]) + 1) % 10) + good[11:]
    with pytest.raises(InvalidAccountError):
        Iban(changed)


# -- identifiers are ASCII: no Unicode case folding or digits -----------------------------


@pytest.mark.parametrize(
    "value",
    [
        "ſE4550000000058398257466",  # long s: "ſ".upper() == "S", a valid Swedish IBAN
        "GB33BUKB20201555555555".replace("B", "ｂ"),  # fullwidth b
        "GB33BUKB2020155555555٥",  # Arabic-Indic five
        "GB33\u00a0BUKB20201555555555",  # no-break space
    ],
)
def test_iban_refuses_non_ascii_without_folding_it(value: str) -> None:
    with pytest.raises(InvalidAccountError, match="ASCII") as info:
        Iban(value)
    assert "20201555555555" not in str(info.value)


def test_bic_refuses_non_ascii() -> None:
    with pytest.raises(InvalidAccountError, match="ASCII"):
        Bic("DEUTDEFſ")


@pytest.mark.parametrize(
    ("sort_code", "number"),
    [("２０0000", "55555555"), ("200000", "5555555٥"), ("20000²", "55555555")],
)
def test_sort_code_account_refuses_non_ascii_digits(sort_code: str, number: str) -> None:
    with pytest.raises(InvalidAccountError, match="ASCII digits"):
        SortCodeAccount(sort_code, number)


@pytest.mark.parametrize("value", ["acct\x00_1", "acct\n1", "wället-1", "acct\u202e1"])
def test_local_account_is_printable_ascii(value: str) -> None:
    with pytest.raises(InvalidAccountError, match="printable ASCII"):
        LocalAccount(value)


def test_local_account_scheme_is_a_short_ascii_name() -> None:
    assert LocalAccount("10020030/0123456789", scheme="bban").scheme == "bban"
    with pytest.raises(InvalidAccountError, match="scheme"):
        LocalAccount("a", scheme="wal let")
    with pytest.raises(InvalidAccountError, match="scheme"):
        LocalAccount("a", scheme="")


def _registry() -> dict[str, str]:
    """python-stdnum's copy of the SWIFT IBAN registry: country → BBAN structure."""
    from importlib.resources import files

    rows = {}
    for line in files("stdnum").joinpath("iban.dat").read_text(encoding="utf-8").splitlines():
        match = re.match(r'([A-Z]{2}) country="[^"]*" bban="([^"]*)"', line)
        if match:
            rows[match[1]] = match[2]
    return rows


def with_check_digits(country: str, bban: str) -> str:
    digits = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


_CHARS = {
    "n": "0123456789",
    "a": string.ascii_uppercase,
    "c": string.ascii_uppercase + "0123456789",
}


@st.composite
def registry_ibans(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(sorted(_IBAN_BBANS)))
    parts = re.findall(r"([0-9]+)!([nac])", _IBAN_BBANS[country])
    bban = "".join(
        draw(st.text(alphabet=_CHARS[kind], min_size=int(count), max_size=int(count)))
        for count, kind in parts
    )
    return with_check_digits(country, bban)


def test_the_bban_table_is_the_swift_registry() -> None:
    """Every country of the registry, with its BBAN structure, as python-stdnum has it."""
    assert _registry() == _IBAN_BBANS


@given(registry_ibans())
def test_ibans_of_the_registrys_structure_validate_here_and_in_stdnum(value: str) -> None:
    from stdnum import iban as stdnum_iban

    # check_country=False: national check digits (ES, BE, NO, ...) are not checked here.
    assert Iban(value).value == stdnum_iban.validate(value, check_country=False)


@pytest.mark.parametrize(
    "value",
    [
        "RU0304452522540817810538091310419",  # the registry's example IBANs of countries
        "LY83002048000020100120361",  # that the length table used to lack
        "OM810180000001299123456",
        "SD2129010501234001",
        "BI4210000100010000332045181",
        "FK88SC123456789012",
    ],
)
def test_countries_new_to_the_table(value: str) -> None:
    assert Iban(value).value == value
    with pytest.raises(InvalidAccountError, match="characters"):
        Iban(with_check_digits(value[:2], value[4:] + "1"))


def test_a_bban_of_the_wrong_structure_is_refused_without_leaking_it() -> None:
    forged = with_check_digits("DE", "37040044053201300X")  # a letter where a digit goes
    with pytest.raises(InvalidAccountError, match=r"8!n10!n") as raised:
        Iban(forged)
    assert "3704004405320" not in str(raised.value)
    from stdnum import iban as stdnum_iban
    from stdnum.exceptions import ValidationError

    with pytest.raises(ValidationError):
        stdnum_iban.validate(forged, check_country=False)
