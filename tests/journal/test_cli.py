"""``walletlink journal``: migrate, verify, checkpoint and prune against the test PostgreSQL
server, and verify of an SQLite file; every exit code the module documents."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from walletlink.cli import main
from walletlink.journal.cli import EXIT_DATABASE, EXIT_INTEGRITY, EXIT_OK, EXIT_USAGE


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
    assert main(["journal", "migrate", "--dsn", dsn]) == EXIT_DATABASE
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


# -- checkpoint ------------------------------------------------------------------------------


def _settled(journal: Any, *, bank_id: str = "bank-a") -> Any:
    """One finished transfer, last touched at T0 (2026-01-02, long before today)."""
    from walletlink.journal.conformance import T0, make_request, make_transfer
    from walletlink.models import TransferStatus

    request = make_request()
    record, _ = journal.record_intent(
        bank_id=bank_id, request=request, transfer_id=f"wl_{request.idempotency_key}", now=T0
    )
    journal.mark_sent(record.idempotency_key, now=T0)
    journal.record_transfer(make_transfer(record, TransferStatus.SETTLED), now=T0)
    return record


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    """The journal's Ed25519 key as PEM files (private, public) and an EC key beside it."""
    from walletlink.signing import generate_ec_key, generate_ed25519_key

    key = generate_ed25519_key("journal")
    files = {
        "private": tmp_path / "journal-key.pem",
        "public": tmp_path / "journal.pem",
        "ec": tmp_path / "ec-key.pem",
    }
    files["private"].write_bytes(key.private_key_pem())
    files["public"].write_bytes(key.public_key_pem())
    files["ec"].write_bytes(generate_ec_key("p256").private_key_pem())
    return files


@pytest.fixture
def schema(postgres_dsn: str) -> str:
    from walletlink.journal.postgres import PostgresJournal

    name = f"cli_{uuid.uuid4().hex[:12]}"
    PostgresJournal.migrate(postgres_dsn, schema=name)
    return name


def _journal(dsn: str, schema: str) -> Any:
    from walletlink.journal.postgres import PostgresJournal

    return PostgresJournal(dsn, schema=schema)


def test_checkpoint_writes_a_new_file_that_verify_accepts_and_never_overwrites_it(
    postgres_dsn: str,
    schema: str,
    keys: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from walletlink.journal import Checkpoint
    from walletlink.signing import load_pem

    with _journal(postgres_dsn, schema) as journal:
        _settled(journal, bank_id="bank-a")
        _settled(journal, bank_id="bank-b")
    out = tmp_path / "checkpoint.json"
    base = ["journal", "checkpoint", "--dsn", postgres_dsn, "--schema", schema]
    assert main([*base, "--key", str(keys["private"]), "--out", str(out)]) == EXIT_OK
    assert "checkpoint of 2 partition(s) signed as 'journal'" in capsys.readouterr().out
    kept = Checkpoint.from_json(out.read_text())
    heads = kept.verify(load_pem(keys["public"].read_bytes(), kid="journal"))
    assert sorted(heads) == ["bank-a", "bank-b"]
    assert kept.journal == schema
    verify = ["journal", "verify", "--dsn", postgres_dsn, "--schema", schema]
    checked = [*verify, "--checkpoint", str(out), "--public-key", str(keys["public"])]
    assert main(checked) == EXIT_OK
    assert "every chain verifies and the checkpoint" in capsys.readouterr().out

    before = out.read_text()
    assert main([*base, "--key", str(keys["private"]), "--out", str(out)]) == EXIT_USAGE
    assert "cannot create" in capsys.readouterr().err
    assert out.read_text() == before


def test_checkpoint_to_stdout_is_one_json_line_and_the_summary_goes_to_stderr(
    postgres_dsn: str, schema: str, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from walletlink.journal import Checkpoint

    with _journal(postgres_dsn, schema) as journal:
        _settled(journal)
    args = ["journal", "checkpoint", "--dsn", postgres_dsn, "--schema", schema]
    assert main([*args, "--key", str(keys["private"]), "--kid", "j-2026", "--out", "-"]) == 0
    captured = capsys.readouterr()
    [line] = captured.out.splitlines()
    assert Checkpoint.from_json(line).kid == "j-2026"
    assert "written to standard output" in captured.err


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("public", "holds no private key"),
        ("ec", "checkpoints use Ed25519"),
        ("missing", "cannot read the key file"),
    ],
)
def test_checkpoint_refuses_a_key_that_cannot_sign_it(
    postgres_dsn: str,
    schema: str,
    keys: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    key: str,
    message: str,
) -> None:
    path = keys.get(key, tmp_path / "nowhere.pem")
    out = tmp_path / "checkpoint.json"
    args = ["journal", "checkpoint", "--dsn", postgres_dsn, "--schema", schema]
    assert main([*args, "--key", str(path), "--out", str(out)]) == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_checkpoint_of_a_schema_never_migrated_is_a_usage_error(
    postgres_dsn: str, keys: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["journal", "checkpoint", "--dsn", postgres_dsn, "--schema", "cli_nothing_here"]
    assert main([*args, "--key", str(keys["private"]), "--out", "-"]) == EXIT_USAGE
    assert "walletlink journal migrate" in capsys.readouterr().err


# -- prune -----------------------------------------------------------------------------------


def _count(dsn: str, schema: str) -> int:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {schema}")
        row = conn.execute("SELECT count(*) FROM transfers").fetchone()
        assert row is not None
        return int(row[0])


def _take_checkpoint(dsn: str, schema: str, keys: dict[str, Path], out: Path) -> None:
    args = ["journal", "checkpoint", "--dsn", dsn, "--schema", schema]
    assert main([*args, "--key", str(keys["private"]), "--out", str(out)]) == EXIT_OK


def test_prune_deletes_old_finished_records_covered_by_the_checkpoint(
    postgres_dsn: str,
    schema: str,
    keys: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from walletlink.journal.conformance import make_request

    with _journal(postgres_dsn, schema) as journal:
        old = [_settled(journal) for _ in range(2)]
        unfinished, _ = journal.record_intent(
            bank_id="bank-a",
            request=make_request(),
            transfer_id="wl_open",
            now=datetime.now(UTC) - timedelta(days=400),
        )
    checkpoint = tmp_path / "checkpoint.json"
    _take_checkpoint(postgres_dsn, schema, keys, checkpoint)
    capsys.readouterr()
    args = ["journal", "prune", "--dsn", postgres_dsn, "--schema", schema]
    prune = [*args, "--older-than", "30", "--checkpoint", str(checkpoint)]
    assert main([*prune, "--key", str(keys["private"])]) == EXIT_OK
    assert "pruned 2 finished record(s)" in capsys.readouterr().out
    with _journal(postgres_dsn, schema) as journal:
        assert all(journal.get(r.idempotency_key) is None for r in old)
        assert journal.get(unfinished.idempotency_key) is not None  # never pruned
    # The checkpoint taken before the prune still verifies the pruned journal.
    verify = ["journal", "verify", "--dsn", postgres_dsn, "--schema", schema]
    checked = [*verify, "--checkpoint", str(checkpoint), "--public-key", str(keys["public"])]
    assert main(checked) == EXIT_OK
    assert main([*prune, "--key", str(keys["private"])]) == EXIT_OK
    assert "pruned 0 finished record(s)" in capsys.readouterr().out


def test_prune_refuses_a_checkpoint_older_than_the_cutoff(
    postgres_dsn: str,
    schema: str,
    keys: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from walletlink.journal.conformance import T0
    from walletlink.journal.postgres import PostgresJournal
    from walletlink.signing import load_pem

    key = load_pem(keys["private"].read_bytes(), kid="journal")
    with PostgresJournal(postgres_dsn, schema=schema, checkpoint_key=key) as journal:
        _settled(journal)
        stale = tmp_path / "stale.json"
        stale.write_text(journal.checkpoint(now=T0).to_json())  # taken on 2026-01-02
    args = ["journal", "prune", "--dsn", postgres_dsn, "--schema", schema, "--older-than", "30"]
    assert main([*args, "--checkpoint", str(stale), "--key", str(keys["private"])]) == EXIT_USAGE
    assert "before the cutoff" in capsys.readouterr().err
    assert _count(postgres_dsn, schema) == 1


def test_prune_of_a_journal_that_does_not_verify_deletes_nothing(
    postgres_dsn: str,
    schema: str,
    keys: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import psycopg

    with _journal(postgres_dsn, schema) as journal:
        _settled(journal)
        _settled(journal)
    checkpoint = tmp_path / "checkpoint.json"
    _take_checkpoint(postgres_dsn, schema, keys, checkpoint)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {schema}")
        conn.execute("UPDATE transfers SET attempts = 7")
    args = ["journal", "prune", "--dsn", postgres_dsn, "--schema", schema, "--older-than", "30"]
    code = main([*args, "--checkpoint", str(checkpoint), "--key", str(keys["private"])])
    assert code == EXIT_INTEGRITY
    assert "the journal does not verify" in capsys.readouterr().err
    assert _count(postgres_dsn, schema) == 2


def test_prune_refuses_a_kid_other_than_the_checkpoints(
    postgres_dsn: str,
    schema: str,
    keys: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    checkpoint = tmp_path / "checkpoint.json"
    _take_checkpoint(postgres_dsn, schema, keys, checkpoint)
    args = ["journal", "prune", "--dsn", postgres_dsn, "--schema", schema, "--older-than", "1"]
    prune = [*args, "--checkpoint", str(checkpoint), "--key", str(keys["private"])]
    assert main([*prune, "--kid", "other"]) == EXIT_USAGE
    assert "signed as 'journal', not 'other'" in capsys.readouterr().err


@pytest.mark.parametrize("days", ["0", "-3", "soon", "nan"])
def test_prune_needs_a_positive_number_of_days(
    days: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["journal", "prune", "--dsn", "x", "--checkpoint", "c", "--key", "k"]
    with pytest.raises(SystemExit) as exited:
        main([*args, "--older-than", days])
    assert exited.value.code == EXIT_USAGE
    assert "--older-than" in capsys.readouterr().err


# -- verify of an SQLite journal -------------------------------------------------------------


def _sqlite(path: Path) -> None:
    from walletlink.journal import SQLiteJournal

    with SQLiteJournal(path) as journal:
        _settled(journal)


def test_verify_checks_an_sqlite_journal_and_reports_tampering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    path = tmp_path / "journal.sqlite3"
    _sqlite(path)
    assert main(["journal", "verify", "--path", str(path)]) == EXIT_OK
    assert "every chain verifies" in capsys.readouterr().out
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE transfers SET attempts = 9")
    assert main(["journal", "verify", "--path", str(path)]) == EXIT_INTEGRITY
    assert "the journal does not verify" in capsys.readouterr().err


def test_verify_of_an_hmac_chained_sqlite_journal_needs_its_chain_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from walletlink.journal import SQLiteJournal

    path, secret = tmp_path / "journal.sqlite3", tmp_path / "chain.key"
    secret.write_bytes(b"k" * 32)
    with SQLiteJournal(path, chain_key=b"k" * 32) as journal:
        _settled(journal)
    assert main(["journal", "verify", "--path", str(path)]) == EXIT_INTEGRITY
    capsys.readouterr()
    assert main(["journal", "verify", "--path", str(path), "--chain-key-file", str(secret)]) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--checkpoint", "c.json"], "an SQLite journal has no checkpoints"),
        (["--dsn", "postgresql://x"], "not both"),
    ],
)
def test_verify_of_an_sqlite_journal_refuses_what_only_postgres_has(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    message: str,
) -> None:
    monkeypatch.delenv("WALLETLINK_JOURNAL_DSN", raising=False)
    path = tmp_path / "journal.sqlite3"
    _sqlite(path)
    assert main(["journal", "verify", "--path", str(path), *extra]) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_verify_of_a_missing_sqlite_file_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "typo.sqlite3"
    assert main(["journal", "verify", "--path", str(path)]) == EXIT_USAGE
    assert "no SQLite journal at" in capsys.readouterr().err
    assert not path.exists()
