"""``walletlink outbox migrate``."""

from __future__ import annotations

import io
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from walletlink.cli import main
from walletlink.outbox import entries
from walletlink.outbox.cli import run


def test_migrate_creates_the_table_once_and_again_harmlessly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "wallet.sqlite3"
    assert main(["outbox", "migrate", "--db", str(db)]) == 0
    assert main(["outbox", "migrate", "--db", str(db)]) == 0
    assert capsys.readouterr().out.splitlines() == ["outbox table ready (SQLite)"] * 2
    conn = sqlite3.connect(db)
    assert entries(conn) == []
    conn.close()


@pytest.mark.skipif(
    "WALLETLINK_TEST_PG_DSN" not in os.environ, reason="set WALLETLINK_TEST_PG_DSN to run"
)
def test_migrate_on_postgresql_names_no_url() -> None:
    psycopg = pytest.importorskip("psycopg")
    pytest.importorskip("psycopg.conninfo")
    out = io.StringIO()

    # The test server's DSN is in libpq's key=value form; the CLI takes a URL.
    parts = psycopg.conninfo.conninfo_to_dict(os.environ["WALLETLINK_TEST_PG_DSN"])
    dbname = parts.pop("dbname", "")
    user = parts.pop("user", "")
    url = f"postgresql://{quote(str(user))}@/{quote(str(dbname))}?{urlencode(parts)}"

    class Args:
        db = url

    assert run(Args(), out) == 0  # type: ignore[arg-type]
    assert out.getvalue() == "outbox table ready (PostgreSQL)\n"
