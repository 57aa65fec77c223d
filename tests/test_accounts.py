import pytest
from hypothesis import given
from hypothesis import strategies as st

from walletlink.accounts import Bic, Iban, LocalAccount, SortCodeAccount, mask
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
