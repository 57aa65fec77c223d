from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from walletlink.reconcile.cli import ProgressBar, add_arguments, run

DATA = Path(__file__).parent / "data"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def _inputs(tmp_path: Path) -> list[str]:
    return [
        "--ledger", str(DATA / "ledger.csv"),
        "--statement", str(DATA / "statement.camt053.xml"),
        "--statement", str(DATA / "statement.mt940"),
        "--statement", str(DATA / "bank_export.csv"),
        "--rules", str(DATA / "rules.toml"),
        "--out", str(tmp_path / "report.json"),
        "--as-of", "2026-03-07",
    ]  # fmt: skip


def test_all_three_report_forms_from_camt_mt940_and_csv(tmp_path: Path) -> None:
    err = io.StringIO()
    argv = [*_inputs(tmp_path), "--html", str(tmp_path / "r.html"), "--csv", str(tmp_path / "c")]
    assert run(_args(*argv), stderr=err) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    matched = {(m["wallet_id"], m["bank_id"]) for m in report["matched"]}
    assert {
        ("L1", "BR-1"),
        ("L2", "BR-2"),
        ("L6", "BR-5"),
        ("L7", "BR-7"),
        ("L8", "BR-8"),
    } == matched
    assert report["batches"][0]["members"] == ["L3", "L4"]
    assert report["mismatched"][0]["fields"] == ["amount"]
    assert [r["record_id"] for r in report["missing_in_wallet"]] == ["BR-6"]
    assert [r["record_id"] for r in report["missing_in_bank"]] == ["L9"]
    assert [r["record_id"] for r in report["pending"]] == ["L10"]
    assert all(check["ok"] for check in report["balance_checks"])
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert (tmp_path / "c" / "mismatched.csv").exists()
    assert "read statement.mt940: mt940, 2 records" in err.getvalue()


def test_fail_on_breaks_sets_the_exit_status(tmp_path: Path) -> None:
    assert run(_args(*_inputs(tmp_path), "--fail-on-breaks"), stderr=io.StringIO()) == 1


def test_unreadable_input_exits_2_naming_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "ledger.csv"
    bad.write_text("id,currency,amount,value_date\nX,EUR,abc,2026-01-01\n")
    err = io.StringIO()
    argv = ["--ledger", str(bad), "--statement", str(DATA / "statement.mt940"),
            "--out", str(tmp_path / "o.json")]  # fmt: skip
    assert run(_args(*argv), stderr=err) == 2
    assert "ledger.csv line 2" in err.getvalue()


def test_progress_bar_only_when_forced_or_a_terminal(tmp_path: Path) -> None:
    err = io.StringIO()
    run(_args(*_inputs(tmp_path)), stderr=err)
    assert "[" not in err.getvalue().replace("read ", "")
    err = io.StringIO()
    run(_args(*_inputs(tmp_path), "--progress", "always"), stderr=err)
    assert "8/8 report" in err.getvalue()  # 6 passes + leftovers + report


@pytest.mark.parametrize(
    ("done", "total", "bar"), [(0, 4, "[....]"), (2, 4, "[##..]"), (4, 4, "[####]")]
)
def test_progress_bar_draws_in_place(done: int, total: int, bar: str) -> None:
    out = io.StringIO()
    ProgressBar(out, width=4)("stage", done, total)
    assert out.getvalue().startswith(f"\r{bar} {done}/{total} stage")


def test_the_same_statement_twice_is_reimported_not_doubled(tmp_path: Path) -> None:
    camt = str(DATA / "statement.camt053.xml")
    argv = [*_inputs(tmp_path), "--statement", camt]
    assert run(_args(*argv), stderr=io.StringIO()) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert sorted(r["record_id"] for r in report["reimported"]) == ["BR-1", "BR-2", "BR-3", "BR-4"]
    assert len(report["matched"]) == 5
