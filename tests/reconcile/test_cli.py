from __future__ import annotations

import argparse
import io
import json
from datetime import date
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


_BANK = (
    "id,account,currency,amount,value_date,end_to_end_id,counterparty\n"
    "B1,ACC,EUR,25.00,2026-03-30,E1,Alice\n"
    "B2,ACC,EUR,-40.00,2026-03-31,E2,Bob\n"
)


def _run(tmp_path: Path, ledger: str, *extra: str, bank: str = _BANK) -> tuple[int, str, Path]:
    (tmp_path / "ledger.csv").write_text(ledger)
    (tmp_path / "bank.csv").write_text(bank)
    err = io.StringIO()
    argv = ["--ledger", str(tmp_path / "ledger.csv"), "--statement", str(tmp_path / "bank.csv"),
            "--out", str(tmp_path / "o.json"), *extra]  # fmt: skip
    code = run(_args(*argv), stderr=err, stdout=io.StringIO(), today=date(2026, 4, 15))
    return code, err.getvalue(), tmp_path / "o.json"


def test_without_rules_a_direction_column_signs_unsigned_amounts(tmp_path: Path) -> None:
    """Unsigned amounts used to be read as credits: nothing matched and nothing said so."""
    ledger = (
        "id,account,currency,amount,direction,value_date,end_to_end_id\n"
        "L1,ACC,EUR,25.00,CRDT,2026-03-30,E1\n"
        "L2,ACC,EUR,40.00,DBIT,2026-03-31,E2\n"
    )
    code, err, out = _run(tmp_path, ledger)
    assert (code, "warning" in err) == (0, False)
    assert len(json.loads(out.read_text())["matched"]) == 2


def test_unsigned_amounts_without_a_sign_column_warn_loudly(tmp_path: Path) -> None:
    ledger = (
        "id,account,currency,amount,value_date\n"
        "L1,ACC,EUR,25.00,2026-03-10\n"
        "L2,ACC,EUR,40.00,2026-03-11\n"
    )
    code, err, _ = _run(tmp_path, ledger)
    assert code == 0
    assert "warning: nothing matched although the ledger has 2 and the statements 2" in err
    assert "warning: every ledger amount is one sign (2 credits)" in err


def test_a_partial_ledger_table_keeps_the_standard_columns(tmp_path: Path) -> None:
    """A [ledger] table naming one column used to drop account, status and the rest."""
    (tmp_path / "rules.toml").write_text('[ledger]\nend_to_end_id = "e2e"\n')
    ledger = (
        "id,account,currency,amount,value_date,status,e2e\n"
        "L1,ACC,EUR,25.00,2026-03-30,settled,E1\n"
        "L2,ACC,EUR,-40.00,2026-03-31,failed,E2\n"
    )
    code, _, out = _run(tmp_path, ledger, "--rules", str(tmp_path / "rules.toml"))
    report = json.loads(out.read_text())
    assert code == 0
    assert [m["wallet_id"] for m in report["matched"]] == ["L1"]
    assert report["mismatched"][0]["fields"] == ["status"]


def test_a_mapped_column_missing_from_the_file_is_refused(tmp_path: Path) -> None:
    """It used to be read as an empty column on every row."""
    (tmp_path / "rules.toml").write_text('[ledger]\nend_to_end_id = "E2E-Ref"\n')
    ledger = "id,account,currency,amount,value_date,e2e\nL1,ACC,EUR,25.00,2026-03-30,E1\n"
    code, err, out = _run(tmp_path, ledger, "--rules", str(tmp_path / "rules.toml"))
    assert code == 2
    assert "'E2E-Ref' (end_to_end_id) not in the file" in err
    assert "'id', 'account', 'currency', 'amount', 'value_date', 'e2e'" in err
    assert not out.exists()


def test_a_statement_parse_error_names_the_file(tmp_path: Path) -> None:
    """With several --statement files the error used to give only 'line 4'."""
    bad = tmp_path / "march.sta"
    bad.write_text(":20:X\n:25:ACC\n:28C:1\n:60F:C260303EUR1,00\n:61:garbage\n-\n")
    ledger = "id,account,currency,amount,value_date\nL1,ACC,EUR,25.00,2026-03-30\n"
    code, err, _ = _run(tmp_path, ledger, "--statement", str(bad))
    assert code == 2
    assert f"{bad}: malformed :61: statement line at line 5" in err


def test_as_of_defaults_to_today_not_the_latest_input_date(tmp_path: Path) -> None:
    """A closed month used to show its last days as pending instead of missing."""
    ledger = (
        "id,account,currency,amount,value_date,end_to_end_id\n"
        "L1,ACC,EUR,25.00,2026-03-30,E1\n"
        "L9,ACC,EUR,-7.00,2026-03-31,E9\n"
    )
    bank = "id,account,currency,amount,value_date,end_to_end_id\nB1,ACC,EUR,25.00,2026-03-30,E1\n"
    _, err, out = _run(tmp_path, ledger, bank=bank)
    report = json.loads(out.read_text())
    assert (report["pending"], [r["record_id"] for r in report["missing_in_bank"]]) == ([], ["L9"])
    assert "as of 2026-04-15" in err


def test_out_dash_writes_the_report_to_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ledger.csv").write_text(
        "id,account,currency,amount,value_date\nL1,ACC,EUR,25.00,2026-03-30\n"
    )
    (tmp_path / "bank.csv").write_text(_BANK)
    out = io.StringIO()
    argv = ["--ledger", "ledger.csv", "--statement", "bank.csv", "--out", "-"]
    assert run(_args(*argv), stderr=io.StringIO(), stdout=out, today=date(2026, 4, 15)) == 0
    assert json.loads(out.getvalue())["format"] == "walletlink.reconciliation/1"
    assert not (tmp_path / "-").exists()


def test_the_summary_table_counts_every_category_per_side(tmp_path: Path) -> None:
    err = io.StringIO()
    run(_args(*_inputs(tmp_path), "--statement", str(DATA / "statement.camt053.xml")), stderr=err)
    table = err.getvalue().split("category", 1)[1]
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines()[1:] if line}
    assert rows["matched"] == ["5", "5"]
    assert rows["reimported"] == ["0", "4"]
    assert rows["missing_in_bank"] == ["1", "0"]
    assert rows["statement"] == ["balances:", "3", "ok,", "0", "off"]


def test_a_ledger_key_that_is_not_a_table_exits_2(tmp_path: Path) -> None:
    """It raised TypeError out of the command."""
    (tmp_path / "rules.toml").write_text("ledger = 5\n")
    ledger = "id,account,currency,amount,value_date\nL1,ACC,EUR,25.00,2026-03-30\n"
    code, err, _ = _run(tmp_path, ledger, "--rules", str(tmp_path / "rules.toml"))
    assert (code, "[ledger] must be a table" in err) == (2, True)


# -- the ledger from a database, and the engine --------------------------------------------------

_LEDGER_ROWS = [
    ("L1", "ACC", "EUR", "25.00", "2026-03-30", "E1", "Alice"),
    ("L2", "ACC", "EUR", "-40.00", "2026-03-31", "E2", "Bob"),
]
_LEDGER_SQL = (
    "SELECT id, account, currency, amount, value_date, end_to_end_id, counterparty FROM ledger"
)


def _run_dsn(tmp_path: Path, *extra: str) -> tuple[int, str, Path]:
    (tmp_path / "bank.csv").write_text(_BANK)
    err = io.StringIO()
    argv = ["--statement", str(tmp_path / "bank.csv"), "--out", str(tmp_path / "o.json"), *extra]
    code = run(_args(*argv), stderr=err, stdout=io.StringIO(), today=date(2026, 4, 15))
    return code, err.getvalue(), tmp_path / "o.json"


def test_the_ledger_is_read_from_a_sqlite_database(tmp_path: Path) -> None:
    import sqlite3

    with sqlite3.connect(tmp_path / "wallet.db") as db:
        db.execute(
            "CREATE TABLE ledger (id TEXT, account TEXT, currency TEXT, amount TEXT, "
            "value_date TEXT, end_to_end_id TEXT, counterparty TEXT)"
        )
        db.executemany("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?)", _LEDGER_ROWS)
    dsn = f"sqlite:///{tmp_path / 'wallet.db'}"
    code, err, out = _run_dsn(tmp_path, "--ledger-dsn", dsn, "--ledger-query", _LEDGER_SQL)
    assert code == 0, err
    matched = {(m["wallet_id"], m["bank_id"]) for m in json.loads(out.read_text())["matched"]}
    assert {("L1", "B1"), ("L2", "B2")} == matched
    assert f"read {dsn}: query, 2 records" in err


def test_the_ledger_is_read_from_postgresql_when_a_server_is_given(tmp_path: Path) -> None:
    import os

    dsn = os.environ.get("WALLETLINK_TEST_PG_DSN")
    if not dsn:
        pytest.skip("WALLETLINK_TEST_PG_DSN is not set (make test sets it)")
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS reconcile_cli_ledger")
        db.execute(
            "CREATE TABLE reconcile_cli_ledger (id TEXT, account TEXT, currency TEXT, "
            "amount NUMERIC(18, 2), value_date DATE, end_to_end_id TEXT, counterparty TEXT)"
        )
        with db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO reconcile_cli_ledger VALUES (%s, %s, %s, %s, %s, %s, %s)",
                _LEDGER_ROWS,
            )
        try:
            query = _LEDGER_SQL.replace("FROM ledger", "FROM reconcile_cli_ledger")
            code, err, out = _run_dsn(tmp_path, "--ledger-dsn", dsn, "--ledger-query", query)
        finally:
            db.execute("DROP TABLE reconcile_cli_ledger")
    assert code == 0, err
    assert len(json.loads(out.read_text())["matched"]) == 2


def test_a_database_error_exits_2_naming_the_dsn_without_its_password(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path / 'absent.db'}"
    code, err, _ = _run_dsn(tmp_path, "--ledger-dsn", dsn, "--ledger-query", "SELECT 1")
    assert code == 2
    assert f"ledger {dsn}: OperationalError" in err
    code, err, _ = _run_dsn(tmp_path, "--ledger-dsn", "mysql://app:s3cret@db/wallet",
                            "--ledger-query", "SELECT 1")  # fmt: skip
    assert (code, "s3cret" in err) == (2, False)
    assert "mysql://app:***@db/wallet" in err


def test_a_query_without_a_dsn_and_a_run_without_a_ledger_are_refused(tmp_path: Path) -> None:
    code, err, _ = _run_dsn(tmp_path, "--ledger-query", "SELECT 1")
    assert (code, "--ledger-query needs --ledger-dsn" in err) == (2, True)
    code, err, _ = _run_dsn(tmp_path)
    assert (code, "--ledger FILE or --ledger-dsn" in err) == (2, True)


def test_the_duckdb_engine_writes_the_python_report(tmp_path: Path) -> None:
    pytest.importorskip("duckdb")
    reports = []
    for engine in ("python", "duckdb"):
        code, err, _ = _run(tmp_path, "".join(
            ["id,account,currency,amount,value_date,end_to_end_id,counterparty\n"]
            + [",".join(row) + "\n" for row in _LEDGER_ROWS]
        ), "--engine", engine)  # fmt: skip
        assert code == 0, err
        report = json.loads((tmp_path / "o.json").read_text())
        assert engine == report["rules"]["engine"]
        del report["rules"]
        reports.append(report)
    assert reports[0] == reports[1]
