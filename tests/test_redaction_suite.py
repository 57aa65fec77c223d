"""Everything walletlink logs at DEBUG, across every protocol, holds no secret and no full
account number: the demo (generic_rest, ISO 20022 host-to-host, CN open-API gateway) and the
Open Banking and Berlin Group examples run here with the ``walletlink`` logger at DEBUG."""

from __future__ import annotations

import importlib.util
import logging
import re
from pathlib import Path

import pytest

from walletlink._demo import _SCENARIOS, simulate

EXAMPLES = Path(__file__).parent.parent / "examples"
IBAN = re.compile(r"\b[A-Z]{2}\d{2}[A-Z0-9]{11,30}\b")
SECRET_MARKERS = ("sk_test_", "whsec_", "whsk_", "PRIVATE KEY", "Bearer ey", "Bearer sk")


def assert_clean(text: str) -> None:
    assert text, "nothing was logged: the test would prove nothing"
    assert IBAN.findall(text) == []
    for marker in SECRET_MARKERS:
        assert marker not in text


def test_demo_logs_at_debug_hold_no_secret(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    with caplog.at_level(logging.DEBUG, logger="walletlink"):
        simulate(transfers=30, seed=4, journal_path=tmp_path / "j.sqlite3")
    assert_clean(caplog.text)
    for scenario in _SCENARIOS:
        for entry in (scenario.wallet, scenario.small_float, *scenario.creditors):
            assert entry.account.value not in caplog.text


@pytest.mark.parametrize("name", ["openbanking_uk_payment", "berlin_group_payment"])
def test_open_banking_examples_log_no_secret(
    name: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with caplog.at_level(logging.DEBUG, logger="walletlink"):
        module.main()
    capsys.readouterr()
    assert_clean(caplog.text)
