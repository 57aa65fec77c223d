"""pain.001.001.09: the builder's output is schema-valid, grouped and summed; it reads back."""

from __future__ import annotations

import contextlib
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import xmlschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from walletlink.accounts import Bic, Iban, LocalAccount, SortCodeAccount
from walletlink.errors import InvalidAmountError, InvalidTextError, ParseError, ValidationError
from walletlink.formats import build_pain001, parse_pain001
from walletlink.models import Party, TransferRequest
from walletlink.money import Money
from walletlink.text import SEPA_CHARACTERS

DATA = Path(__file__).parent / "data"
SCHEMA = xmlschema.XMLSchema(Path(__file__).parent / "schemas" / "pain.001.001.09.xsd")
DEBTOR = Iban("DE40100100103307118608")
# The SEPA Latin set has no & < > or ": the apostrophe is the one character XML escapes.
CREDITOR = Party("O'Neil + Co (GmbH)", Iban("DE02100100109307118603"), Bic("PBNKDEFFXXX"), "DE")


def _request(
    amount: str,
    currency: str = "EUR",
    debtor: object = DEBTOR,
    creditor: Party = CREDITOR,
    **kw: object,
) -> TransferRequest:
    return TransferRequest(
        amount=Money(amount, currency), debtor_account=debtor, creditor=creditor, **kw
    )  # type: ignore[arg-type]


def _build(requests: list[TransferRequest], agent: Bic | None = None, **kw: object) -> bytes:
    arguments: dict[str, object] = {
        "message_id": "MSG-1",
        "debtor_name": "Wallet Inc",
        "created_at": datetime(2024, 1, 15, 10, 0),
        "execution_date": date(2024, 1, 16),
        "debtor_agent": agent,
        **kw,
    }
    return build_pain001(requests, **arguments)  # type: ignore[arg-type]


def test_grouped_by_debtor_and_currency_with_counts_and_sums() -> None:
    requests = [
        _request("10.00", end_to_end_id="A"),
        _request("5", "GBP", end_to_end_id="B"),
        _request("2.50", end_to_end_id="C", remittance="Invoice 1"),
        _request("1.00", debtor=LocalAccount("W-1", scheme="wallet"), end_to_end_id="D"),
    ]
    data = _build(requests, Bic("COBADEFFXXX"))
    SCHEMA.validate(data)
    document = parse_pain001(data)
    assert (
        document.message_id,
        document.payment_information_ids,
    ) == ("MSG-1", ("MSG-1-1", "MSG-1-2", "MSG-1-3"))
    assert [(t.end_to_end_id, t.payment_information_id) for t in document.transactions] == [
        ("A", "MSG-1-1"),
        ("C", "MSG-1-1"),
        ("B", "MSG-1-2"),
        ("D", "MSG-1-3"),
    ]
    decoded = SCHEMA.to_dict(data)["CstmrCdtTrfInitn"]  # type: ignore[index,call-overload]
    assert ("4", Decimal("18.50")) == (decoded["GrpHdr"]["NbOfTxs"], decoded["GrpHdr"]["CtrlSum"])
    assert [("2", Decimal("12.50")), ("1", Decimal("5.00")), ("1", Decimal("1.00"))] == [
        (block["NbOfTxs"], block["CtrlSum"]) for block in decoded["PmtInf"]
    ]


def test_transfers_read_back_as_the_same_requests() -> None:
    sort_code = Party("UK Ltd", SortCodeAccount("12-34-56", "12345678"))
    requests = [
        _request("10.00", end_to_end_id="A", remittance="Invoice 1"),
        TransferRequest(
            amount=Money("7", "JPY"), debtor_account=DEBTOR, creditor=sort_code, end_to_end_id="B"
        ),
    ]
    document = parse_pain001(_build(requests))
    rebuilt = [
        t.to_transfer_request(r.idempotency_key)
        for t, r in zip(document.transactions, requests, strict=True)
    ]
    assert requests == rebuilt
    assert (None, date(2024, 1, 16), "Wallet Inc") == (
        document.transactions[0].debtor_agent,
        document.transactions[0].requested_execution_date,
        document.transactions[0].debtor_name,
    )


def test_instruction_id_from_metadata() -> None:
    data = _build([_request("1.00", end_to_end_id="E", metadata={"instruction_id": "I-9"})])
    [tx] = parse_pain001(data).transactions
    assert (tx.instruction_id, tx.end_to_end_id) == ("I-9", "E")


def test_protocols_example_reads() -> None:
    document = parse_pain001((DATA / "pain001_v09_example.xml").read_bytes())
    [tx] = document.transactions
    assert ("PMT-0001", "INSTR-0001", "E2E-0001", Money("123.50", "EUR"), "Merchant123") == (
        tx.payment_information_id,
        tx.instruction_id,
        tx.end_to_end_id,
        tx.amount,
        tx.creditor.name,
    )
    assert Bic("PBNKDEFFXXX") == tx.debtor_agent


def test_empty_batch_and_repeated_end_to_end_ids_are_refused() -> None:
    with pytest.raises(ValidationError):
        _build([])
    with pytest.raises(ValidationError, match="unique"):
        _build([_request("1.00", end_to_end_id="X"), _request("2.00", end_to_end_id="X")])


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            b"<NbOfTxs>1</NbOfTxs>\n      <CtrlSum>123.50</CtrlSum>\n      <InitgPty>",
            b"<NbOfTxs>2</NbOfTxs>\n      <CtrlSum>123.50</CtrlSum>\n      <InitgPty>",
            "NbOfTxs",
        ),
        (
            b"<CtrlSum>123.50</CtrlSum>\n      <PmtTpInf>",
            b"<CtrlSum>123.40</CtrlSum>\n      <PmtTpInf>",
            "CtrlSum",
        ),
        (b'<InstdAmt Ccy="EUR">123.50', b'<InstdAmt Ccy="EUR">-123.50', "amount"),
        (b"<Cdtr><Nm>Merchant123</Nm></Cdtr>", b"", "creditor"),
        (b"<IBAN>DE02100100109307118603</IBAN>", b"<IBAN>DE02100100109307118604</IBAN>", "account"),
    ],
)
def test_bad_documents_name_the_element(old: bytes, new: bytes, message: str) -> None:
    data = (DATA / "pain001_v09_example.xml").read_bytes()
    assert old in data
    with pytest.raises(ParseError, match=message) as caught:
        parse_pain001(data.replace(old, new))
    assert caught.value.position


requests_strategy = st.lists(
    st.builds(
        lambda minor, currency, e2e, text: TransferRequest(
            amount=Money.from_minor(minor, currency),
            debtor_account=DEBTOR,
            creditor=CREDITOR,
            end_to_end_id=e2e,
            remittance=text,
        ),
        st.integers(1, 10**12),
        st.sampled_from(["EUR", "GBP", "JPY", "KWD"]),
        st.from_regex(r"[A-Za-z0-9-]{1,35}", fullmatch=True),
        st.text(st.sampled_from(sorted(SEPA_CHARACTERS)), max_size=140).map(str.strip),
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda r: r.end_to_end_id,
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(requests_strategy)
def test_builder_is_schema_valid_and_round_trips(requests: list[TransferRequest]) -> None:
    data = _build(requests)
    SCHEMA.validate(data)
    document = parse_pain001(data)
    by_e2e = {t.end_to_end_id: t for t in document.transactions}
    for request in requests:
        tx = by_e2e[request.end_to_end_id]
        assert (request.amount, request.remittance or None) == (tx.amount, tx.remittance)


@settings(max_examples=200)
@given(st.data())
def test_mutated_documents_raise_only_parse_errors(data: st.DataObject) -> None:
    original = (DATA / "pain001_v09_example.xml").read_bytes()
    position = data.draw(st.integers(0, len(original) - 1))
    mutated = (
        original[:position]
        + data.draw(st.binary(max_size=4))
        + original[position + data.draw(st.integers(0, 8)) :]
    )
    with contextlib.suppress(ParseError):
        parse_pain001(mutated)


# -- the SEPA Latin character set, lengths and amounts: raised, never cut or replaced -------


@pytest.mark.parametrize(
    ("change", "field", "position"),
    [
        ({"remittance": "Rechnung Nr. 7 für März"}, "transfers[1].remittance", 16),
        ({"end_to_end_id": "E2E#2"}, "transfers[1].end_to_end_id", 3),
        ({"end_to_end_id": "/E2E-2"}, "transfers[1].end_to_end_id", 0),
        ({"end_to_end_id": "E2E//2"}, "transfers[1].end_to_end_id", 3),
        ({"end_to_end_id": "E2E-2/"}, "transfers[1].end_to_end_id", 5),
        ({"metadata": {"instruction_id": "I_2"}}, "transfers[1].metadata['instruction_id']", 1),
        (
            {"creditor": Party("Bob & Alice", Iban("DE02100100109307118603"))},
            "transfers[1].creditor.name",
            4,
        ),
        (
            {"debtor": LocalAccount("acct_2", scheme="wallet")},
            "transfers[1].debtor_account",
            4,
        ),
    ],
)
def test_text_outside_the_sepa_rules_names_the_field_and_position(
    change: dict[str, object], field: str, position: int
) -> None:
    with pytest.raises(InvalidTextError) as caught:
        _build([_request("1.00", end_to_end_id="E2E-1"), _request("2.00", **change)])
    assert (field, position) == (caught.value.field, caught.value.position)


@pytest.mark.parametrize(
    ("argument", "value", "field"),
    [
        ("debtor_name", "Wallet\x00Inc", "debtor_name"),
        ("debtor_name", "W" * 71, "debtor_name"),
        ("initiating_party", "Wallet & Sons", "initiating_party"),
        ("message_id", "MSG//1", "message_id"),
        ("message_id", "", "message_id"),
    ],
)
def test_builder_arguments_follow_the_same_rules(argument: str, value: str, field: str) -> None:
    """Before, a 141-character debtor name was cut to 140 and a control character written."""
    with pytest.raises(InvalidTextError) as caught:
        _build([_request("1.00", end_to_end_id="E")], **{argument: value})
    assert field == caught.value.field


def test_an_instruction_id_too_long_is_refused_not_cut() -> None:
    with pytest.raises(InvalidTextError, match="at most 35"):
        _build([_request("1.00", end_to_end_id="E", metadata={"instruction_id": "I" * 36})])


def test_a_creditor_name_past_the_epc_70_characters_is_refused() -> None:
    long_name = Party("N" * 71, Iban("DE02100100109307118603"))
    with pytest.raises(InvalidTextError, match="at most 70"):
        _build([_request("1.00", end_to_end_id="E", creditor=long_name)])


def test_amounts_and_sums_past_18_digits_are_refused() -> None:
    """The schema's amounts have at most 18 digits; before, the file was schema-invalid."""
    huge = "1" + "0" * 16 + ".00"  # 19 digits
    with pytest.raises(InvalidAmountError, match=r"transfers\[0\]\.amount"):
        _build([_request(huge, end_to_end_id="A")])
    half = "6" + "0" * 15 + ".00"  # 18 digits each, 19 together
    with pytest.raises(InvalidAmountError, match="CtrlSum"):
        _build([_request(half, end_to_end_id="A"), _request(half, end_to_end_id="B")])


def test_transliteration_is_opt_in_and_spells_names_and_remittance() -> None:
    creditor = Party("Jürgen Weiß", Iban("DE02100100109307118603"))
    request = _request("1.00", end_to_end_id="E", creditor=creditor, remittance="Café crème")
    with pytest.raises(InvalidTextError, match="transliterate=True"):
        _build([request])
    data = _build([request], debtor_name="Société Générale", transliterate=True)
    SCHEMA.validate(data)
    [tx] = parse_pain001(data).transactions
    assert (
        tx.creditor.name,
        tx.remittance,
        tx.debtor_name,
    ) == ("Jurgen Weiss", "Cafe creme", "Societe Generale")
    assert request.creditor.name == "Jürgen Weiß"


def test_references_are_never_transliterated() -> None:
    """The bank echoes EndToEndId in its pain.002: a changed one would match nothing."""
    with pytest.raises(InvalidTextError, match="end_to_end_id"):
        _build([_request("1.00", end_to_end_id="Rückzahlung-1")], transliterate=True)


def test_a_bad_text_raises_the_same_error_on_every_build() -> None:
    """A dry run (Adapter.validate) sees the error the real build would raise: no fixing."""
    requests = [
        _request("1.00", end_to_end_id="A"),
        _request("2.00", end_to_end_id="B", remittance="№ 5"),
    ]
    for _ in range(2):
        with pytest.raises(InvalidTextError, match=r"transfers\[1\]\.remittance: character 0"):
            _build(requests)


# Mostly text that transliterates, with some that cannot (& € Greek) and some of anything.
_mixed_text = st.text(
    st.sampled_from(sorted(SEPA_CHARACTERS) + list("éÄßøŁñç’–&€Ω")) | st.characters(),
    max_size=60,
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(_mixed_text, _mixed_text)
def test_any_text_builds_a_schema_valid_file_or_raises_a_text_error(
    remittance: str, name: str
) -> None:
    try:
        creditor = Party(name, Iban("DE02100100109307118603"))
        request = _request("1.00", end_to_end_id="E", remittance=remittance, creditor=creditor)
        data = _build([request], transliterate=True)
    except InvalidTextError:
        return
    SCHEMA.validate(data)
    [tx] = parse_pain001(data).transactions
    assert set(tx.creditor.name) | set(tx.remittance or "") <= SEPA_CHARACTERS


def test_version_03_with_a_plain_iso_date_reads() -> None:
    """pain.001.001.03's ReqdExctnDt is an ISODate, not a Dt/DtTm choice: it was refused."""
    document = parse_pain001((DATA / "pain001_v03_example.xml").read_bytes())
    first, second = document.transactions
    assert (date(2024, 1, 16), date(2024, 1, 16)) == (
        first.requested_execution_date,
        second.requested_execution_date,
    )
    assert (Bic("PBNKDEFFXXX"), Bic("COBADEFFXXX")) == (first.debtor_agent, first.creditor.agent)
    assert (first.end_to_end_id, second.end_to_end_id) == ("E2E-0003", "E2E-0004")


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        (b"<Dt>2024-01-17</Dt>", date(2024, 1, 17)),
        (b"<DtTm>2024-01-17T08:30:00</DtTm>", datetime(2024, 1, 17, 8, 30)),
    ],
)
def test_version_09_date_choice_reads(shape: bytes, expected: date) -> None:
    data = (DATA / "pain001_v09_example.xml").read_bytes()
    data = data.replace(b"<Dt>2024-01-16</Dt>", shape)
    [tx] = parse_pain001(data).transactions
    assert expected == tx.requested_execution_date


def test_a_plain_execution_date_that_is_not_a_date_names_the_element() -> None:
    data = (DATA / "pain001_v03_example.xml").read_bytes().replace(b">2024-01-16<", b">2024-13-16<")
    with pytest.raises(ParseError, match=r"PmtInf\[1\]/ReqdExctnDt"):
        parse_pain001(data)
