"""The caller's database connection, whatever it is: sqlite3, a DB-API driver for
PostgreSQL (psycopg, psycopg2), or a SQLAlchemy ``Connection`` (found by duck typing, so
walletlink does not depend on SQLAlchemy).

Every statement is written once with ``?`` placeholders and translated for drivers whose
``paramstyle`` is ``format``/``pyformat`` (``%s``). The statements contain no literal ``%``.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Sequence
from typing import Any, Final, Literal

from walletlink.errors import ConfigurationError

__all__ = ["Db", "Dialect", "wrap"]

Dialect = Literal["sqlite", "postgresql"]
Row = tuple[Any, ...]

# Written out in full rather than assembled, so every statement can be read (and grepped) as
# it runs. The two schemas differ only in the id and lease column types.
_COLUMNS_DDL: Final = """
    idempotency_key TEXT NOT NULL UNIQUE,
    bank_id         TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    request_json    TEXT NOT NULL,
    payout_id       TEXT,
    state           TEXT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT NOT NULL,
    attempts        INTEGER NOT NULL,
    transfer_id     TEXT,
    status          TEXT,
    transfer_json   TEXT,
    applied         TEXT NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
)"""
_INDEX: Final = (
    "CREATE INDEX IF NOT EXISTS walletlink_outbox_open ON walletlink_outbox (lease_until, id) "
    "WHERE state IN ('pending', 'sending', 'awaiting')"
)
SCHEMA: Final[dict[Dialect, tuple[str, ...]]] = {
    "sqlite": (
        "CREATE TABLE IF NOT EXISTS walletlink_outbox ("
        "id INTEGER PRIMARY KEY AUTOINCREMENT," + _COLUMNS_DDL,
        _INDEX,
    ),
    "postgresql": (
        "CREATE TABLE IF NOT EXISTS walletlink_outbox (id BIGSERIAL PRIMARY KEY," + _COLUMNS_DDL,
        _INDEX,
    ),
}

# Claim the oldest open row whose lease has run out, in one statement. On PostgreSQL the
# subquery locks the row it picks and SKIP LOCKED steps over rows another drainer is
# claiming right now, so concurrent drainers never wait on, or take, each other's rows; the
# outer WHERE re-checks the lease, which READ COMMITTED re-evaluates on the locked row. On
# SQLite an UPDATE holds the database's single write lock, so claims are serial anyway.
# Parameters: owner, lease end, now (text), now, bank or NULL, bank or NULL, now.
CLAIM: Final[dict[Dialect, str]] = {
    "sqlite": """
        UPDATE walletlink_outbox SET lease_owner = ?, lease_until = ?,
            attempts = attempts + 1, updated_at = ?,
            state = CASE WHEN state = 'pending' THEN 'sending' ELSE state END
        WHERE id = (SELECT id FROM walletlink_outbox
                    WHERE state IN ('pending', 'sending', 'awaiting') AND lease_until <= ?
                      AND (? IS NULL OR bank_id = ?)
                    ORDER BY lease_until, id LIMIT 1)
          AND state IN ('pending', 'sending', 'awaiting') AND lease_until <= ?""",
    "postgresql": """
        UPDATE walletlink_outbox SET lease_owner = ?, lease_until = ?,
            attempts = attempts + 1, updated_at = ?,
            state = CASE WHEN state = 'pending' THEN 'sending' ELSE state END
        WHERE id = (SELECT id FROM walletlink_outbox
                    WHERE state IN ('pending', 'sending', 'awaiting') AND lease_until <= ?
                      AND (CAST(? AS TEXT) IS NULL OR bank_id = ?)
                    ORDER BY lease_until, id LIMIT 1 FOR UPDATE SKIP LOCKED)
          AND state IN ('pending', 'sending', 'awaiting') AND lease_until <= ?""",
}


class Db:
    """One connection, executing ``?``-style statements in the caller's transaction."""

    def __init__(self, conn: Any, dialect: Dialect, placeholder: str, sqlalchemy: bool) -> None:
        self.conn = conn
        self.dialect: Dialect = dialect
        self._placeholder = placeholder
        self._sqlalchemy = sqlalchemy

    def execute(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[Row], int]:
        """Run one statement; its rows (empty for DML without RETURNING) and rowcount."""
        if self._placeholder != "?":
            sql = sql.replace("?", self._placeholder)
        if self._sqlalchemy:
            result = self.conn.exec_driver_sql(sql, tuple(params))
            rows = [tuple(row) for row in result.fetchall()] if result.returns_rows else []
            return rows, int(result.rowcount)
        cursor = self.conn.cursor()
        try:
            cursor.execute(sql, tuple(params))
            rows = [tuple(row) for row in cursor.fetchall()] if cursor.description else []
            return rows, int(cursor.rowcount)
        finally:
            cursor.close()

    def begin_write(self) -> None:
        """Open a write transaction for the drainer's own statements.

        SQLite: ``BEGIN IMMEDIATE`` takes the write lock first, so a read-then-write
        transaction never fails half-way with "database is locked" because another drainer
        wrote in between (a deferred transaction cannot upgrade its stale snapshot).
        PostgreSQL drivers open the transaction with the first statement.
        """
        if self.dialect != "sqlite":
            return
        raw = self.conn
        if self._sqlalchemy:
            raw = self.conn.connection.dbapi_connection
        if not getattr(raw, "in_transaction", False):
            self.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()


def wrap(conn: Any) -> Db:
    """Recognise the caller's connection; raise ``ConfigurationError`` for an unknown one."""
    if isinstance(conn, sqlite3.Connection):
        return Db(conn, "sqlite", "?", sqlalchemy=False)
    if callable(getattr(conn, "exec_driver_sql", None)) and hasattr(conn, "dialect"):
        name = str(conn.dialect.name)
        dialect_style = str(getattr(conn.dialect, "paramstyle", "qmark"))
        return Db(conn, _dialect(name), _placeholder(dialect_style), sqlalchemy=True)
    module = sys.modules.get(type(conn).__module__.split(".")[0])
    style: object = getattr(module, "paramstyle", None)
    if module is not None and callable(getattr(conn, "cursor", None)) and style is not None:
        if not module.__name__.startswith(("psycopg", "pg8000")):
            raise ConfigurationError(
                f"the outbox speaks SQLite and PostgreSQL, not {module.__name__} connections"
            )
        return Db(conn, "postgresql", _placeholder(str(style)), sqlalchemy=False)
    raise ConfigurationError(
        "the outbox needs a DB-API connection (sqlite3, psycopg) or a SQLAlchemy Connection"
    )


def _dialect(name: str) -> Dialect:
    if name == "sqlite":
        return "sqlite"
    if name in ("postgresql", "postgres"):
        return "postgresql"
    raise ConfigurationError(f"the outbox speaks SQLite and PostgreSQL, not {name}")


def _placeholder(paramstyle: str) -> str:
    if paramstyle == "qmark":
        return "?"
    if paramstyle in ("format", "pyformat"):
        return "%s"
    raise ConfigurationError(f"unsupported DB-API paramstyle {paramstyle!r}")
