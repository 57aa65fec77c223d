"""``walletlink journal migrate`` against the test PostgreSQL server."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

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


def _journal_with_a_transfer(dsn: str, schema: str, key: Any) -> Any:
    from walletlink.journal.conformance import T0, make_request
    from walletlink.journal.postgres import PostgresJournal

    PostgresJournal.migrate(dsn, schema=schema)
    journal = PostgresJournal(dsn, schema=schema, checkpoint_key=key)
    journal.record_intent(bank_id="bank-a", request=make_request(), transfer_id="wl_1", now=T0)
    return journal


def test_verify_checks_the_chains_and_a_checkpoint_kept_elsewhere(
    postgres_dsn: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import psycopg

    from walletlink.journal.conformance import T0
    from walletlink.signing import generate_ed25519_key

    key = generate_ed25519_key("journal-2026")
    schema = f"cli_{uuid.uuid4().hex[:12]}"
    journal = _journal_with_a_transfer(postgres_dsn, schema, key)
    checkpoint = tmp_path / "checkpoint.json"
    checkpoint.write_text(journal.checkpoint(now=T0).to_json())
    journal.close()
    public = tmp_path / "journal.pem"
    public.write_bytes(key.public_key_pem())
    args = ["journal", "verify", "--dsn", postgres_dsn, "--schema", schema]
    with_checkpoint = [*args, "--checkpoint", str(checkpoint), "--public-key", str(public)]

    assert main(with_checkpoint) == 0
    assert "every chain verifies and the checkpoint" in capsys.readouterr().out
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {schema}")
        conn.execute("UPDATE transfers SET attempts = 5")
    assert main(args) == 1
    assert "disagrees with its last chain entry" in capsys.readouterr().err
