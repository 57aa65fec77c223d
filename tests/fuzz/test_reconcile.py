"""The reconcile CSV and JSON-lines readers, fed mutated files: only ParseError comes out."""

from __future__ import annotations

from pathlib import Path

from walletlink.errors import ParseError
from walletlink.reconcile.inputs import STANDARD_MAPPING, ColumnMapping, read_csv, read_jsonl

from ._mutations import fuzz_tests, mutated

RECONCILE = Path(__file__).parent.parent / "reconcile" / "data"
GERMAN = ColumnMapping(
    id="Referenz", currency="Waehrung", amount=None, debit="Soll", credit="Haben",
    value_date="Valuta", booking_date="Buchungstag", counterparty="Empfaenger",
    decimal_comma=True, date_order="dmy",
)  # fmt: skip
JSONL = [
    b'{"id": "L1", "currency": "EUR", "amount": "250.00", "value_date": "2026-03-02", '
    b'"status": "settled", "end_to_end_id": "E2E-1"}\n'
    b'{"id": "L2", "currency": "JPY", "amount": "-120", '
    b'"value_date": "2026-03-02T23:30:00-02:00"}\n',
    b'{"id": "M1", "currency": "KWD", "amount": 1999, "value_date": "20260302"}\n\n'
    b'{"id": "M2", "currency": "EUR", "amount": -5, "value_date": "2026-03-03"}\n',
]

test_read_csv, test_read_csv_long = fuzz_tests(
    mutated([(RECONCILE / "ledger.csv").read_bytes()]),
    lambda data: read_csv(data, STANDARD_MAPPING),
    (ParseError,),
)
test_read_csv_debit_credit, test_read_csv_debit_credit_long = fuzz_tests(
    mutated([(RECONCILE / "bank_export.csv").read_bytes()]),
    lambda data: read_csv(data, GERMAN),
    (ParseError,),
)
test_read_jsonl, test_read_jsonl_long = fuzz_tests(
    mutated(JSONL[:1]), lambda data: read_jsonl(data, STANDARD_MAPPING), (ParseError,)
)
test_read_jsonl_minor_units, test_read_jsonl_minor_units_long = fuzz_tests(
    mutated(JSONL[1:]),
    lambda data: read_jsonl(data, ColumnMapping(amount_in_minor_units=True)),
    (ParseError,),
)
