import os
from pathlib import Path

import pytest
import trustme

from walletlink.config import BankConfig, Credentials, Timeout
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


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (12, Timeout(read=12)),
        (2.5, Timeout(read=2.5)),
        ((3, 10), Timeout(connect=3, read=10)),
        (Timeout(connect=1, read=2, total=9), Timeout(connect=1, read=2, total=9)),
    ],
)
def test_timeout_takes_seconds_a_pair_or_a_timeout(given: object, expected: Timeout) -> None:
    config = BankConfig(bank_id="a", protocol="p", base_url="https://x.example", timeout=given)
    assert config.timeout == expected


@pytest.mark.parametrize(
    "given", [(3,), (1, 2, 3), "10", True, (0, 10), (3, 301), {"read": 1}, (None, 4)]
)
def test_a_malformed_timeout_is_a_configuration_error(given: object) -> None:
    """Not a raw TypeError from deep in the transport: a typed error when the config is built."""
    with pytest.raises(ConfigurationError, match="timeout"):
        BankConfig(bank_id="a", protocol="p", base_url="https://x.example", timeout=given)


def test_a_total_timeout_is_validated() -> None:
    assert Timeout(total=60).total == 60
    with pytest.raises(ConfigurationError, match="total"):
        Timeout(total=0)


def test_credentials_require_names_the_missing_key() -> None:
    with pytest.raises(ConfigurationError, match="'api_key'"):
        Credentials({}).require("api_key", "acme")


def test_max_response_bytes_defaults_to_ten_mib_and_is_validated() -> None:
    config = BankConfig(bank_id="a", protocol="p", base_url="https://x.example")
    assert config.max_response_bytes == 10 * 1024 * 1024
    for bad in (0, 1023, True, 2.5e6):
        with pytest.raises(ConfigurationError, match="max_response_bytes"):
            BankConfig(
                bank_id="a",
                protocol="p",
                base_url="https://x.example",
                max_response_bytes=bad,  # type: ignore[arg-type]
            )


# -- TLS material is loaded when the config is built ----------------------------------------


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Real trustme material, plus files that only look like it."""
    directory = tmp_path_factory.mktemp("pem")
    ca, other = trustme.CA(), trustme.CA()
    leaf, stranger = ca.issue_cert("wallet.example"), other.issue_cert("wallet.example")
    files = {
        "ca": ca.cert_pem.bytes(),
        "combined": leaf.private_key_and_cert_chain_pem.bytes(),
        "cert": leaf.cert_chain_pems[0].bytes(),
        "key": leaf.private_key_pem.bytes(),
        "other_key": stranger.private_key_pem.bytes(),
        "garbage": b"not a certificate\n",
    }
    paths = {}
    for name, content in files.items():
        path = directory / f"{name}.pem"
        path.write_bytes(content)
        paths[name] = str(path)
    paths["missing"] = str(directory / "missing.pem")
    return paths


def tls_config(**fields: object) -> BankConfig:
    return BankConfig(bank_id="a", protocol="p", base_url="https://x.example", **fields)  # type: ignore[arg-type]


def test_good_tls_material_is_accepted(pem: dict[str, str]) -> None:
    assert tls_config(client_cert=pem["combined"], ca_bundle=pem["ca"]).ca_bundle == pem["ca"]
    assert tls_config(client_cert=(pem["cert"], pem["key"])).client_cert == (
        pem["cert"],
        pem["key"],
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"client_cert": "missing"}, "client_cert: no file at"),
        ({"client_cert": ("cert", "missing")}, "client_cert key: no file at"),
        ({"client_cert": "garbage"}, "client_cert: .* must hold a PEM certificate"),
        ({"client_cert": "cert"}, "client_cert: .* must hold a PEM certificate"),
        ({"client_cert": ("cert", "garbage")}, "client_cert: .* must hold a PEM certificate"),
        ({"client_cert": ("cert", "other_key")}, "the key does not match the certificate"),
        ({"ca_bundle": "missing"}, "ca_bundle: no file at"),
        ({"ca_bundle": "garbage"}, "ca_bundle: .* holds no PEM certificate"),
        ({"ca_bundle": "key"}, "ca_bundle: .* holds no PEM certificate"),
    ],
)
def test_bad_tls_material_is_a_configuration_error(
    pem: dict[str, str], fields: dict[str, object], message: str
) -> None:
    """Refused when the config is built, naming the setting and never the key's bytes."""
    resolved = {
        name: pem[value] if isinstance(value, str) else tuple(pem[v] for v in value)  # type: ignore[attr-defined]
        for name, value in fields.items()
    }
    with pytest.raises(ConfigurationError, match=message) as info:
        tls_config(**resolved)
    key_body = Path(pem["key"]).read_text().splitlines()[1]
    assert key_body not in str(info.value)


def test_a_client_cert_that_is_not_a_path_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="client_cert must be"):
        tls_config(client_cert=("a", "b", "c"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_ca_bundle_is_refused(pem: dict[str, str], tmp_path: Path) -> None:
    locked = tmp_path / "locked.pem"
    locked.write_bytes(Path(pem["ca"]).read_bytes())
    locked.chmod(0)
    with pytest.raises(ConfigurationError, match=r"ca_bundle: .* is not readable"):
        tls_config(ca_bundle=str(locked))
