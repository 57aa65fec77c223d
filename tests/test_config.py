import pytest

from walletlink.config import BankConfig, Credentials
from walletlink.errors import ConfigurationError


def test_secrets_never_appear_in_repr() -> None:
    config = BankConfig(
        bank_id="acme",
        protocol="generic_rest",
        base_url="https://bank.example/",
        credentials={"api_key": "sk_live_supersecret"},
    )
    assert "supersecret" not in repr(config)
    assert "api_key" in repr(config)
    assert config.base_url == "https://bank.example"


@pytest.mark.parametrize(
    "url",
    ["ftp://bank.example", "bank.example", "http://bank.example", "https://u:p@bank.example"],
)
def test_base_url_is_validated(url: str) -> None:
    with pytest.raises(ConfigurationError):
        BankConfig(bank_id="acme", protocol="generic_rest", base_url=url)


def test_plain_http_is_allowed_on_loopback_only() -> None:
    assert BankConfig(bank_id="m", protocol="p", base_url="http://127.0.0.1:8080").base_url


@pytest.mark.parametrize("bank_id", ["", "a b", "a/b"])
def test_bank_id_is_validated(bank_id: str) -> None:
    with pytest.raises(ConfigurationError):
        BankConfig(bank_id=bank_id, protocol="p", base_url="https://x.example")


def test_timeout_is_validated() -> None:
    with pytest.raises(ConfigurationError):
        BankConfig(bank_id="a", protocol="p", base_url="https://x.example", timeout=0)


def test_credentials_require_names_the_missing_key() -> None:
    with pytest.raises(ConfigurationError, match="'api_key'"):
        Credentials({}).require("api_key", "acme")
