"""The command line: `walletlink demo` is what `make demo` runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from walletlink._demo import simulate
from walletlink.cli import main


def test_demo_json_has_the_promised_keys_and_proves_the_ledger(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--json", "--transfers", "30", "--seed", "3"]) == 0
    summary = json.loads(capsys.readouterr().out)
    for key in (
        "transfers",
        "settled",
        "rejected",
        "retries",
        "unknown_resolved",
        "duplicates_at_bank",
        "journal_matches_bank",
    ):
        assert key in summary
    assert summary["transfers"] == 30
    assert summary["settled"] + summary["rejected"] == 30
    assert summary["duplicates_at_bank"] == 0
    assert summary["journal_matches_bank"] is True
    assert {info["protocol"] for info in summary["banks"].values()} == {
        "generic_rest",
        "iso20022_h2h",
        "cn_openapi",
        "wechatpay_v3",
    }
    assert sum(info["transfers"] for info in summary["banks"].values()) == 30


@pytest.mark.parametrize("seed", [1, 2, 5, 11])
def test_demo_injects_faults_and_still_never_pays_twice(seed: int, tmp_path: Path) -> None:
    summary = simulate(transfers=60, seed=seed, journal_path=tmp_path / "j.sqlite3")
    assert sum(summary.faults_injected.values()) > 0
    assert summary.retries > 0
    assert summary.duplicates_at_bank == 0
    assert summary.journal_matches_bank
    assert summary.journal_verified
    assert summary.unknown_resolved >= summary.unknown_outcomes
    assert summary.webhook_duplicates > 0


def test_demo_text_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--transfers", "10"]) == 0
    out = capsys.readouterr().out
    assert "duplicates at bank     0" in out
    assert "journal matches bank   yes" in out


def test_python_dash_m_walletlink() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "walletlink", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.startswith("walletlink ")
