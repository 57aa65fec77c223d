"""``walletlink journal migrate``: create or upgrade a PostgreSQL journal's schema.

Migrations never run implicitly (see :meth:`PostgresJournal.migrate`): this command, run by
a deploy step or an operator, is how a schema comes to exist or moves to a new version.
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
    migrate.add_argument(
        "--dsn",
        default=os.environ.get(DSN_VARIABLE),
        help=f"libpq connection string or URI (default: ${DSN_VARIABLE})",
    )
    migrate.add_argument("--schema", default="walletlink", help="PostgreSQL schema name")


def run(args: argparse.Namespace) -> int:
    if not args.dsn:
        print(f"walletlink journal migrate: give --dsn or set {DSN_VARIABLE}", file=sys.stderr)
        return 2
    try:
        from walletlink.journal.postgres import SCHEMA_VERSION, PostgresJournal
    except ImportError:
        print("the PostgreSQL journal needs: pip install 'walletlink[postgres]'", file=sys.stderr)
        return 2
    import psycopg

    try:
        applied = PostgresJournal.migrate(args.dsn, schema=args.schema)
    except (WalletLinkError, psycopg.Error) as exc:
        # psycopg's messages name the server and the problem, not the password.
        print(f"walletlink journal migrate: {exc}", file=sys.stderr)
        return 1
    if applied:
        versions = ", ".join(str(v) for v in applied)
        print(f"journal schema {args.schema!r}: applied version(s) {versions}")
    else:
        print(f"journal schema {args.schema!r}: already at version {SCHEMA_VERSION}")
    return 0
