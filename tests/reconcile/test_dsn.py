"""Ledger rows from a database: the DSN forms, and masked passwords in every message."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from walletlink.errors import ConfigurationError, ParseError
from walletlink.reconcile._dsn import mask_dsn, records_from_dsn
from walletlink.reconcile.inputs import STANDARD_MAPPING

_QUERY = "SELECT id, account, currency, amount, value_date FROM ledger"


def _sqlite(path: Path, amount: object = "12.50") -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE ledger (id, account, currency, amount, value_date)")
        db.execute("INSERT INTO ledger VALUES ('L1', 'ACC', 'EUR', ?, '2026-03-02')", (amount,))


@pytest.mark.parametrize(
    ("dsn", "masked"),
    [
        ("postgresql://app:s3cret@db:5432/wallet", "postgresql://app:***@db:5432/wallet"),
        ("host=db password=s3cret user=app", "host=db password=*** user=app"),
        ("sqlite:///var/lib/ledger.db", "sqlite:///var/lib/ledger.db"),
        ("postgresql://app@db/wallet", "postgresql://app@db/wallet"),
    ],
)  # fmt: skip
def test_a_dsn_is_shown_with_its_password_masked(dsn: str, masked: str) -> None:
    assert masked == mask_dsn(dsn)


def test_sqlite_dbapi_and_duckdb_forms_read_the_same_rows(tmp_path: Path) -> None:
    _sqlite(tmp_path / "l.db")
    duckdb = pytest.importorskip("duckdb")
    with duckdb.connect(str(tmp_path / "l.duckdb")) as db:
        db.execute(
            "CREATE TABLE ledger (id TEXT, account TEXT, currency TEXT, amount DECIMAL(18, 2), "
            "value_date DATE)"
        )
        db.execute("INSERT INTO ledger VALUES ('L1', 'ACC', 'EUR', 12.50, DATE '2026-03-02')")
    forms = [
        f"sqlite:///{tmp_path / 'l.db'}",
        f"dbapi:sqlite3:{tmp_path / 'l.db'}",
        f"duckdb:///{tmp_path / 'l.duckdb'}",
    ]
    read = [records_from_dsn(dsn, _QUERY, STANDARD_MAPPING) for dsn in forms]
    assert [[(r.id, r.amount_minor) for r in rows] for rows in read] == [[("L1", 1250)]] * 3


def test_a_float_column_is_refused_as_for_any_cursor(tmp_path: Path) -> None:
    _sqlite(tmp_path / "l.db", amount=12.5)
    with pytest.raises(ParseError, match="float"):
        records_from_dsn(f"sqlite:///{tmp_path / 'l.db'}", _QUERY, STANDARD_MAPPING)


def test_unknown_schemes_and_a_missing_query_are_configuration_errors() -> None:
    with pytest.raises(
        ConfigurationError, match=r"unsupported ledger DSN 'mysql://app:\*\*\*@h/w'"
    ):
        records_from_dsn("mysql://app:pw@h/w", _QUERY, STANDARD_MAPPING)
    with pytest.raises(ConfigurationError, match="needs --ledger-query"):
        records_from_dsn("sqlite:///x.db", " ", STANDARD_MAPPING)


def test_a_failing_query_is_a_parse_error_naming_the_driver_error(tmp_path: Path) -> None:
    _sqlite(tmp_path / "l.db")
    with pytest.raises(ParseError, match="OperationalError: no such table: absent"):
        records_from_dsn(f"sqlite:///{tmp_path / 'l.db'}", "SELECT * FROM absent", STANDARD_MAPPING)
