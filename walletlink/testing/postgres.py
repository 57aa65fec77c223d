"""A throw-away PostgreSQL database for tests: ``with temporary_database(dsn) as db: …``.

walletlink's own suite gets its server from ``scripts/pgtest.sh`` (``make test`` exports
``WALLETLINK_TEST_PG_DSN``); a wallet's suite can point it at any server it may create
databases on. Needs ``walletlink[postgres]``.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

__all__ = ["temporary_database"]


@contextlib.contextmanager
def temporary_database(server_dsn: str) -> Iterator[str]:
    """Create an empty database on the server, yield its DSN, drop it (and its sessions)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    name = f"wltest_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(server_dsn, dbname=name)
    finally:
        with psycopg.connect(server_dsn, autocommit=True) as admin:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            admin.execute(drop.format(sql.Identifier(name)))
