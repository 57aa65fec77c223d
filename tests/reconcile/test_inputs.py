from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walletlink.errors import ConfigurationError, InvalidAmountError, ParseError
from walletlink.models import Direction, Transaction, TransactionDetail
from walletlink.money import Money
from walletlink.reconcile import RecordStatus
from walletlink.reconcile.inputs import (
    STANDARD_MAPPING,
    ColumnMapping,
    parse_date,
    parse_minor,
    parse_sign,
    read_csv,
    read_jsonl,
    records_from_cursor,
    records_from_transactions,
)

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("text", "currency", "comma", "minor"),
    [
        ("0.1", "EUR", False, 10),
        ("1,234.50", "EUR", False, 123450),
        ("1.234,50", "EUR", True, 123450),
        ("12,00-", "EUR", True, -1200),
        ("1234", "JPY", False, 1234),
        ("1.005", "KWD", False, 1005),
        ("90071992547409.93", "EUR", False, 9007199254740993),  # above 2**53
    ],
)
def test_parse_minor_is_exact(text: str, currency: str, comma: bool, minor: int) -> None:
    assert parse_minor(text, currency, decimal_comma=comma) == minor


def test_too_many_decimals_is_refused_not_rounded() -> None:
    with pytest.raises(InvalidAmountError, match="more decimals"):
        parse_minor("1.005", "EUR")


@given(st.integers(-(10**15), 10**15))
def test_parse_minor_round_trips_decimal_strings(minor: int) -> None:
    text = f"{Decimal(minor).scaleb(-2):f}"
    assert parse_minor(text, "EUR") == minor


@pytest.mark.parametrize(("mark", "sign"), [("C", 1), ("DBIT", -1), ("RC", -1), ("RD", 1)])
def test_reversal_marks_take_the_effective_sign(mark: str, sign: int) -> None:
    assert parse_sign(mark) == sign


@pytest.mark.parametrize(
    ("text", "order", "day"),
    [
        ("2026-03-04", "ymd", date(2026, 3, 4)),
        ("2026-03-04T23:30:00-02:00", "ymd", date(2026, 3, 5)),
        ("04/03/2026", "dmy", date(2026, 3, 4)),
        ("03/04/2026", "mdy", date(2026, 3, 4)),
        ("20260304", "ymd", date(2026, 3, 4)),
    ],
)
def test_parse_date_orders_and_utc(text: str, order: str, day: date) -> None:
    assert parse_date(text, order) == day  # type: ignore[arg-type]


def test_bank_csv_with_bom_decimal_comma_debit_credit_and_day_first() -> None:
    mapping = ColumnMapping(
        id="Referenz", currency="Waehrung", amount=None, debit="Soll", credit="Haben",
        value_date="Valuta", counterparty="Empfaenger", decimal_comma=True, date_order="dmy",
        default_account="ACC",
    )  # fmt: skip
    first, second = read_csv(DATA / "bank_export.csv", mapping)
    assert (first.id, first.amount_minor, first.value_date) == ("BR-7", 123456, date(2026, 3, 5))
    assert (second.amount_minor, second.value_date, second.counterparty) == (
        -80000, date(2026, 3, 6), "Dave Rent",
    )  # fmt: skip


def test_bad_csv_row_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "ledger.csv"
    path.write_text(
        "id,currency,amount,value_date\nA,EUR,1.00,2026-01-01\nB,EUR,1.001,2026-01-01\n"
    )
    with pytest.raises(ParseError, match=r"ledger.csv line 3"):
        read_csv(path, ColumnMapping())


def test_missing_column_is_reported_before_any_row(tmp_path: Path) -> None:
    path = tmp_path / "ledger.csv"
    path.write_text("id,currency,amount\nA,EUR,1.00\n")
    with pytest.raises(ParseError, match="value_date"):
        read_csv(path, ColumnMapping())


def test_jsonl_refuses_float_amounts_and_reads_minor_units(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text(
        '{"id": "a", "currency": "EUR", "amount": 1999, "value_date": "2026-01-01"}\n\n'
    )
    (record,) = read_jsonl(path, ColumnMapping(amount_in_minor_units=True))
    assert record.amount_minor == 1999
    path.write_text('{"id": "a", "currency": "EUR", "amount": 19.99, "value_date": "2026-01-01"}\n')
    with pytest.raises(ParseError, match="float"):
        read_jsonl(path, ColumnMapping())


def test_db_api_cursor_rows_become_records() -> None:
    db = sqlite3.connect(":memory:")
    db.execute(
        "create table ledger (id text, currency text, amount text, value_date text, st text)"
    )
    db.executemany(
        "insert into ledger values (?, ?, ?, ?, ?)",
        [(f"t{i}", "EUR", f"{i}.50", "2026-01-02", "failed") for i in range(5)],
    )
    cursor = db.execute("select * from ledger order by id")
    records = list(records_from_cursor(cursor, ColumnMapping(status="st"), batch_size=2))
    assert [r.amount_minor for r in records] == [50, 150, 250, 350, 450]
    assert {r.status for r in records} == {RecordStatus.FAILED}


def test_mapping_needs_an_amount_and_a_currency() -> None:
    with pytest.raises(ConfigurationError):
        ColumnMapping(amount=None)
    with pytest.raises(ConfigurationError):
        ColumnMapping(currency=None)


def test_transactions_become_signed_records_with_batch_members() -> None:
    batch = Transaction(
        amount=Money("490.00", "EUR"),
        direction=Direction.CREDIT,
        bank_reference="BR-3",
        value_date=date(2026, 3, 3),
        charges=Money("10.00", "EUR"),
        details=(
            TransactionDetail(end_to_end_id="E1", amount=Money("300.00", "EUR")),
            TransactionDetail(end_to_end_id="E2"),
        ),
    )
    debit = Transaction(
        amount=Money("5.00", "EUR"), direction=Direction.DEBIT, value_date=date(2026, 3, 3)
    )
    first, second = records_from_transactions([batch, debit], account="ACC")
    assert (first.id, first.source_id, first.fee_minor) == ("BR-3", "BR-3", 1000)
    assert [(m.reference, m.amount_minor) for m in first.members] == [("E1", 30000), ("E2", None)]
    assert (second.id, second.amount_minor) == ("bank#2", -500)


def test_pending_bank_entries_are_pending_records() -> None:
    from walletlink.models import BookingStatus

    pending = Transaction(
        amount=Money("5.00", "EUR"),
        direction=Direction.CREDIT,
        status=BookingStatus.PENDING,
        value_date=date(2026, 3, 3),
        end_to_end_id="NOTPROVIDED",
    )
    (record,) = records_from_transactions([pending], account="ACC")
    assert (record.status, record.end_to_end_id) == (RecordStatus.PENDING, "")


_texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12
)


@given(
    st.lists(
        st.tuples(
            st.integers(-(10**14), 10**14),
            st.sampled_from(["EUR", "JPY", "KWD"]),
            st.dates(),
            _texts,
            st.sampled_from([",", ";", "\t"]),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_csv_written_then_read_gives_the_same_records(
    rows: list[tuple[int, str, date, str, str]],
) -> None:
    """Whatever the delimiter, amounts, dates and quoted text survive a CSV round trip."""
    import csv
    import io as _io

    from walletlink.reconcile import format_minor

    delimiter = rows[0][4]
    out = _io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(["id", "currency", "amount", "value_date", "counterparty"])
    for n, (minor, currency, day, name, _) in enumerate(rows):
        writer.writerow([f"r{n}", currency, format_minor(minor, currency), day.isoformat(), name])
    records = read_csv(out.getvalue().encode(), ColumnMapping(counterparty="counterparty"))
    expected = [(m, c, d, " ".join(t.split())) for m, c, d, t, _ in rows]
    assert [(r.amount_minor, r.currency, r.value_date, r.counterparty) for r in records] == expected


def test_sign_column_gives_the_direction_of_an_unsigned_amount(tmp_path: Path) -> None:
    path = tmp_path / "bank.csv"
    path.write_text(
        "id;currency;amount;cd;value_date\nA;EUR;12,50;CRDT;2026-03-01\nB;EUR;3,00;RC;2026-03-01\n"
    )
    mapping = ColumnMapping(sign="cd", decimal_comma=True)
    assert [r.amount_minor for r in read_csv(path, mapping)] == [1250, -300]


_HEADER = "id,currency,amount,value_date\n"


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ("A,EUR,1E999999,2026-01-01", "amount"),
        ("A,EUR,1.00,0001-01-01T00:00:00+01:00", "value_date"),
        ("A,EUR,1.00,9999-12-31T23:00:00-05:00", "value_date"),
        ("A,EUR,9" + "9" * 60 + ",2026-01-01", "amount"),
    ],
)
def test_extreme_cells_are_parse_errors_naming_line_and_column(row: str, column: str) -> None:
    """decimal.Overflow and OverflowError used to escape the reader."""
    with pytest.raises(ParseError, match=rf"<bytes> line 2, column '{column}'"):
        read_csv((_HEADER + row + "\n").encode(), ColumnMapping())


def test_minor_unit_integers_of_4301_digits_are_parse_errors() -> None:
    data = b'{"currency": "EUR", "amount": ' + b"9" * 4301 + b', "value_date": "2026-01-01"}\n'
    with pytest.raises(ParseError, match="line 1"):
        read_jsonl(data, ColumnMapping(amount_in_minor_units=True))
    data = b'{"currency": "EUR", "amount": "' + b"9" * 4301 + b'", "value_date": "2026-01-01"}\n'
    with pytest.raises(ParseError, match="line 1, column 'amount'"):
        read_jsonl(data, ColumnMapping(amount_in_minor_units=True))


def test_deeply_nested_jsonl_is_a_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"\n" + b"[" * 100_000 + b"\n")
    with pytest.raises(ParseError, match=r"x\.jsonl line 2"):
        read_jsonl(path, ColumnMapping())


def test_a_field_over_the_csv_limit_is_a_parse_error() -> None:
    data = (_HEADER + 'A,EUR,"' + "x" * 200_000 + '",2026-01-01\n').encode()
    with pytest.raises(ParseError, match="<bytes> line 2"):
        read_csv(data, ColumnMapping())


def test_latin1_bytes_are_read_like_a_latin1_file() -> None:
    """Bytes used to raise UnicodeDecodeError where a path fell back to Latin-1."""
    data = "id,currency,amount,value_date,counterparty\nA,EUR,1.00,2026-01-01,Müller\n"
    (record,) = read_csv(data.encode("latin-1"), ColumnMapping(counterparty="counterparty"))
    assert record.counterparty == "Müller"


def test_json_syntax_errors_name_the_column() -> None:
    with pytest.raises(ParseError, match="<bytes> line 1, column 6"):
        read_jsonl(b'{"a" 1}\n', ColumnMapping())


def test_a_mapped_column_the_file_lacks_is_named_with_the_columns_present() -> None:
    """A typo in a mapped column used to read as an empty column on every row."""
    data = (_HEADER + "A,EUR,1.00,2026-01-01\n").encode()
    with pytest.raises(ParseError) as caught:
        read_csv(data, ColumnMapping(end_to_end_id="e2e"))
    assert "'e2e' (end_to_end_id)" in caught.value.message
    assert "'id', 'currency', 'amount', 'value_date'" in caught.value.message
    with pytest.raises(ParseError, match="'e2e'"):
        read_jsonl(b'{"currency": "EUR", "amount": "1", "value_date": "2026-01-01"}\n',
                   ColumnMapping(end_to_end_id="e2e"))  # fmt: skip


def test_a_partial_table_keeps_the_standard_columns() -> None:
    mapping = ColumnMapping.from_mapping({"end_to_end_id": "e2e"}, base=STANDARD_MAPPING)
    data = b"id,currency,amount,value_date,status,e2e\nA,EUR,1.00,2026-01-01,failed,E1\n"
    (record,) = read_csv(data, mapping)
    assert (record.status, record.end_to_end_id) == (RecordStatus.FAILED, "E1")


def test_the_standard_direction_column_signs_unsigned_amounts() -> None:
    data = (
        b"currency,amount,value_date,direction\nEUR,1.00,2026-01-01,DBIT\nEUR,-2.00,2026-01-01,\n"
    )
    assert [r.amount_minor for r in read_csv(data, STANDARD_MAPPING)] == [-100, -200]


def test_utf16_with_a_byte_order_mark_is_read_as_utf16() -> None:
    """Excel's "Unicode text" export; it used to come out as Latin-1 noise."""
    text = "id\tcurrency\tamount\tvalue_date\tcounterparty\nA\tEUR\t1.00\t2026-01-01\tMüller\n"
    (record,) = read_csv(text.encode("utf-16"), ColumnMapping(counterparty="counterparty"))
    assert (record.id, record.counterparty) == ("A", "Müller")


def test_mt940_customer_reference_stands_in_for_the_missing_payment_references() -> None:
    """The ``:61:`` reference before ``//`` is the owner's; ``NONREF`` is none at all."""
    from walletlink.formats import parse_mt940

    text = (
        ":20:S1\n:25:DE40100100103307118608\n:28C:1/1\n:60F:C260302EUR100,00\n"
        ":61:2603030303D10,00NTRFPAY-0001//B1\n:86:payment\n"
        ":61:2603030303D10,00NTRFNONREF//B2\n"
        ":61:2603030303D10,00NTRFPAY-0003//B3\n:86:/EREF/E-3/REMI/x\n"
        ":62F:C260302EUR70,00\n"
    )
    [statement] = parse_mt940(text)
    records = list(records_from_transactions(statement.entries, account="ACC"))
    assert [(r.end_to_end_id, r.instruction_id, r.source_id) for r in records] == [
        ("PAY-0001", "PAY-0001", "B1"),
        ("", "", "B2"),
        ("E-3", "PAY-0003", "B3"),
    ]


def test_camt_batch_count_reaches_the_record() -> None:
    batch = Transaction(
        amount=Money("30.00", "EUR"),
        direction=Direction.CREDIT,
        value_date=date(2026, 3, 3),
        batch_id="PO-1",
        batch_count=3,
    )
    (record,) = records_from_transactions([batch], account="ACC")
    assert (record.batch_id, record.member_count) == ("PO-1", 3)
