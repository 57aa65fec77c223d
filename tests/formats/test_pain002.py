"""pain.002.001.10: statuses and reasons map, the raw codes stay, the writer round-trips."""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from walletlink.errors import ParseError
from walletlink.formats import (
    PaymentStatus,
    StatusReport,
    TransactionStatus,
    parse_pain002,
    write_pain002,
)
from walletlink.formats.pain002 import reason_of, status_of_code
from walletlink.models import Reason, ReasonCode, TransferStatus

DATA = Path(__file__).parent / "data"


def test_protocols_example() -> None:
    report = parse_pain002((DATA / "pain002_v10_example.xml").read_bytes())
    assert (
        report.message_id,
        report.original_message_id,
        report.group_status,
    ) == ("STS-20240115-0001", "MSG-20240115-0001", TransferStatus.REJECTED)
    expected = Reason(ReasonCode.ACCOUNT_CLOSED, "AC04", "Closed account number")
    assert (TransferStatus.REJECTED, expected) == report.status_of("E2E-0001")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ACSC", TransferStatus.SETTLED),
        ("ACCC", TransferStatus.SETTLED),
        ("RJCT", TransferStatus.REJECTED),
        ("CANC", TransferStatus.CANCELLED),
        ("PDNG", TransferStatus.PENDING),
        ("RCVD", TransferStatus.PENDING),
        ("ACTC", TransferStatus.PROCESSING),
        ("ACCP", TransferStatus.PROCESSING),
        ("ACSP", TransferStatus.PROCESSING),
        ("ACWC", TransferStatus.PROCESSING),
        ("ACFC", TransferStatus.PROCESSING),
        ("ACWP", TransferStatus.PROCESSING),
        ("PART", TransferStatus.PROCESSING),
        ("ZZZZ", TransferStatus.UNKNOWN),
    ],
)
def test_status_codes(code: str, status: TransferStatus) -> None:
    assert status == status_of_code(code)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("AC01", ReasonCode.INVALID_ACCOUNT),
        ("AC04", ReasonCode.ACCOUNT_CLOSED),
        ("AC06", ReasonCode.ACCOUNT_BLOCKED),
        ("AM04", ReasonCode.INSUFFICIENT_FUNDS),
        ("AM05", ReasonCode.DUPLICATE),
        ("DUPL", ReasonCode.DUPLICATE),
        ("BE05", ReasonCode.AUTHORISATION_FAILED),
        ("FF01", ReasonCode.TECHNICAL),
        ("MD07", ReasonCode.ACCOUNT_CLOSED),
        ("MS02", ReasonCode.OTHER),
        ("MS03", ReasonCode.OTHER),
        ("NARR", ReasonCode.OTHER),
        ("RC01", ReasonCode.INVALID_CREDITOR),
        ("RR04", ReasonCode.REGULATORY),
        ("CUST", ReasonCode.CANCELLED_BY_USER),
        ("XY99", ReasonCode.OTHER),
    ],
)
def test_reason_codes_keep_the_raw_code(code: str, reason: ReasonCode) -> None:
    assert Reason(reason, code, "") == reason_of(code)


PARTIAL = StatusReport(
    message_id="STS-2",
    created_at=datetime(2024, 1, 15, 11, 0),
    original_message_id="MSG-2",
    raw_group_status="PART",
    group_status=TransferStatus.PROCESSING,
    payments=(
        PaymentStatus(
            original_payment_information_id="P-1",
            raw_status="PART",
            status=TransferStatus.PROCESSING,
            transactions=(
                TransactionStatus(
                    original_end_to_end_id="OK",
                    original_instruction_id="I-1",
                    raw_status="ACSC",
                    status=TransferStatus.SETTLED,
                ),
                TransactionStatus(
                    original_end_to_end_id="BAD",
                    raw_status="RJCT",
                    status=TransferStatus.REJECTED,
                    reasons=(Reason(ReasonCode.INSUFFICIENT_FUNDS, "AM04", "x" * 150),),
                ),
                TransactionStatus(original_end_to_end_id="SILENT"),
            ),
        ),
        PaymentStatus(
            original_payment_information_id="P-2",
            raw_status="ACCP",
            status=TransferStatus.PROCESSING,
            transactions=(TransactionStatus(original_end_to_end_id="BLOCK"),),
        ),
    ),
)


def test_partial_acceptance_per_transaction_status_wins() -> None:
    report = parse_pain002(write_pain002(PARTIAL))
    assert [report.status_of(e2e)[0] for e2e in ("OK", "BAD", "SILENT")] == [
        TransferStatus.SETTLED,
        TransferStatus.REJECTED,
        TransferStatus.UNKNOWN,
    ]
    assert report.status_of("BLOCK") == (TransferStatus.PROCESSING, None)
    assert report.status_of("BAD")[1].message == "x" * 150  # type: ignore[union-attr]


def test_writer_round_trips() -> None:
    assert parse_pain002(write_pain002(PARTIAL)) == PARTIAL


def test_group_rejection_applies_to_unlisted_transfers() -> None:
    report = StatusReport(
        message_id="S",
        created_at=datetime(2024, 1, 1),
        original_message_id="M",
        raw_group_status="RJCT",
        group_status=TransferStatus.REJECTED,
        group_reasons=(reason_of("FF01"),),
    )
    assert (TransferStatus.REJECTED, reason_of("FF01")) == parse_pain002(
        write_pain002(report)
    ).status_of("any")


def test_missing_original_message_id_names_the_element() -> None:
    data = (DATA / "pain002_v10_example.xml").read_bytes()
    with pytest.raises(ParseError, match="OrgnlMsgId") as caught:
        parse_pain002(data.replace(b"<OrgnlMsgId>MSG-20240115-0001</OrgnlMsgId>", b""))
    assert "OrgnlGrpInfAndSts" in (caught.value.position or "")


@settings(max_examples=200)
@given(st.data())
def test_mutated_documents_raise_only_parse_errors(data: st.DataObject) -> None:
    original = (DATA / "pain002_v10_example.xml").read_bytes()
    position = data.draw(st.integers(0, len(original) - 1))
    mutated = (
        original[:position]
        + data.draw(st.binary(max_size=4))
        + original[position + data.draw(st.integers(0, 8)) :]
    )
    with contextlib.suppress(ParseError):
        parse_pain002(mutated)


@pytest.mark.parametrize("moment", [b"9999-12-31T23:59:59-23:59", b"0001-01-01T00:00:00+14:00"])
def test_a_creation_time_outside_what_utc_can_hold_is_a_parse_error(moment: bytes) -> None:
    data = (DATA / "pain002_v10_example.xml").read_bytes()
    changed = data.replace(
        b"<CreDtTm>2024-01-15T10:05:00</CreDtTm>", b"<CreDtTm>" + moment + b"</CreDtTm>"
    )
    assert changed != data
    with pytest.raises(ParseError, match="not an ISO date-time"):
        parse_pain002(changed)
