"""``walletlink outbox migrate --db …``: create the outbox table in the wallet's database.

``--db`` is a SQLite file path or a ``postgresql://`` URL (which needs psycopg installed).
The table is created only if missing, so running it again is harmless.
"""

from __future__ import annotations

import argparse
import importlib
import sqlite3
import sys
from typing import Any, TextIO

from walletlink.errors import ConfigurationError
from walletlink.outbox._core import install

__all__ = ["add_arguments", "run"]

_PG_SCHEMES = ("postgresql://", "postgres://")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``outbox`` subcommands to ``parser``."""
    commands = parser.add_subparsers(dest="outbox_command", required=True)
    migrate = commands.add_parser("migrate", help="create the outbox table if it is missing")
    migrate.add_argument(
        "--db", required=True, help="SQLite file path or postgresql:// URL of the wallet DB"
    )


def _connect(target: str) -> Any:
    if target.startswith(_PG_SCHEMES):
        try:
            # Imported by name: psycopg is the caller's optional dependency, not ours.
            psycopg = importlib.import_module("psycopg")
        except ImportError:
            raise ConfigurationError("a postgresql:// database needs psycopg installed") from None
        return psycopg.connect(target)
    return sqlite3.connect(target)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    try:
        conn = _connect(args.db)
    except ConfigurationError as exc:
        print(f"walletlink outbox: {exc.message}", file=sys.stderr)
        return 2
    try:
        install(conn)
        conn.commit()
    finally:
        conn.close()
    # The URL may carry a password: name only the kind of database.
    kind = "PostgreSQL" if args.db.startswith(_PG_SCHEMES) else "SQLite"
    print(f"outbox table ready ({kind})", file=out or sys.stdout)
    return 0
