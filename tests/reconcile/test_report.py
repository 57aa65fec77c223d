from __future__ import annotations

import csv
import json
from pathlib import Path

from walletlink.reconcile import BatchMember, reconcile
from walletlink.reconcile.report import REPORT_FORMAT, to_json, write_csv

from .factories import DAY0, rec


def _result():  # type: ignore[no-untyped-def]
    wallet = [
        rec("w1", 1000, end_to_end_id="E1"),
        rec("w2", 2000, end_to_end_id="E2"),
        rec("m1", 600, end_to_end_id="M1"),
        rec("m2", 400, end_to_end_id="M2"),
        rec("lost", -777, 0),
    ]
    bank = [
        rec("b1", 1000, end_to_end_id="E1"),
        rec("b2", 2050, end_to_end_id="E2"),
        rec("batch", 990, members=(BatchMember(reference="M1"), BatchMember(reference="M2"))),
        rec("extra", 123, 1),
    ]
    return reconcile(wallet, bank, as_of=DAY0.replace(day=20))


def test_json_report_itemises_every_category_with_exact_amounts() -> None:
    document = json.loads(to_json(_result()))
    assert document["format"] == REPORT_FORMAT
    assert document["mismatched"][0]["diffs"] == [
        {"field": "amount", "wallet": "20.00", "bank": "20.50", "delta": "0.50"}
    ]
    assert (document["batches"][0]["fee"], document["batches"][0]["residual"]) == ("0.10", "0.00")
    assert [r["record_id"] for r in document["missing_in_bank"]] == ["lost"]
    assert [r["record_id"] for r in document["missing_in_wallet"]] == ["extra"]
    assert document["break_counts"]["mismatched"] == 1


def test_json_is_deterministic() -> None:
    assert to_json(_result()) == to_json(_result())


def test_csv_has_one_file_per_category_with_headers(tmp_path: Path) -> None:
    paths = write_csv(_result(), tmp_path)
    names = {p.name for p in paths}
    assert {"matched.csv", "mismatched.csv", "batches.csv", "ambiguous.csv"} <= names
    with (tmp_path / "batches.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["members"] == "m1;m2"
    with (tmp_path / "ambiguous.csv").open() as handle:
        assert handle.read().startswith("side,record_id,pass")


def test_every_category_renders_exactly_its_declared_columns() -> None:
    from walletlink.reconcile import ReconcileConfig, RecordStatus, StatementBalance
    from walletlink.reconcile.report import COLUMNS, iter_report_rows

    tie = reconcile(
        [rec("t1", 10_000, 0, counterparty="A"), rec("t2", 10_000, 2, counterparty="B")],
        [rec("tb", 10_000, 1), rec("dup", 5, source_id="S"), rec("dup2", 5, source_id="S")],
        statements=[
            StatementBalance(
                statement="s", account="ACC", currency="EUR", opening_minor=0,
                entries_minor=1, closing_minor=1,
            )
        ],
    )  # fmt: skip
    unresolved = reconcile(
        [rec(f"w{i}", 1000 + 7 * i * i, 0) for i in range(20)]
        + [rec(f"p{i}", -700, i, counterparty="Landlord") for i in range(3)]
        + [rec("failed", -1234, 0, status=RecordStatus.FAILED)],
        [rec("b1", 1, 1)],
        ReconcileConfig(subset_sum_budget=100, batch_fee_max_abs_minor=0),
    )
    reversed_and_twice = reconcile(
        [rec("paid", -900, 0, end_to_end_id="E9", status=RecordStatus.RETURNED),
         rec("once", 300, 0, end_to_end_id="E3")],
        [rec("out", -900, 0, end_to_end_id="E9"),
         rec("back", 900, 2, end_to_end_id="E9", reversal=True),
         rec("b3", 300, 0, end_to_end_id="E3"), rec("b3bis", 300, 0, end_to_end_id="E3")],
    )  # fmt: skip
    covered = set()
    for result in (_result(), tie, unresolved, reversed_and_twice):
        for name, rows in iter_report_rows(result):
            for row in rows:
                assert list(row) == COLUMNS[name]
                covered.add(name)
    assert covered == set(COLUMNS)
