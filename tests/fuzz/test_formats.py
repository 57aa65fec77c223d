"""Every public parser of walletlink.formats, fed mutated documents: only ParseError comes out.

``check_balance=True`` may add ``StatementBalanceError`` (a file that parses but does not
add up); nothing else is allowed: no ``CurrencyError``, ``KeyError``, ``RecursionError``…
"""

from __future__ import annotations

from pathlib import Path

from walletlink.errors import ParseError, StatementBalanceError
from walletlink.formats import (
    detect_format,
    iter_camt,
    parse_camt,
    parse_mt940,
    parse_pain001,
    parse_pain002,
    parse_statements,
)

from ._mutations import fuzz_tests, mutated

DATA = Path(__file__).parent.parent / "formats" / "data"
RECONCILE = Path(__file__).parent.parent / "reconcile" / "data"

CAMT = [
    (DATA / name).read_bytes()
    for name in ("camt053_v08_example.xml", "camt053_v02_batch.xml", "camt054_v08_notification.xml")
] + [(RECONCILE / "statement.camt053.xml").read_bytes()]
MT940 = [
    (DATA / "mt940_enveloped_example.sta").read_bytes(),
    (DATA / "mt940_german_latin1.sta").read_bytes(),
    (RECONCILE / "statement.mt940").read_bytes(),
    # An MT942 interim report, as write_mt940 writes pending entries.
    b":20:R\r\n:25:DE40100100103307118608\r\n:28C:1\r\n:34F:EUR0,\r\n:13D:2401011200+0100\r\n"
    b":61:240101D7,NTRFNONREF\r\n:86:/EREF/E1/NAME/A B/IBAN/X/REMI/on hold\r\n"
    b":90D:1EUR7,\r\n:90C:0EUR0,\r\n-\r\n",
]
PAIN001 = [(DATA / n).read_bytes() for n in ("pain001_v09_example.xml", "pain001_v03_example.xml")]
PAIN002 = [(DATA / "pain002_v10_example.xml").read_bytes()]
CSV = [(RECONCILE / "ledger.csv").read_bytes(), (RECONCILE / "bank_export.csv").read_bytes()]
ANY = CAMT + MT940 + PAIN001 + PAIN002 + CSV

_BALANCED = (ParseError, StatementBalanceError)

test_iter_camt, test_iter_camt_long = fuzz_tests(
    mutated(CAMT), lambda data: list(iter_camt(data)), (ParseError,)
)
test_parse_camt_checked, test_parse_camt_checked_long = fuzz_tests(
    mutated(CAMT), lambda data: parse_camt(data, check_balance=True), _BALANCED
)
test_parse_mt940, test_parse_mt940_long = fuzz_tests(
    mutated(MT940), lambda data: parse_mt940(data, check_balance=True), _BALANCED
)
test_parse_pain001, test_parse_pain001_long = fuzz_tests(
    mutated(PAIN001), parse_pain001, (ParseError,)
)
test_parse_pain002, test_parse_pain002_long = fuzz_tests(
    mutated(PAIN002), parse_pain002, (ParseError,)
)
test_detect_format, test_detect_format_long = fuzz_tests(mutated(ANY), detect_format, (ParseError,))
test_parse_statements, test_parse_statements_long = fuzz_tests(
    mutated(CAMT + MT940), lambda data: parse_statements(data, check_balance=True), _BALANCED
)
