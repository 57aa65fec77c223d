"""camt.053 (.02/.08) and camt.054: parsing, streaming, the writer, the XSD and bad input."""

from __future__ import annotations

import contextlib
import io
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
import xmlschema
from format_strategies import statements
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from walletlink.accounts import Iban, LocalAccount
from walletlink.errors import ParseError, StatementBalanceError
from walletlink.formats import (
    Statement,
    StatementEnd,
    StatementHeader,
    iter_camt,
    parse_camt,
    write_camt053,
)
from walletlink.models import (
    Balance,
    BalanceType,
    BookingStatus,
    Direction,
    Transaction,
    TransactionDetail,
)
from walletlink.money import Money

DATA = Path(__file__).parent / "data"
SCHEMA = xmlschema.XMLSchema(Path(__file__).parent / "schemas" / "camt.053.001.08.xsd")
CREATED = datetime(2024, 1, 16, 6, 0)


def test_protocols_example_parses_to_the_expected_entry() -> None:
    [statement] = parse_camt((DATA / "camt053_v08_example.xml").read_bytes(), check_balance=True)
    expected = Transaction(
        amount=Money("123.50", "EUR"),
        direction=Direction.DEBIT,
        transaction_id="1",
        booking_date=date(2024, 1, 15),
        value_date=date(2024, 1, 15),
        end_to_end_id="E2E-0001",
        instruction_id="INSTR-0001",
        bank_reference="BANKREF-0001",
        counterparty_name="Merchant123",
        counterparty_account="DE02100100109307118603",
        remittance="Ref Number Merchant",
        type_code="PMNT/ICDT/ESCT",
    )
    assert (expected,) == statement.entries
    assert (
        statement.statement_id,
        statement.sequence_number,
        statement.currency,
    ) == ("STMT-2024-016", "16", "EUR")
    assert Iban("DE40100100103307118608") == statement.account
    assert statement.header.message_id == "STMT-20240116-0001"
    assert datetime(2024, 1, 15, 23, 59, 59) == statement.header.to_date


def test_v02_batch_charges_foreign_amount_and_placeholders() -> None:
    [statement] = parse_camt((DATA / "camt053_v02_batch.xml").read_bytes(), check_balance=True)
    batch, card, pending = statement.entries
    assert (batch.batch_id, batch.bank_reference, len(batch.details)) == ("BATCH-7", None, 2)
    assert [d.end_to_end_id for d in batch.details] == ["E2E-A", None]
    assert [d.counterparty_name for d in batch.details] == ["Alice", "Bob"]
    assert batch.details[0].remittance == "Rent March"
    assert batch.details[0].counterparty_account == "CH9300762011623852957"
    assert (Money("0.75", "CHF"), Money("5.50", "EUR")) == (card.charges, card.original_amount)
    assert (
        card.end_to_end_id,
        card.instruction_id,
        card.counterparty_name,
        card.counterparty_account,
    ) == ("E2E-FX", "INSTR-9", "Café Zürich", "ACC-77")
    assert pending.status == BookingStatus.PENDING
    assert LocalAccount("0012345678") == statement.account
    # The proprietary balance is skipped; PRCD opens, CLBD (a DtTm) closes.
    assert [b.type for b in statement.balances] == [
        BalanceType.PREVIOUSLY_CLOSED_BOOKED,
        BalanceType.CLOSING_BOOKED,
    ]
    assert Money("-50.00", "CHF") == statement.opening_balance.amount  # type: ignore[union-attr]
    assert statement.sequence_number == "42"


def test_camt054_reversal_keeps_the_effective_direction() -> None:
    """ISO: CRDT + RvslInd means the original debit was reversed; money came in."""
    [notification] = parse_camt((DATA / "camt054_v08_notification.xml").read_bytes())
    [entry] = notification.entries
    assert (entry.direction, entry.reversal) == (Direction.CREDIT, True)
    # The counterparty sits on the original (debit) side: the creditor we had paid.
    assert entry.counterparty_name == "Closed Shop"
    assert ("camt.054", "NRTI", date(2024, 2, 1)) == (
        notification.header.format,
        entry.type_code,
        entry.booking_date,
    )


def test_stream_yields_header_balances_entries_then_end() -> None:
    items = list(iter_camt(io.BytesIO((DATA / "camt053_v08_example.xml").read_bytes())))
    kinds = [type(item) for item in items]
    assert [StatementHeader, Balance, Balance, Transaction, StatementEnd] == kinds
    end = items[-1]
    assert isinstance(end, StatementEnd)
    assert (1, Money("-123.50", "EUR")) == (end.entry_count, end.booked_net)
    end.check_balance()


def test_stream_reads_a_path_in_small_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("walletlink.formats._xml.CHUNK_SIZE", 7)
    path = tmp_path / "s.xml"
    path.write_bytes((DATA / "camt053_v02_batch.xml").read_bytes())
    assert parse_camt(path.read_bytes()) == parse_camt(path)


def test_balance_mismatch_is_reported() -> None:
    data = (DATA / "camt053_v08_example.xml").read_bytes().replace(b">876.50<", b">876.40<")
    with pytest.raises(StatementBalanceError, match=r"difference -0\.10 EUR"):
        parse_camt(data, check_balance=True)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            b'<Amt Ccy="EUR">123.50</Amt>\n        <CdtDbtInd>DBIT',
            b'<Amt Ccy="EUR">12x.50</Amt>\n        <CdtDbtInd>DBIT',
            "not an ISO 20022 amount",
        ),
        (
            b'<Amt Ccy="EUR">123.50</Amt>\n        <CdtDbtInd>DBIT',
            b'<Amt Ccy="EUR">123.505</Amt>\n        <CdtDbtInd>DBIT',
            "decimal places",
        ),
        (
            b'<Amt Ccy="EUR">123.50</Amt>\n        <CdtDbtInd>DBIT',
            b'<Amt Ccy="ZZZ">123.50</Amt>\n        <CdtDbtInd>DBIT',
            "currency",
        ),
        (b"<BookgDt><Dt>2024-01-15</Dt>", b"<BookgDt><Dt>2024-13-15</Dt>", "not an ISO date"),
        (b"<Sts><Cd>BOOK</Cd></Sts>", b"", "Sts"),
        (
            b"<CdtDbtInd>DBIT</CdtDbtInd>\n        <Sts>",
            b"<CdtDbtInd>DEBIT</CdtDbtInd>\n        <Sts>",
            "CdtDbtInd",
        ),
        (b"<Id>STMT-2024-016</Id>", b"", "Id"),
    ],
)
def test_bad_entries_raise_parse_error_with_line_and_element(
    old: bytes, new: bytes, message: str
) -> None:
    data = (DATA / "camt053_v08_example.xml").read_bytes()
    assert old in data
    with pytest.raises(ParseError, match=message) as caught:
        parse_camt(data.replace(old, new))
    assert caught.value.position is not None
    assert caught.value.position.startswith("line ")


def test_other_documents_are_refused() -> None:
    with pytest.raises(ParseError, match="not a camt"):
        parse_camt((DATA / "pain002_v10_example.xml").read_bytes())


def test_truncated_document_is_a_parse_error() -> None:
    data = (DATA / "camt053_v08_example.xml").read_bytes()
    with pytest.raises(ParseError, match="malformed XML"):
        parse_camt(data[: len(data) // 2])


def _write(statements_: list[Statement]) -> bytes:
    written = write_camt053(statements_, message_id="MSG-1", created_at=CREATED)
    assert written is not None
    return written


def test_writer_output_validates_against_the_xsd() -> None:
    [statement] = parse_camt((DATA / "camt053_v02_batch.xml").read_bytes())
    SCHEMA.validate(_write([statement]).decode())


def test_writer_streams_to_a_binary_file() -> None:
    [statement] = parse_camt((DATA / "camt053_v08_example.xml").read_bytes())
    out = io.BytesIO()
    assert write_camt053([statement], message_id="M", created_at=CREATED, out=out) is None
    assert parse_camt(out.getvalue())[0].entries == statement.entries


def _comparable(statement: Statement) -> Statement:
    """What survives a camt round trip: dates in the header become date-times."""
    header = statement.header
    return attrs.evolve(
        statement,
        header=attrs.evolve(
            header,
            format="camt.053",
            from_date=datetime.combine(header.from_date, datetime.min.time()),  # type: ignore[arg-type]
            to_date=datetime.combine(header.to_date, datetime.max.time().replace(microsecond=0)),  # type: ignore[arg-type]
        ),
    )


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(statements(), min_size=1, max_size=3))
def test_writer_round_trips_and_validates(generated: list[Statement]) -> None:
    data = _write(generated)
    SCHEMA.validate(data.decode())
    assert [_comparable(s) for s in generated] == parse_camt(data, check_balance=True)


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_parse_errors(data: bytes) -> None:
    with contextlib.suppress(ParseError):
        parse_camt(data)


@settings(max_examples=300)
@given(st.data())
def test_mutated_documents_raise_only_parse_errors(data: st.DataObject) -> None:
    original = (DATA / "camt053_v02_batch.xml").read_bytes()
    position = data.draw(st.integers(0, len(original) - 1))
    replacement = data.draw(st.binary(max_size=4))
    cut = data.draw(st.integers(0, 8))
    mutated = original[:position] + replacement + original[position + cut :]
    with contextlib.suppress(ParseError):
        parse_camt(mutated, check_balance=False)


def test_statement_in_other_timezone_keeps_its_offset() -> None:
    data = (DATA / "camt053_v02_batch.xml").read_bytes()
    [statement] = parse_camt(data)
    assert timedelta(hours=1) == statement.created_at.utcoffset()  # type: ignore[union-attr]
    assert Decimal("244.25") == statement.closing_balance.amount.amount  # type: ignore[union-attr]
    _ = timezone


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (b'<Amt Ccy="EUR">123.50</Amt>', b'<Amt Ccy="USD">123.50</Amt>', "USD in a EUR statement"),
        (b"<Ccy>EUR</Ccy>", b"<Ccy>EU</Ccy>", "ISO 4217 code.*Acct/Ccy"),
        (b'<Amt Ccy="EUR">876.50</Amt>', b'<Amt Ccy="JPY">876</Amt>', "JPY in a EUR statement"),
    ],
)
def test_a_statement_in_two_currencies_is_a_parse_error(
    old: bytes, new: bytes, message: str
) -> None:
    """These raised CurrencyMismatchError / CurrencyError / InvalidAmountError."""
    data = (DATA / "camt053_v08_example.xml").read_bytes()
    assert old in data
    with pytest.raises(ParseError, match=message):
        parse_camt(data.replace(old, new, 1), check_balance=True)


def _one_entry_statement(entry: Transaction) -> Statement:
    account = Iban("DE40100100103307118608")
    return Statement(
        header=StatementHeader(
            format="camt.053", statement_id="S-1", account=account, currency="EUR"
        ),
        balances=(
            Balance(
                account=account,
                amount=Money("0.00", "EUR"),
                type=BalanceType.OPENING_BOOKED,
                as_of=date(2026, 3, 2),
            ),
        ),
        entries=(entry,),
    )


def test_transaction_refs_account_servicer_reference_and_shared_payment_information_id() -> None:
    """TxDtls/Refs/AcctSvcrRef names a one-member booking; a shared PmtInfId names a batch."""
    single = Transaction(
        amount=Money("5.00", "EUR"),
        direction=Direction.DEBIT,
        value_date=date(2026, 3, 3),
        details=(TransactionDetail(bank_reference="TX-REF-1", end_to_end_id="E1"),),
    )
    batch = Transaction(
        amount=Money("3.00", "EUR"),
        direction=Direction.DEBIT,
        value_date=date(2026, 3, 3),
        details=tuple(
            TransactionDetail(
                amount=Money(f"{n}.00", "EUR"), end_to_end_id=f"E{n}", payment_information_id="P9"
            )
            for n in (1, 2)
        ),
    )
    [one] = parse_camt(_write([_one_entry_statement(single)]))[0].entries
    [many] = parse_camt(_write([_one_entry_statement(batch)]))[0].entries
    assert (one.bank_reference, one.end_to_end_id, one.batch_id) == ("TX-REF-1", "E1", None)
    assert (
        many.batch_id,
        many.batch_count,
        [d.payment_information_id for d in many.details],
    ) == ("P9", None, ["P9", "P9"])


def test_batch_number_of_transactions_is_read_and_written() -> None:
    [statement] = parse_camt((DATA / "camt053_v02_batch.xml").read_bytes())
    assert statement.entries[0].batch_count == 2
    unlisted = Transaction(
        amount=Money("30.00", "EUR"),
        direction=Direction.CREDIT,
        value_date=date(2026, 3, 3),
        batch_id="PO-1",
        batch_count=12,
    )
    written = _write([_one_entry_statement(unlisted)])
    SCHEMA.validate(written.decode())
    assert (
        parse_camt(written)[0].entries[0].batch_count,
        parse_camt(written)[0].entries[0].batch_id,
    ) == (12, "PO-1")


def test_a_batch_count_that_is_not_a_number_is_a_parse_error() -> None:
    unlisted = Transaction(
        amount=Money("30.00", "EUR"),
        direction=Direction.CREDIT,
        value_date=date(2026, 3, 3),
        batch_id="PO-1",
        batch_count=12,
    )
    written = _write([_one_entry_statement(unlisted)]).replace(b">12<", b">twelve<")
    with pytest.raises(ParseError, match="NbOfTxs"):
        parse_camt(written)


@pytest.mark.parametrize("code", ["CHF[", "EU", "ZZZ"])
def test_a_bad_account_currency_is_a_parse_error(code: str) -> None:
    """A bad <Acct><Ccy> escaped as a CurrencyError at the statement's end (found by the T13
    fuzzer)."""
    original = (DATA / "camt053_v08_example.xml").read_bytes()
    assert b"<Ccy>EUR</Ccy>" in original
    document = original.replace(b"<Ccy>EUR</Ccy>", f"<Ccy>{code}</Ccy>".encode(), 1)
    with pytest.raises(ParseError, match="bad currency") as caught:
        parse_camt(document)
    assert "Acct/Ccy" in str(caught.value.position)
