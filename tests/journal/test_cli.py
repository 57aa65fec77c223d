"""``walletlink journal migrate`` against the test PostgreSQL server."""

from __future__ import annotations

import uuid

import pytest

from walletlink.cli import main


def test_migrate_creates_the_schema_then_reports_it_current(
    postgres_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from walletlink.journal.postgres import PostgresJournal

    schema = f"cli_{uuid.uuid4().hex[:12]}"
    assert main(["journal", "migrate", "--dsn", postgres_dsn, "--schema", schema]) == 0
    assert f"journal schema {schema!r}: applied version(s) 1\n" == capsys.readouterr().out
    assert main(["journal", "migrate", "--dsn", postgres_dsn, "--schema", schema]) == 0
    assert f"journal schema {schema!r}: already at version 1\n" == capsys.readouterr().out
    PostgresJournal(postgres_dsn, schema=schema).close()


def test_migrate_reads_the_dsn_from_the_environment(
    postgres_dsn: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WALLETLINK_JOURNAL_DSN", postgres_dsn)
    assert main(["journal", "migrate", "--schema", f"cli_{uuid.uuid4().hex[:12]}"]) == 0
    assert "applied" in capsys.readouterr().out


def test_migrate_without_a_dsn_says_what_to_give(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WALLETLINK_JOURNAL_DSN", raising=False)
    assert main(["journal", "migrate"]) == 2
    assert "--dsn" in capsys.readouterr().err


def test_an_unreachable_server_is_an_error_without_the_password(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("psycopg")
    dsn = f"host={tmp_path} port=1 user=u password=hunter2 dbname=d connect_timeout=2"
    assert main(["journal", "migrate", "--dsn", dsn]) == 1
    err = capsys.readouterr().err
    assert "walletlink journal migrate:" in err
    assert "hunter2" not in err
