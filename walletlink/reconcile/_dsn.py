"""A ledger read straight from a database: a DSN and a query, any DB-API or ADBC driver.

``walletlink reconcile --ledger-dsn DSN --ledger-query SQL`` opens the connection here, runs
the query and streams its rows through :func:`~walletlink.reconcile.inputs.records_from_cursor`
(so the columns map as a CSV's do, and a float column is refused). DSN forms:

* ``postgresql://user@host/db`` (or ``postgres://``, or libpq's ``host=… dbname=…`` form):
  psycopg, from the ``postgres`` extra;
* ``sqlite:///path/to/file.db``: the standard library's sqlite3, opened read-only;
* ``duckdb:///path/to/file.duckdb``: DuckDB's DB-API, read-only (the ``duckdb`` extra);
* ``dbapi:<module>:<argument>``: ``<module>.connect(<argument>)`` for any other DB-API 2.0
  or ADBC driver, e.g. ``dbapi:adbc_driver_postgresql.dbapi:postgresql://host/db``.

Messages name the DSN with its password masked: a DSN is a secret as much as a key.
"""

from __future__ import annotations

import importlib
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

from walletlink.errors import ConfigurationError, ParseError, WalletLinkError
from walletlink.reconcile.inputs import ColumnMapping, records_from_cursor
from walletlink.reconcile.records import Record

__all__ = ["mask_dsn", "records_from_dsn"]

_PASSWORD = re.compile(r"(?P<head>://[^/:@]*:)[^@/]*@")
_KEYWORD_PASSWORD = re.compile(r"(?i)(password\s*=\s*)\S+")


def mask_dsn(dsn: str) -> str:
    """``postgresql://u:secret@h/db`` → ``postgresql://u:***@h/db`` (also ``password=…``)."""
    return _KEYWORD_PASSWORD.sub(r"\1***", _PASSWORD.sub(r"\g<head>***@", dsn))


def _connect(dsn: str) -> Any:
    scheme, _, rest = dsn.partition(":")
    scheme = scheme.lower()
    if "=" in dsn and "://" not in dsn and not scheme.startswith("dbapi"):
        scheme = "postgresql"  # libpq's keyword form: host=/run/pg dbname=wallet user=app
    if scheme in ("postgresql", "postgres"):
        try:
            import psycopg
        except ImportError:
            raise ConfigurationError(
                'a postgresql:// ledger needs psycopg: pip install "walletlink[postgres]"'
            ) from None
        return psycopg.connect(dsn)
    if scheme == "sqlite":
        path = rest.removeprefix("///") if rest.startswith("///") else rest.removeprefix("//")
        if not path:
            raise ConfigurationError("a sqlite DSN names a file: sqlite:///path/to/ledger.db")
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    if scheme == "duckdb":
        import duckdb

        return duckdb.connect(rest.removeprefix("///"), read_only=True)
    if scheme == "dbapi":
        module, _, argument = rest.partition(":")
        if not module:
            raise ConfigurationError("a dbapi DSN is dbapi:<module>:<connect argument>")
        return importlib.import_module(module).connect(argument)
    raise ConfigurationError(
        f"unsupported ledger DSN {mask_dsn(dsn)!r}: use postgresql://, sqlite:///, duckdb:/// "
        "or dbapi:<module>:<argument>"
    )


@contextmanager
def _database_errors(dsn: str) -> Iterator[None]:
    try:
        yield
    except WalletLinkError:
        raise
    except ImportError as exc:
        raise ConfigurationError(f"ledger {mask_dsn(dsn)}: {exc}") from None
    except Exception as exc:  # each driver has its own Error tree; all mean "cannot read"
        detail = mask_dsn(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        raise ParseError(f"ledger {mask_dsn(dsn)}: {type(exc).__name__}: {detail}") from None


def records_from_dsn(
    dsn: str, query: str, mapping: ColumnMapping, *, batch_size: int = 10_000
) -> list[Record]:
    """Run ``query`` on the database ``dsn`` names and read its rows as ledger records."""
    if not query.strip():
        raise ConfigurationError("--ledger-dsn needs --ledger-query: the SELECT that reads it")
    with _database_errors(dsn), closing(_connect(dsn)) as connection:
        cursor = connection.cursor()
        try:
            cursor.execute(query)
            return list(records_from_cursor(cursor, mapping, batch_size=batch_size))
        finally:
            cursor.close()
