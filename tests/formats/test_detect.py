"""Format sniffing from the first bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from walletlink.errors import ParseError
from walletlink.formats import FileFormat, detect_format, parse_statements

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("camt053_v08_example.xml", FileFormat.CAMT053),
        ("camt053_v02_batch.xml", FileFormat.CAMT053),
        ("camt054_v08_notification.xml", FileFormat.CAMT054),
        ("pain001_v09_example.xml", FileFormat.PAIN001),
        ("pain002_v10_example.xml", FileFormat.PAIN002),
        ("mt940_enveloped_example.sta", FileFormat.MT940),
        ("mt940_german_latin1.sta", FileFormat.MT940),
    ],
)
def test_fixture_formats(name: str, expected: FileFormat) -> None:
    assert expected == detect_format((DATA / name).read_bytes())


def test_csv_bom_and_str() -> None:
    assert detect_format("date;amount;currency\n2024-01-01;1,00;EUR\n") == FileFormat.CSV
    assert detect_format(b"\xef\xbb\xbf\r\n:20:X\r\n") == FileFormat.MT940


@pytest.mark.parametrize("data", [b"", b"   \n", b"\x00\x01\x02", b"<html><body/></html>"])
def test_undetectable_input(data: bytes) -> None:
    with pytest.raises(ParseError):
        detect_format(data)


def test_parse_statements_dispatches_on_the_detected_format() -> None:
    camt = parse_statements((DATA / "camt053_v08_example.xml").read_bytes(), check_balance=True)
    mt940 = parse_statements(
        (DATA / "mt940_enveloped_example.sta").read_bytes(), check_balance=True
    )
    assert ([s.header.format for s in camt], [s.header.format for s in mt940]) == (
        ["camt.053"],
        ["mt940"],
    )
    with pytest.raises(ParseError, match="not a statement format"):
        parse_statements((DATA / "pain002_v10_example.xml").read_bytes())
