from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from walletlink.errors import ParseError
from walletlink.models import Direction, Transaction
from walletlink.money import Money
from walletlink.reconcile.sources import detect_format, load_file, records_from_statement_items

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("statement.camt053.xml", "camt"), ("statement.mt940", "mt940"),
     ("bank_export.csv", "csv"), ("ledger.csv", "csv")],
)  # fmt: skip
def test_format_is_detected_from_the_first_bytes(name: str, fmt: str) -> None:
    assert detect_format(DATA / name) == fmt


def test_camt_entries_become_records_with_a_batch_and_a_balance_check() -> None:
    loaded = load_file(DATA / "statement.camt053.xml")
    ids = [r.id for r in loaded.records]
    assert ids == ["BR-1", "BR-2", "BR-3", "BR-4"]
    batch = loaded.records[2]
    assert ([m.reference for m in batch.members], batch.fee_minor) == (["E2E-B1", "E2E-B2"], 1000)
    assert loaded.records[1].end_to_end_id == ""  # NOTPROVIDED
    (check,) = loaded.statements
    assert (check.opening_minor, check.entries_minor, check.closing_minor) == (
        100000,
        69450,
        169450,
    )


def test_mt940_reversed_credit_is_a_debit() -> None:
    loaded = load_file(DATA / "statement.mt940")
    assert [r.amount_minor for r in loaded.records] == [4200, -1500]
    assert loaded.records[0].account == "DE89370400440532013000"
    assert loaded.statements[0].entries_minor == 2700


def test_json_lines_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text('{"id": "a"}\n')
    assert detect_format(path) == "jsonl"


def test_a_payment_initiation_is_not_a_statement(tmp_path: Path) -> None:
    path = tmp_path / "pain.xml"
    path.write_text(
        '<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"/>'
    )
    with pytest.raises(ParseError, match="not a statement"):
        detect_format(path)


def test_mt940_reversal_flag_reaches_the_record() -> None:
    loaded = load_file(DATA / "statement.mt940")
    assert [r.reversal for r in loaded.records] == [False, True]


def test_statement_source_id_is_the_account_servicer_reference() -> None:
    # camt NtryRef is only unique inside one document; AcctSvcrRef names the booking in
    # every format, so the same day as camt and MT940 is recognised as a re-import.
    entry = Transaction(
        amount=Money.from_minor(500, "EUR"),
        direction=Direction.CREDIT,
        transaction_id="NTRY-1",
        bank_reference="ACSR-9",
        value_date=date(2026, 3, 2),
        reversal=True,
    )
    (record,), _ = records_from_statement_items([entry], "day.xml")
    assert (record.id, record.source_id, record.reversal) == ("NTRY-1", "ACSR-9", True)
