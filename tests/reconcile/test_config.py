from __future__ import annotations

from pathlib import Path

import pytest

from walletlink.errors import ConfigurationError
from walletlink.reconcile import ReconcileConfig, load_rules


def test_rules_file_overrides_defaults_and_ignores_mapping_tables(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        'amount_tolerance_bps = 10\nstrong_references = ["bank_reference"]\n[ledger]\nid = "txid"\n'
    )
    config = load_rules(path)
    assert (config.amount_tolerance_bps, config.strong_references) == (10, ("bank_reference",))
    assert config.date_window_days == ReconcileConfig().date_window_days


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("amount_tolerance_bsp = 1\n", "amount_tolerance_bsp"),
        ("date_window_days = -1\n", "date_window_days"),
        ('strong_references = ["iban"]\n', "iban"),
        ("margin = 2.5\n", "margin"),
        ("max_candidates = 0\n", "max_candidates"),
        ("date_window_days = [\n", "not valid TOML"),
    ],
)
def test_bad_rules_are_refused_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=named):
        load_rules(path)


def test_missing_rules_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_rules(tmp_path / "absent.toml")


def test_tolerances_are_integer_arithmetic() -> None:
    config = ReconcileConfig(amount_tolerance_abs_minor=2, amount_tolerance_bps=50)
    assert config.amount_tolerance(-10_000) == 52
    assert (
        ReconcileConfig(batch_fee_max_abs_minor=0, batch_fee_max_bps=200).batch_fee_max(12_345)
        == 246
    )
    assert ReconcileConfig().batch_fee_max(12_345) == 500  # a fixed fee by default


def test_the_config_is_frozen() -> None:
    import attrs

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        ReconcileConfig().margin = 0.5  # type: ignore[misc]


def test_a_rules_file_that_is_not_utf8_is_a_configuration_error(tmp_path: Path) -> None:
    """tomllib's UnicodeDecodeError used to escape, and the CLI crashed with a traceback."""
    path = tmp_path / "rules.toml"
    path.write_bytes(b'margin = 0.2\nnote = "\xff"\n')
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_rules(path)


def test_batch_fees_table_from_a_rules_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[batch_fees]\n"Acquirer  Ltd" = [10, 250]\n', encoding="utf-8")
    config = load_rules(rules)
    assert config.batch_fees == (("Acquirer Ltd", 10, 250),)
    assert config.batch_fee_range("acquirer ltd") == (10, 250)
    assert config.batch_fee_range("Other") == (0, 500)


def test_batch_fees_refuses_a_bad_range() -> None:
    with pytest.raises(ConfigurationError, match="batch_fees"):
        ReconcileConfig(batch_fees={"PSP": [300, 100]})
