"""``walletlink journal migrate`` and ``verify``: a PostgreSQL journal's schema and integrity.

Migrations never run implicitly (see :meth:`PostgresJournal.migrate`): ``migrate``, run by a
deploy step or an operator, is how a schema comes to exist or moves to a new version.
``verify`` checks every chain partition, optionally against a checkpoint kept elsewhere.
The DSN may come from ``WALLETLINK_JOURNAL_DSN`` so that a password stays out of the
process list and shell history; it is never printed.
"""

from __future__ import annotations

import argparse
import os
import sys

from walletlink.errors import WalletLinkError

__all__ = ["add_arguments", "run"]

DSN_VARIABLE = "WALLETLINK_JOURNAL_DSN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="journal_command", required=True)
    migrate = commands.add_parser(
        "migrate", help="create or upgrade a PostgreSQL journal schema to this version"
    )
    _connection_arguments(migrate)
    verify = commands.add_parser("verify", help="check a PostgreSQL journal's hash chains")
    _connection_arguments(verify)
    verify.add_argument("--checkpoint", help="a checkpoint file (Checkpoint.to_json()) to check")
    verify.add_argument(
        "--public-key", help="PEM file of the Ed25519 key checkpoints are signed with"
    )


def _connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dsn",
        default=os.environ.get(DSN_VARIABLE),
        help=f"libpq connection string or URI (default: ${DSN_VARIABLE})",
    )
    parser.add_argument("--schema", default="walletlink", help="PostgreSQL schema name")


def run(args: argparse.Namespace) -> int:
    command = f"walletlink journal {args.journal_command}"
    if not args.dsn:
        print(f"{command}: give --dsn or set {DSN_VARIABLE}", file=sys.stderr)
        return 2
    try:
        import psycopg
    except ImportError:
        print("the PostgreSQL journal needs: pip install 'walletlink[postgres]'", file=sys.stderr)
        return 2
    try:
        if args.journal_command == "verify":
            return _verify(args)
        return _migrate(args)
    except (WalletLinkError, psycopg.Error, OSError) as exc:
        # psycopg's messages name the server and the problem, not the password.
        print(f"{command}: {exc}", file=sys.stderr)
        return 1


def _verify(args: argparse.Namespace) -> int:
    from walletlink.journal.checkpoint import Checkpoint
    from walletlink.journal.postgres import PostgresJournal
    from walletlink.signing import load_pem

    checkpoint = key = None
    if args.checkpoint:
        with open(args.checkpoint, encoding="utf-8") as handle:
            checkpoint = Checkpoint.from_json(handle.read())
    if args.public_key:
        with open(args.public_key, "rb") as handle:
            kid = checkpoint.kid if checkpoint is not None else "journal"
            key = load_pem(handle.read(), kid=kid)
    with PostgresJournal(args.dsn, schema=args.schema, checkpoint_key=key) as journal:
        journal.verify(checkpoint)
    against = " and the checkpoint" if checkpoint is not None else ""
    print(f"journal schema {args.schema!r}: every chain verifies{against}")
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from walletlink.journal.postgres import SCHEMA_VERSION, PostgresJournal

    applied = PostgresJournal.migrate(args.dsn, schema=args.schema)
    if applied:
        versions = ", ".join(str(v) for v in applied)
        print(f"journal schema {args.schema!r}: applied version(s) {versions}")
    else:
        print(f"journal schema {args.schema!r}: already at version {SCHEMA_VERSION}")
    return 0
