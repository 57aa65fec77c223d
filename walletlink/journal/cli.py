"""``walletlink journal``: a journal's schema, integrity, checkpoints and retention.

* ``migrate --dsn``: create or upgrade a PostgreSQL journal schema. Migrations never run
  implicitly (see :meth:`PostgresJournal.migrate`): a deploy step or an operator runs this.
* ``verify --dsn`` (PostgreSQL) or ``--path`` (SQLite): check every hash chain and every row;
  for PostgreSQL optionally against a signed checkpoint kept elsewhere (``--checkpoint`` with
  ``--public-key``), which also proves nothing was cut off the end.
* ``checkpoint --dsn --key --out``: sign the head of every chain partition with the Ed25519
  private key and write the checkpoint to a new file (``-``: standard output) to keep
  somewhere the database cannot reach.
* ``prune --dsn --older-than DAYS --checkpoint --key``: verify the journal against the
  checkpoint first, refuse unless the checkpoint covers everything the window would delete,
  then delete finished records (:meth:`PostgresJournal.prune`).

Exit codes: 0 done, 1 the journal does not verify (:class:`JournalIntegrityError`; nothing
pruned), 2 a usage or configuration error (a missing or unreadable file, a key that is not
Ed25519, a checkpoint that does not cover the window), 3 the database failed (unreachable,
refused, an SQL error). The DSN may come from ``WALLETLINK_JOURNAL_DSN``, so that a password
stays out of the process list and shell history; it is never printed.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from walletlink.errors import ConfigurationError, JournalIntegrityError, WalletLinkError

if TYPE_CHECKING:
    from walletlink.journal.checkpoint import Checkpoint
    from walletlink.journal.postgres import PostgresJournal
    from walletlink.signing import SigningKey

__all__ = [
    "EXIT_DATABASE",
    "EXIT_INTEGRITY",
    "EXIT_OK",
    "EXIT_USAGE",
    "add_arguments",
    "run",
]

DSN_VARIABLE: Final = "WALLETLINK_JOURNAL_DSN"
EXIT_OK: Final = 0
EXIT_INTEGRITY: Final = 1
EXIT_USAGE: Final = 2
EXIT_DATABASE: Final = 3
#: The kid of a key loaded without a checkpoint naming one (the CLI's own default).
DEFAULT_KID: Final = "journal"


class _Usage(Exception):
    """A command line that cannot run as given: exit 2 with this message."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="journal_command", required=True)
    migrate = commands.add_parser(
        "migrate", help="create or upgrade a PostgreSQL journal schema to this version"
    )
    _postgres_arguments(migrate)

    verify = commands.add_parser(
        "verify", help="check a journal's hash chains (PostgreSQL --dsn or SQLite --path)"
    )
    _postgres_arguments(verify)
    verify.add_argument("--path", help="an SQLite journal file (instead of --dsn)")
    verify.add_argument(
        "--checkpoint", help="a checkpoint file (walletlink journal checkpoint) to check"
    )
    verify.add_argument(
        "--public-key", help="PEM file of the Ed25519 key checkpoints are signed with"
    )
    _chain_key_argument(verify)

    checkpoint = commands.add_parser(
        "checkpoint", help="sign the head of every chain partition of a PostgreSQL journal"
    )
    _postgres_arguments(checkpoint)
    _signing_arguments(checkpoint)
    checkpoint.add_argument(
        "--out",
        required=True,
        help="a new file to write the checkpoint to (never overwritten), or - for stdout",
    )

    prune = commands.add_parser(
        "prune", help="delete finished records older than a window, covered by a checkpoint"
    )
    _postgres_arguments(prune)
    prune.add_argument(
        "--older-than",
        required=True,
        type=_days,
        metavar="DAYS",
        help="delete finished records not touched for this many days",
    )
    prune.add_argument(
        "--checkpoint",
        required=True,
        help="a checkpoint kept elsewhere, taken after the cutoff: verified before deleting",
    )
    _signing_arguments(prune)
    _chain_key_argument(prune)


def _postgres_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dsn",
        default=os.environ.get(DSN_VARIABLE),
        help=f"libpq connection string or URI (default: ${DSN_VARIABLE})",
    )
    parser.add_argument("--schema", default="walletlink", help="PostgreSQL schema name")


def _signing_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key", required=True, help="PEM file of the Ed25519 private key that signs checkpoints"
    )
    parser.add_argument(
        "--kid",
        help=f"the key's id, named in checkpoints (default: {DEFAULT_KID!r}; for prune, the "
        "checkpoint's)",
    )


def _chain_key_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--chain-key-file", help="file holding the journal's chain_key (HMAC chains), raw bytes"
    )


def _days(text: str) -> timedelta:
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not days > 0 or days > 36_500:
        raise argparse.ArgumentTypeError("give a number of days above 0 (at most 36500)")
    return timedelta(days=days)


def run(args: argparse.Namespace) -> int:
    command = f"walletlink journal {args.journal_command}"
    try:
        return _run(args)
    except _Usage as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except JournalIntegrityError as exc:
        print(f"{command}: the journal does not verify: {exc}", file=sys.stderr)
        return EXIT_INTEGRITY
    except (ConfigurationError, OSError) as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except WalletLinkError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return EXIT_INTEGRITY
    except Exception as exc:
        if not _database_error(exc):
            raise
        # psycopg's and sqlite's messages name the server or file and the problem, never
        # the password.
        print(f"{command}: database error: {exc}", file=sys.stderr)
        return EXIT_DATABASE


def _database_error(exc: Exception) -> bool:
    if isinstance(exc, sqlite3.Error):
        return True
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.Error)


def _run(args: argparse.Namespace) -> int:
    if args.journal_command == "verify" and args.path:
        return _verify_sqlite(args)
    if not args.dsn:
        also = " (or --path for an SQLite journal)" if args.journal_command == "verify" else ""
        raise _Usage(f"give --dsn or set {DSN_VARIABLE}{also}")
    try:
        import psycopg  # noqa: F401 - imported here so its errors map to exit 3
    except ImportError:
        raise _Usage("the PostgreSQL journal needs: pip install 'walletlink[postgres]'") from None
    if args.journal_command == "verify":
        return _verify(args)
    if args.journal_command == "checkpoint":
        return _checkpoint(args)
    if args.journal_command == "prune":
        return _prune(args)
    return _migrate(args)


# -- reading the files -------------------------------------------------------------------------


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise _Usage(f"cannot read the {what} {path!r}: {exc.strerror or exc}") from None


def _key(path: str, kid: str, *, private: bool) -> SigningKey:
    from walletlink.signing import KeyType, load_pem

    key = load_pem(_read(path, "key file"), kid=kid)
    if key.key_type is not KeyType.ED25519:
        raise _Usage(f"{path!r} holds a {key.key_type.value} key; checkpoints use Ed25519")
    if private and key.private_key is None:
        raise _Usage(f"{path!r} holds no private key: signing needs the private half")
    return key


def _checkpoint_file(path: str) -> Checkpoint:
    from walletlink.journal.checkpoint import Checkpoint

    text = _read(path, "checkpoint file").decode("utf-8", errors="replace")
    return Checkpoint.from_json(text)


def _chain_key(args: argparse.Namespace) -> bytes | None:
    path = getattr(args, "chain_key_file", None)
    return _read(path, "chain key file") if path else None


def _open(args: argparse.Namespace, **options: Any) -> PostgresJournal:
    from walletlink.journal.postgres import PostgresJournal

    return PostgresJournal(args.dsn, schema=args.schema, **options)


# -- the commands ------------------------------------------------------------------------------


def _verify_sqlite(args: argparse.Namespace) -> int:
    from walletlink.journal.sqlite import SQLiteJournal

    if args.dsn and args.dsn != os.environ.get(DSN_VARIABLE):
        raise _Usage("give --path or --dsn, not both")
    if args.checkpoint or args.public_key:
        raise _Usage("an SQLite journal has no checkpoints: --checkpoint needs --dsn")
    if not Path(args.path).is_file():
        # Opening a missing path would create an empty journal, which verifies.
        raise _Usage(f"no SQLite journal at {args.path!r}")
    with SQLiteJournal(args.path, chain_key=_chain_key(args)) as journal:
        journal.verify()
    print(f"journal {args.path}: every chain verifies")
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    checkpoint = key = None
    if args.checkpoint:
        checkpoint = _checkpoint_file(args.checkpoint)
        if not args.public_key:
            raise _Usage("--checkpoint needs --public-key to check its signature")
    if args.public_key:
        kid = checkpoint.kid if checkpoint is not None else DEFAULT_KID
        key = _key(args.public_key, kid, private=False)
    with _open(args, checkpoint_key=key, chain_key=_chain_key(args)) as journal:
        journal.verify(checkpoint)
    against = " and the checkpoint" if checkpoint is not None else ""
    print(f"journal schema {args.schema!r}: every chain verifies{against}")
    return EXIT_OK


def _checkpoint(args: argparse.Namespace) -> int:
    key = _key(args.key, args.kid or DEFAULT_KID, private=True)
    out = None
    if args.out != "-":
        try:
            # A new file, never an old checkpoint overwritten: each is evidence.
            out = open(args.out, "x", encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise _Usage(f"cannot create {args.out!r}: {exc.strerror or exc}") from None
    try:
        with _open(args, checkpoint_key=key) as journal:
            signed = journal.checkpoint(now=datetime.now(UTC))
        text = signed.to_json() + "\n"
        if out is None:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        if out is not None:
            out.close()
            Path(args.out).unlink(missing_ok=True)  # no empty or half file left behind
        raise
    if out is not None:
        out.close()
    partitions = len(signed.verify(key))
    where = "standard output" if out is None else repr(args.out)
    summary = (
        f"journal schema {args.schema!r}: checkpoint of {partitions} partition(s) signed as "
        f"{signed.kid!r}, written to {where}"
    )
    print(summary, file=sys.stderr if out is None else sys.stdout)
    return EXIT_OK


def _prune(args: argparse.Namespace) -> int:
    checkpoint = _checkpoint_file(args.checkpoint)
    if args.kid is not None and args.kid != checkpoint.kid:
        raise _Usage(f"the checkpoint is signed as {checkpoint.kid!r}, not {args.kid!r}")
    # One journal key: it verifies the checkpoint and signs the prune's own checkpoints.
    key = _key(args.key, checkpoint.kid, private=True)
    checkpoint.verify(key)  # before its taken_at is believed
    now = datetime.now(UTC)
    cutoff = now - args.older_than
    if checkpoint.taken_at < cutoff:
        # A record last touched after the checkpoint is not covered by it: pruning it would
        # delete history that nothing kept elsewhere vouches for.
        raise _Usage(
            f"the checkpoint was taken at {checkpoint.taken_at.isoformat()}, before the "
            f"cutoff {cutoff.isoformat()}: take a new one (walletlink journal checkpoint)"
        )
    with _open(args, checkpoint_key=key, chain_key=_chain_key(args)) as journal:
        # Before anything is deleted: the journal must still hold everything the checkpoint
        # signed, or pruning would erase the evidence of what was changed.
        journal.verify(checkpoint)
        pruned = journal.prune(now=now, older_than=args.older_than)
    print(
        f"journal schema {args.schema!r}: pruned {pruned} finished record(s) not touched "
        f"since {cutoff.isoformat()}"
    )
    return EXIT_OK


def _migrate(args: argparse.Namespace) -> int:
    from walletlink.journal.postgres import SCHEMA_VERSION, PostgresJournal

    applied = PostgresJournal.migrate(args.dsn, schema=args.schema)
    if applied:
        versions = ", ".join(str(v) for v in applied)
        print(f"journal schema {args.schema!r}: applied version(s) {versions}")
    else:
        print(f"journal schema {args.schema!r}: already at version {SCHEMA_VERSION}")
    return EXIT_OK
