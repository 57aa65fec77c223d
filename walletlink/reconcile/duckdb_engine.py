"""The DuckDB engine: the bulk of the exact-key pass as SQL, out of core; the rest in Python.

``ReconcileConfig(engine="duckdb")`` (or :func:`reconcile_duckdb` directly, which also reads
Parquet and CSV files) stages both sides in DuckDB, on disk when ``temp_directory`` is given
and within DuckDB's own ``memory_limit``, and settles there every pair the Python engine's
pass 1 would settle without looking at anything else:

* the pair shares the first field of ``strong_references`` on one account, and that value is
  held by exactly one row of each side (so no duplicate is involved);
* both rows are ``booked``, amounts and currencies are equal and the value dates lie within
  ``key_date_tolerance_days`` (so the pair is ``matched``, not a mismatch);
* neither row can be claimed by an earlier pass or named by a later one: its source id is
  unique on its account (hygiene cannot call it a re-import, or the original of one), no
  other delivery has a bank row of its amount and value date (no re-import by content), the
  bank row is no storno and no storno asks for its opposite amount (reversals), and its
  fingerprint (account, currency, amount, value date, counterparty) is unique on its side
  (pass 5 cannot call a leftover a duplicate of it).

Everything else (key conflicts and mismatches, duplicates, re-imports, reversals, batches,
fuzzy blocks, leftovers) is fetched back as :class:`Record`\\ s and run through the Python
engine itself, so the scoring and block rules exist once. Because the rows settled in SQL are
exactly the ones no Python pass would have treated differently, the result has the same
categories and pairs as the Python engine on the same inputs (a property test checks it);
only the order of ``matched`` differs (SQL pairs come first: by bucket, then wallet input order).
"""

from __future__ import annotations

import csv
import functools
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any, Final, NamedTuple

import attrs

from walletlink.errors import ConfigurationError, ValidationError
from walletlink.money import exponent_of
from walletlink.reconcile._duckdb_fuzzy import (
    TWO_DELIVERIES,
    fuzzy_columns,
    fuzzy_pairs,
    stage_rest,
)
from walletlink.reconcile._duckdb_pairs import pair_columns
from walletlink.reconcile._state import canonical_order
from walletlink.reconcile.anomalies import find_anomalies
from walletlink.reconcile.config import ReconcileConfig
from walletlink.reconcile.passes import day_phrase, reference_label
from walletlink.reconcile.records import (
    PLACEHOLDER_REFERENCES,
    BatchMember,
    Record,
    RecordStatus,
    StatementBalance,
)
from walletlink.reconcile.results import (
    CurrencyTotals,
    MatchedPairs,
    PairColumns,
    ReconciliationResult,
)

__all__ = ["COLUMNS", "Source", "reconcile_duckdb", "write_csv_side", "write_parquet"]

#: The columns of a Parquet or CSV side: :class:`Record`'s fields. ``members`` is JSON, a
#: list of ``[reference, amount_minor or null]``. Only the first five are required.
COLUMNS: Final = (
    "id",
    "account",
    "currency",
    "amount_minor",
    "value_date",
    "booking_date",
    "status",
    "end_to_end_id",
    "instruction_id",
    "bank_reference",
    "idempotency_key",
    "source_id",
    "batch_id",
    "members",
    "member_count",
    "fee_minor",
    "counterparty",
    "text",
    "source",
    "reversal",
)
_REQUIRED: Final = COLUMNS[:5]
_REFERENCES: Final = (
    "end_to_end_id",
    "instruction_id",
    "bank_reference",
    "idempotency_key",
    "source_id",
    "batch_id",
)
_TEXTS: Final = ("account", "counterparty", "text")
#: ``str.isspace``'s characters as an RE2 class: what ``str.split`` and ``str.strip`` drop.
WHITESPACE: Final = (
    "[\\t-\\r\\x1c-\\x20\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}"
    "\\x{202f}\\x{205f}\\x{3000}]"
)
_INT64: Final = 2**63
#: The key/value :func:`write_parquet` stamps on its files: normalised, validated, typed.
_MARK: Final = ("walletlink", "normalised-1")
_FETCH: Final = 100_000
#: Rows (of the larger side) per bucket of a partitioned run: what a 2-core box reconciles
#: in DuckDB's memory without spilling.
BUCKET_ROWS: Final = 1_000_000
#: Below this many rows a side, one bucket: splitting costs more than it saves.
SMALL_ROWS: Final = 100_000
#: The tables one bucket's SQL passes create (dropped before the next bucket).
_BUCKET_TABLES: Final = (
    "pairs",
    "wp",
    "bq",
    "names",
    "parts",
    "wk",
    "bp",
    "bounds",
    "cand",
    "edges",
    "bstat",
    "listed",
    "markers",
    "pick",
    "seen",
    "fpairs",
)

#: A side: records (streamed to a staging file in batches), or a Parquet / CSV file path.
Source = Iterable[Record] | str | Path


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ConfigurationError(
            'engine "duckdb" needs DuckDB: pip install "walletlink[duckdb]"'
        ) from None
    return duckdb


def reconcile_duckdb(
    ledger: Source,
    bank: Source,
    config: ReconcileConfig | None = None,
    *,
    statements: Iterable[StatementBalance] = (),
    as_of: date | None = None,
    memory_limit: str = "2GB",
    temp_directory: str | Path | None = None,
    threads: int | None = None,
    buckets: int | None = None,
) -> ReconciliationResult:
    """Reconcile on DuckDB; the same categories and pairs as :func:`reconcile`.

    ``memory_limit``, ``temp_directory`` and ``threads`` are DuckDB's own: with a directory
    the staged tables are a database file in it, and joins spill to it past the limit (fewer
    threads, less memory at once). Only the rows the SQL pass cannot settle come back.

    The SQL passes run one account bucket (``hash(account) % buckets``) at a time, so their
    working set stays that of about :data:`BUCKET_ROWS` rows whatever the input's size;
    every decision they make stays within one account, so the buckets' pairs together are
    the unpartitioned run's. ``buckets`` defaults to one per :data:`BUCKET_ROWS` rows, a
    multiple of the buckets settled at once (two, one with ``threads=1``) past
    :data:`SMALL_ROWS`.
    """
    from walletlink.reconcile.engine import _cyclic_gc_paused

    config = config or ReconcileConfig()
    duckdb = _duckdb()
    with tempfile.TemporaryDirectory(dir=temp_directory) as work:
        # Given a temp directory, the staged tables live in a database file there, so the
        # buffer manager can evict them; without one, in memory (spilling past the limit).
        where = str(Path(work) / "reconcile.duckdb") if temp_directory is not None else ":memory:"
        con = duckdb.connect(where)
        try:
            con.execute(f"SET memory_limit = '{_setting(memory_limit)}'")
            con.execute(f"SET temp_directory = '{_setting(str(Path(work) / 'spill'))}'")
            con.execute("SET preserve_insertion_order = false")
            con.execute("SET enable_progress_bar = false")
            if threads is not None:
                con.execute(f"SET threads = {int(threads)}")
            # As in the Python engine: millions of small tuples, no cycles, nothing for the
            # cyclic collector to find, and in a large process it would walk the heap often.
            with _cyclic_gc_paused():
                return _run(con, ledger, bank, config, list(statements), as_of, Path(work), buckets)
        finally:
            con.close()


def _setting(value: str) -> str:
    if "'" in value:
        raise ConfigurationError("a DuckDB setting must not contain a quote")
    return value


def _run(
    con: Any,
    ledger: Source,
    bank: Source,
    config: ReconcileConfig,
    statements: list[StatementBalance],
    as_of: date | None,
    work: Path,
    buckets: int | None,
) -> ReconciliationResult:
    from walletlink.reconcile.engine import reconcile

    started = time.perf_counter()
    sources = {"w": _stage(con, "w", ledger, work), "b": _stage(con, "b", bank, work)}
    k = buckets if buckets is not None else _bucket_count(con, sources)
    if k < 1:
        raise ConfigurationError("buckets must be at least 1")
    staged = time.perf_counter() - started
    day = as_of or _latest_day(con, sources)
    field = config.strong_references[0] if config.strong_references else ""
    for table, source in sources.items():
        con.execute(f"CREATE TABLE {table}_rest AS SELECT * FROM {source} LIMIT 0")
    settle = functools.partial(_settle, sources=sources, buckets=k, config=config, field=field)
    workers = _workers(con, k)
    if workers == 1:
        done = [settle(con, bucket) for bucket in range(k)]
    else:
        done = _in_parallel(con, settle, k, workers)
    exact = [part for one in done for part in one.exact]
    fuzzy = [part for one in done for part in one.fuzzy]
    totals: dict[str, list[int]] = {}
    for one in done:
        for currency, extra in one.totals.items():
            counts = totals.setdefault(currency, [0] * len(extra))
            for i, value in enumerate(extra):
                counts[i] += value
    staged += sum(one.seconds[0] for one in done)
    fast_s = sum(one.seconds[1] for one in done)
    fuzzy_s = sum(one.seconds[2] for one in done)
    rest = reconcile(
        _select_records(con, "SELECT * FROM w_rest ORDER BY rid"),
        _select_records(con, "SELECT * FROM b_rest ORDER BY rid"),
        attrs.evolve(config, engine="python", anomalies=False),
        statements=statements,
        as_of=day,
    )
    anomalies = rest.anomalies
    if config.anomalies:
        wallet, bank_rows = _all_records(con, sources["w"]), _all_records(con, sources["b"])
        anomalies = tuple(
            find_anomalies(wallet, "wallet", config) + find_anomalies(bank_rows, "bank", config)
        )
    n_exact, n_fuzzy = sum(map(len, exact)), sum(map(len, fuzzy))
    return attrs.evolve(
        rest,
        config=config,
        matched=MatchedPairs([*exact, *fuzzy, rest.matched]),
        anomalies=anomalies,
        totals=_merge_totals(rest.totals, totals),
        pass_seconds=(
            (f"duckdb staging ({_buckets_phrase(k, workers)})", staged),
            (f"duckdb 1 exact keys ({n_exact} pairs)", fast_s),
            (f"duckdb 3 fuzzy 1:1 ({n_fuzzy} pairs)", fuzzy_s),
            *rest.pass_seconds,
        ),
    )


class _Settled(NamedTuple):
    """What the SQL passes settled in one bucket, and how long staging, keys, fuzzy took."""

    exact: list[PairColumns]
    fuzzy: list[PairColumns]
    totals: dict[str, list[int]]
    seconds: tuple[float, float, float]


def _settle(
    con: Any,
    bucket: int,
    *,
    sources: dict[str, str],
    buckets: int,
    config: ReconcileConfig,
    field: str,
) -> _Settled:
    """Both SQL passes on one bucket; its unsettled rows go to ``w_rest`` / ``b_rest``."""
    started = time.perf_counter()
    kinds = {t: _bucket(con, t, source, bucket, buckets) for t, source in sources.items()}
    staged = time.perf_counter() - started
    started = time.perf_counter()
    exact = _fast_pairs(con, field, config.key_date_tolerance_days) if field else []
    fast_s = time.perf_counter() - started
    started = time.perf_counter()
    stage_rest(con, config, key_pairs=bool(field))
    fuzzy_pairs(con, config)
    fuzzy = fuzzy_columns(con)
    _keep_rest(con)
    totals = _fast_totals(con, key_pairs=bool(field))
    for name in _BUCKET_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {name}")
    for name, kind in kinds.items():
        con.execute(f"DROP {kind} {name}")
    return _Settled(exact, fuzzy, totals, (staged, fast_s, time.perf_counter() - started))


def _workers(con: Any, buckets: int) -> int:
    """Buckets settled at once: two when DuckDB has two threads or more (its own parallelism
    leaves cores idle in the long single-threaded steps: windows, ordered aggregates)."""
    threads = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
    return min(buckets, 2 if threads >= 2 else 1)


def _in_parallel(
    con: Any, settle: Callable[[Any, int], _Settled], buckets: int, workers: int
) -> list[_Settled]:
    """Buckets on ``workers`` connections of the same database (TEMP tables are per
    connection, so the buckets' tables of the same names do not meet), in bucket order."""

    def work(mine: range) -> list[tuple[int, _Settled]]:
        cursor = con.cursor()
        try:
            _normalising_macros(cursor)
            return [(bucket, settle(cursor, bucket)) for bucket in mine]
        finally:
            cursor.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        shares = pool.map(work, [range(w, buckets, workers) for w in range(workers)])
        done = dict(pair for share in shares for pair in share)
    return [done[bucket] for bucket in range(buckets)]


def _buckets_phrase(buckets: int, workers: int) -> str:
    if buckets == 1:
        return "1 bucket"
    return f"{buckets} buckets, {workers} at a time; times summed over buckets"


def _bucket_count(con: Any, sources: dict[str, str]) -> int:
    """One bucket per :data:`BUCKET_ROWS` rows of the larger side, a multiple of the
    workers past :data:`SMALL_ROWS` (so that both are busy to the end)."""
    rows = max(
        int(con.execute(f"SELECT count(*) FROM {s}").fetchone()[0]) for s in sources.values()
    )
    if rows < SMALL_ROWS:
        return 1
    workers = _workers(con, 2)
    return workers * -(-rows // (BUCKET_ROWS * workers))


def _bucket(con: Any, table: str, source: str, bucket: int, buckets: int) -> str:
    """``table``: the rows of ``source`` whose account falls in ``bucket``; VIEW or TABLE."""
    if buckets == 1 and not source.startswith("("):
        # One bucket of a staged table: the table itself.
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM {source}")
        return "VIEW"
    where = f"WHERE hash(account) % {buckets} = {bucket}" if buckets > 1 else ""
    con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {source} {where}")
    return "TABLE"


def _keep_rest(con: Any) -> None:
    """Add the bucket's rows neither SQL pass settled to ``w_rest`` / ``b_rest``.

    ``wp`` / ``bq`` already hold the rows the key pass left (a quarter of the bucket), so
    only the fuzzy pairs are taken out here, not every pair from every row again.
    """
    columns = ", ".join(("rid", *COLUMNS))
    for table, left, column in (("w", "wp", "wrid"), ("b", "bq", "brid")):
        con.execute(
            f"INSERT INTO {table}_rest SELECT {columns} FROM {left} "
            f"WHERE rid NOT IN (SELECT {column} FROM fpairs)"
        )


# -- staging ---------------------------------------------------------------------------------


def _stage(con: Any, table: str, source: Source, work: Path) -> str:
    """Stage one side; the SQL relation of its rows (``rid`` in input order, then COLUMNS).

    Parquet files :func:`write_parquet` wrote are read where they lie, by bucket: copying
    ten million rows into a table first cost more than reading them ten times.
    """
    if isinstance(source, str | Path):
        path = str(source)
        reader = "read_parquet" if path.lower().endswith(".parquet") else "read_csv"
        relation = f"{reader}(?)"
        parameters: list[Any] = [path]
        if reader == "read_csv":
            relation = "read_csv(?, header = true, all_varchar = true)"
    else:
        path = str(work / f"{table}.csv")
        write_csv_side(source, path)
        relation = "read_csv(?, header = true, all_varchar = true, quote = '\"', escape = '\"')"
        parameters = [path]
    _normalising_macros(con)
    if relation == "read_parquet(?)" and _written_by_us(con, path):
        # write_parquet normalised and validated these rows already: read them as they are,
        # numbered by file (in glob order, as DuckDB reads them) and row within the file.
        quoted = _literal(path)
        return (
            f"(SELECT (f.k << 40) + p.file_row_number AS rid, {', '.join(COLUMNS)} "
            f"FROM read_parquet({quoted}, filename = true, file_row_number = true) p "
            f"JOIN (SELECT file, row_number() OVER (ORDER BY file) AS k FROM glob({quoted})) f "
            "ON f.file = p.filename)"
        )
    present = {
        row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}", parameters).fetchall()
    }
    missing = [c for c in _REQUIRED if c not in present]
    if missing:
        raise ValidationError(f"{path}: missing column(s) {', '.join(missing)}")
    select = ", ".join(_normalised(column, column in present) for column in COLUMNS)
    staged = f"{table}_all"
    con.execute(
        f"CREATE TABLE {staged} AS SELECT row_number() OVER () AS rid, * FROM "
        f"(SELECT {select} FROM {relation})",
        parameters,
    )
    _validate(con, staged, path)
    return staged


def _literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _written_by_us(con: Any, path: str) -> bool:
    """Whether every file of ``path`` (a glob) carries :func:`write_parquet`'s mark."""
    files = con.execute("SELECT count(*) FROM glob(?)", [path]).fetchone()[0]
    marked = con.execute(
        "SELECT count(DISTINCT file_name) FROM parquet_kv_metadata(?) "
        "WHERE decode(key) = ? AND decode(value) = ?",
        [path, *_MARK],
    ).fetchone()[0]
    return bool(files) and marked == files


def _normalised(column: str, present: bool) -> str:
    """The SQL for one column, normalised as :class:`Record`'s converters do."""
    if not present:
        default = {
            "booking_date": "NULL::DATE",
            "status": "'booked'",
            "fee_minor": "NULL::BIGINT",
            "member_count": "NULL::BIGINT",
            "reversal": "false",
            "members": "''",
        }.get(column, "''")
        return f"{default} AS {column}"
    raw = f"CAST({column} AS VARCHAR)"
    if column in _REFERENCES:
        return f"wl_reference({raw}) AS {column}"
    if column in _TEXTS:
        return f"wl_text({raw}) AS {column}"
    if column == "currency":
        return f"upper(wl_strip({raw})) AS currency"
    if column == "amount_minor":
        return "CAST(amount_minor AS BIGINT) AS amount_minor"
    if column in ("fee_minor", "member_count"):
        return f"CAST(NULLIF(CAST({column} AS VARCHAR), '') AS BIGINT) AS {column}"
    if column in ("value_date", "booking_date"):
        return f"CAST(NULLIF(CAST({column} AS VARCHAR), '') AS DATE) AS {column}"
    if column == "status":
        return "coalesce(NULLIF(lower(trim(CAST(status AS VARCHAR))), ''), 'booked') AS status"
    if column == "reversal":
        return "coalesce(CAST(NULLIF(CAST(reversal AS VARCHAR), '') AS BOOLEAN), false) AS reversal"
    return f"coalesce({raw}, '') AS {column}"


def _normalising_macros(con: Any) -> None:
    """:class:`Record`'s converters in SQL: ``str.strip``/``split`` whitespace, placeholders."""
    placeholders = ", ".join(f"'{p}'" for p in sorted(PLACEHOLDER_REFERENCES))
    con.execute(
        "CREATE OR REPLACE TEMP MACRO wl_strip(x) AS "
        f"regexp_replace(x, '^{WHITESPACE}+|{WHITESPACE}+$', '', 'g')"
    )
    con.execute(
        "CREATE OR REPLACE TEMP MACRO wl_text(x) AS "
        f"trim(regexp_replace(coalesce(x, ''), '{WHITESPACE}+', ' ', 'g'))"
    )
    con.execute(
        "CREATE OR REPLACE TEMP MACRO wl_reference(x) AS CASE WHEN "
        f"upper(wl_strip(coalesce(x, ''))) IN ({placeholders}) THEN '' "
        "ELSE wl_strip(coalesce(x, '')) END"
    )


def _validate(con: Any, table: str, path: str) -> None:
    """What :class:`Record` would refuse, refused for the rows that never become one."""
    nulls = con.execute(
        f"SELECT count(*) FROM {table} WHERE id = '' OR currency IS NULL "
        "OR amount_minor IS NULL OR value_date IS NULL"
    ).fetchone()[0]
    if nulls:
        raise ValidationError(f"{path}: {nulls} row(s) without id, currency, amount or date")
    for (currency,) in con.execute(f"SELECT DISTINCT currency FROM {table}").fetchall():
        exponent_of(currency)  # raises CurrencyError for an unknown code
    for (status,) in con.execute(f"SELECT DISTINCT status FROM {table}").fetchall():
        try:
            RecordStatus(status)
        except ValueError:
            raise ValidationError(f"{path}: unknown status {status!r}") from None
    negative = con.execute(f"SELECT count(*) FROM {table} WHERE fee_minor < 0").fetchone()[0]
    if negative:
        raise ValidationError(f"{path}: fee_minor must not be negative")


def write_csv_side(records: Iterable[Record], path: str | Path) -> None:
    """Stream records to a CSV side (:data:`COLUMNS`) in batches: memory stays flat."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        batch: list[tuple[object, ...]] = []
        for record in records:
            if not -_INT64 <= record.amount_minor < _INT64:
                raise ValidationError(
                    f"record {record.id}: the duckdb engine holds amounts in 64 bits"
                )
            batch.append(_csv_row(record))
            if len(batch) == _FETCH:
                writer.writerows(batch)
                batch.clear()
        writer.writerows(batch)


def write_parquet(source: Source, path: str | Path, *, temp_directory: str | None = None) -> None:
    """Records (or a CSV side) as a typed Parquet side, normalised as the engine reads it."""
    duckdb = _duckdb()
    with tempfile.TemporaryDirectory(dir=temp_directory) as work:
        con = duckdb.connect()
        try:
            con.execute("SET enable_progress_bar = false")
            side = _stage(con, "side", source, Path(work))
            columns = ", ".join(COLUMNS)
            con.execute(
                f"COPY (SELECT {columns} FROM {side} ORDER BY rid) TO '{_setting(str(path))}' "
                f"(FORMAT parquet, KV_METADATA {{{_MARK[0]}: '{_MARK[1]}'}})"
            )
        finally:
            con.close()


def _csv_row(record: Record) -> tuple[object, ...]:
    members = (
        json.dumps([[m.reference, m.amount_minor] for m in record.members])
        if record.members
        else ""
    )
    return (
        record.id,
        record.account,
        record.currency,
        record.amount_minor,
        record.value_date.isoformat(),
        record.booking_date.isoformat() if record.booking_date else "",
        record.status.value,
        record.end_to_end_id,
        record.instruction_id,
        record.bank_reference,
        record.idempotency_key,
        record.source_id,
        record.batch_id,
        members,
        "" if record.member_count is None else record.member_count,
        "" if record.fee_minor is None else record.fee_minor,
        record.counterparty,
        record.text,
        record.source,
        "true" if record.reversal else "false",
    )


# -- the SQL pass ------------------------------------------------------------------------------


def _latest_day(con: Any, sources: dict[str, str]) -> date:
    # The Python engine's default as_of: the latest value date on either side.
    found = con.execute(
        f"SELECT max(d) FROM (SELECT max(value_date) AS d FROM {sources['w']} UNION ALL "
        f"SELECT max(value_date) FROM {sources['b']})"
    ).fetchone()[0]
    return found if found is not None else date.fromordinal(1)


def _repeated(table: str, columns: str, where: str = "true") -> str:
    """``hash(columns) NOT IN`` the hashes held by several rows: the row's value is unique.

    Grouping one 64-bit hash is several times cheaper than grouping the strings, and a
    collision can only call a unique value repeated, which sends the row to Python: safe.
    """
    return (
        f"hash({columns}) NOT IN (SELECT h FROM (SELECT hash({columns}) AS h FROM {table} "
        f"WHERE {where}) GROUP BY h HAVING count(*) > 1)"
    )


def _eligible(table: str, key: str) -> str:
    """Rows of one side whose pairing on ``key`` no other pass could see or change."""
    fingerprint = "account, currency, amount_minor, value_date, counterparty"
    conditions = [
        f"{key} <> ''",
        _repeated(table, f"account, {key}", f"{key} <> ''"),
        "(source_id = '' OR " + _repeated(table, "account, source_id", "source_id <> ''") + ")",
        _repeated(table, fingerprint),
        "status = 'booked'",
        "batch_id = ''",  # a wallet row of a batch may be a member of the bank's entry
    ]
    if table == "b":
        conditions += [
            # hygiene's re-import by content: the amount and date come in two deliveries
            "(account, currency, amount_minor, value_date) NOT IN ("
            + TWO_DELIVERIES.format(table="b")
            + ")",
            "NOT reversal",
            "(account, currency, amount_minor) NOT IN "
            "(SELECT DISTINCT account, currency, -amount_minor FROM b WHERE reversal)",
            # a batch entry (members, a count, a payment-information id) is pass 2's
            "members = '' AND member_count IS NULL",
        ]
    return (
        f"SELECT rid, id, account, {key} AS key, currency, amount_minor, value_date "
        f"FROM {table} WHERE " + " AND ".join(conditions)
    )


def _fast_pairs(con: Any, key: str, tolerance: int) -> list[PairColumns]:
    """Pairs settled in SQL (table ``pairs``), as the Python pass 1 builds them."""
    con.execute(f"""
        CREATE TEMP TABLE pairs AS
        SELECT w.rid AS wrid, b.rid AS brid, w.id AS wid, b.id AS bid, b.account, b.currency,
               b.amount_minor, b.value_date - w.value_date AS delta
        FROM ({_eligible("w", key)}) w JOIN ({_eligible("b", key)}) b USING (account, key)
        WHERE w.currency = b.currency AND w.amount_minor = b.amount_minor
          AND abs(b.value_date - w.value_date) <= {int(tolerance)}
    """)
    label = reference_label(key)
    return pair_columns(
        con,
        "SELECT wrid, wid, bid, account, currency, amount_minor, delta, 0 AS weight FROM pairs",
        pass_no=1,
        rule=f"exact:{key}",
        why=("delta",),
        reason=lambda why: f"{label} equal; amount equal; {day_phrase(why[0])}",
        weight="weight",
        score=lambda _: 1.0,
    )


# -- back to Python ------------------------------------------------------------------------------


def _select_records(con: Any, sql: str) -> Iterator[Record]:
    cursor = con.execute(sql)
    while batch := cursor.fetchmany(_FETCH):
        for row in batch:
            yield _record(row)


_STATUSES: Final = {status.value: status for status in RecordStatus}
_SET = object.__setattr__


def _record(row: Sequence[Any]) -> Record:
    """A :class:`Record` from a staged row, which SQL already normalised as its converters do.

    Building through ``__init__`` would run every converter again: at a million rows that
    was 40 % of a run. The values are set directly instead; the members, rare, still go
    through :class:`BatchMember`.
    """
    record = object.__new__(Record)
    for name, value in zip(COLUMNS, row[1:], strict=True):
        _SET(record, name, value)
    _SET(record, "status", _STATUSES[row[7]])
    members = row[14]
    _SET(
        record,
        "members",
        tuple(
            BatchMember(reference=ref, amount_minor=amount) for ref, amount in json.loads(members)
        )
        if members
        else (),
    )
    return record


def _all_records(con: Any, source: str) -> list[Record]:
    return canonical_order(list(_select_records(con, f"SELECT * FROM {source} ORDER BY rid")))


def _fast_totals(con: Any, key_pairs: bool) -> dict[str, list[int]]:
    """Per currency: the SQL pairs' share of the totals (counts, sums, matches)."""
    stats: dict[str, list[int]] = {}
    settled = ["SELECT b.currency, b.amount_minor FROM fpairs JOIN bq b ON b.rid = fpairs.brid"]
    if key_pairs:
        settled.append("SELECT currency, amount_minor FROM pairs")
    rows = con.execute(
        "SELECT currency, count(*), sum(CAST(amount_minor AS HUGEINT)) "
        f"FROM ({' UNION ALL '.join(settled)}) GROUP BY ALL"
    ).fetchall()
    for currency, count, total in rows:
        # A SQL pair has equal amounts on both sides and is one match.
        stats[currency] = [count, int(total), count, int(total), count, 0, 0]
    return stats


def _merge_totals(
    rest: Iterable[CurrencyTotals], fast: dict[str, list[int]]
) -> tuple[CurrencyTotals, ...]:
    merged = {t.currency: list(t[1:]) for t in rest}
    for currency, extra in fast.items():
        counts = merged.setdefault(currency, [0] * 7)
        for i, value in enumerate(extra):
            counts[i] += value
    return tuple(CurrencyTotals(c, *counts) for c, counts in sorted(merged.items()))


def default_temp_directory() -> str | None:
    """``WALLETLINK_DUCKDB_TEMP`` when set: where the CLI's DuckDB runs spill."""
    return os.environ.get("WALLETLINK_DUCKDB_TEMP") or None
