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
