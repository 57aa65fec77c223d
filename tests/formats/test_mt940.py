"""MT940: the protocols.md vectors, marks and reversals, :86: shapes, encodings, errors."""

from __future__ import annotations

import contextlib
import io
from datetime import date
from pathlib import Path

import attrs
import pytest
from format_strategies import statements
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from walletlink.accounts import Iban, LocalAccount
from walletlink.errors import CurrencyError, ParseError, StatementBalanceError
from walletlink.formats import Statement, iter_mt940, parse_mt940, write_mt940
from walletlink.formats.mt940 import _entry_date
from walletlink.models import BalanceType, BookingStatus, Direction, Transaction
from walletlink.money import Money

DATA = Path(__file__).parent / "data"
HEAD = ":20:REF\n:25:DE40100100103307118608\n:28C:1/1\n:60F:C240101EUR100,00\n"


def _entries(lines: str, closing: str = "C240101EUR100,00") -> tuple[Transaction, ...]:
    [statement] = parse_mt940(f"{HEAD}{lines}:62F:{closing}\n")
    return statement.entries


def test_protocols_example_with_envelope() -> None:
    [statement] = parse_mt940(
        (DATA / "mt940_enveloped_example.sta").read_bytes(), check_balance=True
    )
    paid, received = statement.entries
    assert (Money("123.50", "EUR"), Direction.DEBIT, "E2E-0001", "BANKREF-0001") == (
        paid.amount,
        paid.direction,
        paid.customer_reference,
        paid.bank_reference,
    )
    assert paid.remittance == "Merchant123 DE02100100109307118603 Ref Number Merchant"
    assert (Money("500.00", "EUR"), None, "BANKREF-0002") == (
        received.amount,
        received.customer_reference,
        received.bank_reference,
    )
    assert ("STMT20240116", "16/1", Iban("DE40100100103307118608")) == (
        statement.statement_id,
        statement.sequence_number,
        statement.account,
    )
    assert [b.type for b in statement.balances] == [
        BalanceType.OPENING_BOOKED,
        BalanceType.CLOSING_BOOKED,
        BalanceType.CLOSING_AVAILABLE,
    ]


def test_funds_code_is_not_a_reversal() -> None:
    """protocols.md §8.3 vector: DR = debit with funds code R."""
    [entry] = _entries(":61:1409010902DR000000000001,62NTRF0000549855700010//025498557/000001\n")
    assert (date(2014, 9, 1), date(2014, 9, 2), Direction.DEBIT, False) == (
        entry.value_date,
        entry.booking_date,
        entry.direction,
        entry.reversal,
    )
    assert (Money("1.62", "EUR"), "NTRF", "0000549855700010", "025498557/000001") == (
        entry.amount,
        entry.type_code,
        entry.customer_reference,
        entry.bank_reference,
    )


def test_nonref_without_entry_date() -> None:
    [entry] = _entries(":61:110101D10,00N000NONREF\n")
    assert (date(2011, 1, 1), None, None, "N000") == (
        entry.booking_date,
        entry.customer_reference,
        entry.bank_reference,
        entry.type_code,
    )


@pytest.mark.parametrize(
    ("mark", "direction", "reversal"),
    [
        ("C", Direction.CREDIT, False),
        ("D", Direction.DEBIT, False),
        ("RC", Direction.DEBIT, True),
        ("RD", Direction.CREDIT, True),
    ],
)
def test_marks_give_the_effective_direction(
    mark: str, direction: Direction, reversal: bool
) -> None:
    [entry] = _entries(f":61:240101{mark}5,NTRFNONREF\n")
    assert (direction, reversal) == (entry.direction, entry.reversal)


@pytest.mark.parametrize(
    ("value", "mmdd", "expected"),
    [
        (date(2023, 12, 29), "0102", date(2024, 1, 2)),
        (date(2024, 1, 2), "1231", date(2023, 12, 31)),
        (date(2024, 6, 1), "0603", date(2024, 6, 3)),
    ],
)
def test_entry_date_year_follows_the_value_date(value: date, mmdd: str, expected: date) -> None:
    assert expected == _entry_date(value, mmdd)


def test_german_structured_86_latin1_and_several_statements() -> None:
    first, second = parse_mt940((DATA / "mt940_german_latin1.sta").read_bytes(), check_balance=True)
    debit, storno = first.entries
    assert (
        debit.end_to_end_id,
        debit.counterparty_name,
        debit.counterparty_account,
    ) == ("E2E-LS-1", "Müller Energie GmbH", "5320012345")
    assert debit.remittance == "Stromabschlag Dezember"
    assert (date(2023, 12, 29), date(2024, 1, 2)) == (debit.value_date, debit.booking_date)
    assert (storno.direction, storno.reversal) == (Direction.CREDIT, True)
    assert LocalAccount("10020030/0123456789") == first.account
    assert second.entries[0].remittance == "Zinsen"
    assert Money("985.00", "EUR") == second.closing_balance.amount  # type: ignore[union-attr]


def test_swift_style_86_tags() -> None:
    [entry] = _entries(
        ":61:240101C5,NTRFNONREF\n:86:/EREF/E2E-9/CRED/DE98ZZZ09999999999/MREF/M1\n"
        "/NAME/ACME GmbH/IBAN/DE02100100109307118603/REMI/Invoice 7\n",
        "C240101EUR105,00",
    )
    assert (
        entry.end_to_end_id,
        entry.counterparty_name,
        entry.counterparty_account,
        entry.remittance,
    ) == ("E2E-9", "ACME GmbH", "DE02100100109307118603", "Invoice 7")


def test_lf_crlf_str_bytes_and_file_agree() -> None:
    text = (DATA / "mt940_enveloped_example.sta").read_text()
    expected = parse_mt940(text)
    assert expected == parse_mt940(text.replace("\r\n", "\n"))
    assert expected == parse_mt940(text.encode())
    assert expected == parse_mt940(io.BytesIO(text.encode()))


def test_file_read_in_tiny_chunks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("walletlink.formats.mt940.CHUNK_SIZE", 5)
    path = tmp_path / "s.sta"
    path.write_bytes((DATA / "mt940_german_latin1.sta").read_bytes())
    assert parse_mt940(path.read_bytes()) == parse_mt940(path)


def test_balance_mismatch_is_reported() -> None:
    with pytest.raises(StatementBalanceError, match=r"difference 1\.00 EUR"):
        parse_mt940(f"{HEAD}:61:240101C5,NTRFNONREF\n:62F:C240101EUR106,00\n", check_balance=True)


@pytest.mark.parametrize(
    ("lines", "message", "line"),
    [
        (":61:24010C5,NTRFNONREF\n", "malformed :61:", 5),
        (":61:241301C5,NTRFNONREF\n", "bad date", 5),
        (":61:240101C5,555NTRFNONREF\n", "decimal places", 5),
        (":61:240101X5,NTRFNONREF\n", "malformed :61:", 5),
        (":86:x\n:61:240101C5NTRFNONREF\n", "malformed :61:", 6),
    ],
)
def test_broken_statement_lines_name_the_line(lines: str, message: str, line: int) -> None:
    with pytest.raises(ParseError, match=message) as caught:
        parse_mt940(f"{HEAD}{lines}:62F:C240101EUR100,00\n")
    assert f"line {line}" == caught.value.position


def test_fields_out_of_order_are_errors() -> None:
    with pytest.raises(ParseError, match="before :20:"):
        parse_mt940(":25:X\n")
    with pytest.raises(ParseError, match="opening balance"):
        parse_mt940(":20:X\n:61:240101C5,NTRFNONREF\n")
    with pytest.raises(ParseError, match="outside"):
        parse_mt940("hello\n:20:X\n")


def test_stream_order() -> None:
    kinds = [
        type(i).__name__ for i in iter_mt940((DATA / "mt940_enveloped_example.sta").read_bytes())
    ]
    assert kinds == [
        "StatementHeader",
        "Balance",
        "Transaction",
        "Transaction",
        "Balance",
        "Balance",
        "StatementEnd",
    ]


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(statements(for_mt940=True), min_size=1, max_size=3), st.booleans())
def test_writer_round_trips(generated: list[Statement], envelope: bool) -> None:
    written = write_mt940(generated, envelope=envelope)
    assert all(
        len(line) <= 65 for line in written.split("\r\n") if not line.startswith(("{", ":61:"))
    )
    parsed = parse_mt940(written, check_balance=True)
    assert [s.entries for s in generated] == [s.entries for s in parsed]
    assert [s.balances for s in generated] == [s.balances for s in parsed]
    assert [s.header for s in generated] == [s.header for s in parsed]


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_parse_errors(data: bytes) -> None:
    with contextlib.suppress(ParseError):
        parse_mt940(data)


@settings(max_examples=300)
@given(st.data())
def test_mutated_files_raise_only_parse_errors(data: st.DataObject) -> None:
    original = (DATA / "mt940_german_latin1.sta").read_bytes()
    position = data.draw(st.integers(0, len(original) - 1))
    replacement = data.draw(
        st.binary(max_size=4) | st.sampled_from([b":61:", b"\r\n-", b"{4:", b"RC"])
    )
    mutated = (
        original[:position] + replacement + original[position + data.draw(st.integers(0, 6)) :]
    )
    with contextlib.suppress(ParseError):
        parse_mt940(mutated, check_balance=False)


def test_a_closing_balance_in_another_currency_is_a_parse_error() -> None:
    """It raised CurrencyMismatchError from check_balance."""
    data = HEAD + ":61:240101C5,NTRFNONREF\n:62F:C240101KWD105,000\n-\n"
    with pytest.raises(ParseError, match=r":62F: in KWD in a EUR statement at line 6"):
        parse_mt940(data, check_balance=True)


def test_an_unknown_currency_is_a_parse_error_caused_by_the_currency_error() -> None:
    with pytest.raises(ParseError, match="line 4") as caught:
        parse_mt940(HEAD.replace("EUR", "XYZ") + ":62F:C240101XYZ100,00\n-\n")
    assert isinstance(caught.value.__cause__, CurrencyError)


@pytest.mark.parametrize("first", ["/TRTP/SEPA OVERBOEKING", "/XQ9/bank-specific", "/CNTP/A/B/C"])
def test_86_with_an_unknown_first_tag_keeps_the_known_ones(first: str) -> None:
    """A leading tag the reader did not know used to turn the whole :86: into free text."""
    [entry] = _entries(
        f":61:240101C5,NTRFNONREF\n:86:{first}/IBAN/NL02ABNA0123456789/BIC/ABNANL2A\n"
        "/NAME/ACME BV/REMI/Invoice 7/EREF/E2E-1\n",
        "C240101EUR105,00",
    )
    assert (
        entry.end_to_end_id,
        entry.counterparty_name,
        entry.counterparty_account,
        entry.remittance,
    ) == ("E2E-1", "ACME BV", "NL02ABNA0123456789", "Invoice 7")


def test_86_free_text_with_slashes_stays_free_text() -> None:
    [entry] = _entries(":61:240101C5,NTRFNONREF\n:86:/ORDER/2024/77 paid\n", "C240101EUR105,00")
    assert (entry.remittance, entry.counterparty_name) == ("/ORDER/2024/77 paid", None)


def _with_pending(statement: Statement, pending: list[bool]) -> Statement:
    entries = (
        tuple(
            attrs.evolve(e, status=BookingStatus.PENDING) if flag else e
            for e, flag in zip(statement.entries, pending, strict=False)
        )
        + statement.entries[len(pending) :]
    )
    opening = statement.balances[0]
    net = sum(
        (e.signed_amount for e in entries if e.status is BookingStatus.BOOKED),
        Money.zero("EUR"),
    )
    closing = attrs.evolve(statement.balances[1], amount=opening.amount + net)
    return attrs.evolve(statement, entries=entries, balances=(opening, closing))


def test_pending_entries_are_written_to_an_mt942_and_read_back_pending() -> None:
    """write_mt940 used to book a pending entry: the file failed its own balance check."""
    day = date(2024, 1, 1)
    booked = Transaction(amount=Money("5.00", "EUR"), direction=Direction.CREDIT, value_date=day,
                         booking_date=day, type_code="NTRF", remittance="paid")  # fmt: skip
    pending = attrs.evolve(booked, direction=Direction.DEBIT, status=BookingStatus.PENDING,
                           amount=Money("7.00", "EUR"), remittance="on hold")  # fmt: skip
    [statement] = parse_mt940(HEAD + ":61:240101C5,NTRFNONREF\n:62F:C240101EUR105,00\n-\n")
    statement = attrs.evolve(statement, entries=(booked, pending))
    for envelope in (False, True):
        written = write_mt940([statement], envelope=envelope)
        final, interim = parse_mt940(written, check_balance=True)
        assert ("mt940", (booked,)) == (final.header.format, final.entries)
        assert ("mt942", (pending,), ()) == (
            interim.header.format,
            interim.entries,
            interim.balances,
        )
    assert ":34F:EUR0,\r\n:13D:2401010000+0000\r\n" in written
    assert ":90D:1EUR7,00\r\n:90C:0EUR0,00\r\n" in written
    assert "{2:I942" in written


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(statements(for_mt940=True), st.lists(st.booleans(), max_size=6))
def test_writer_round_trips_the_booking_status(statement: Statement, flags: list[bool]) -> None:
    statement = _with_pending(statement, flags)
    parsed = parse_mt940(write_mt940([statement]), check_balance=True)
    booked = tuple(e for e in statement.entries if e.status is BookingStatus.BOOKED)
    pending = tuple(e for e in statement.entries if e.status is BookingStatus.PENDING)
    assert [booked, *([pending] if pending else [])] == [s.entries for s in parsed]


def test_balances_inside_an_mt942_are_refused() -> None:
    data = ":20:R\n:25:ACC\n:28C:1\n:34F:EUR0,\n:13D:2401011200+0100\n:62F:C240101EUR1,00\n-\n"
    with pytest.raises(ParseError, match=r":62F: in an MT942 report at line 6"):
        parse_mt940(data)
