"""``examples/daily_reconciliation.py`` runs in CI: here, against the in-process mock bank."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[2] / "examples" / "daily_reconciliation.py"


def test_daily_example_finds_the_three_planted_breaks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("daily_reconciliation", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.run(tmp_path) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert len(report["matched"]) == 3
    assert report["mismatched"][0]["diffs"][0]["delta"] == "1.00"
    assert [d["record_id"].endswith("-again") for d in report["duplicates"]] == [True]
    # Not at the bank yet, but inside the 2-day settlement lag of examples/rules.toml.
    assert [r["record_id"] for r in report["pending"]] == ["ledger-lost"]
    assert (tmp_path / "report.html").exists()
    assert "mismatch" in capsys.readouterr().out
