"""Pass 3's safe 1:1 pairs in DuckDB SQL: the fuzzy pairs no other decision could touch.

After the SQL key pass, most rows left are reference-less pairs that the Python engine's
pass 3 would settle as a block of one bank and one wallet row ("only candidate"). This
module finds those pairs in SQL, over the rows the key pass left (tables ``wp`` and ``bq``),
and settles them without a :class:`~walletlink.reconcile.records.Record` ever being built.
A pair is settled here only when the Python engine, run on every row, would settle it the
same way *and* taking it out of the Python run changes no other decision:

* both rows are **inert** for passes 0, 6, 1 and 2: no source id it shares with another
  row, no amount and value date another delivery also reports (hygiene), no storno on its
  account and currency asking for its amount, not a storno (reversals), no
  strong-reference value another row of the account holds in the same field (exact keys),
  no batch id, member list or member count, not named by a member list, and no wallet
  batch id of its account and currency in its references or text (known batches);
* the bank row's candidate scan (``fuzzy._nearest``: nearest amounts in its ``(account,
  currency, direction)``, right before left on equal gaps, at most ``max_candidates`` rows
  in the date window within ``4 × max_candidates`` visits) visits only inert rows, which
  are free at pass 3 for certain, and finds exactly one candidate scoring ``min_score``;
* no other bank row could see the wallet row: it is no candidate of any bank row's scan
  that looked at everything within its tolerance, and within the tolerance of no bank row
  whose scan was cut short, so removing it changes no one's candidates;
* no bank row that may be left without candidates (and so searched for a batch first)
  has the wallet row in its batch window with a counterparty similar enough;
* the pair would be ``matched`` (same amount, status, value dates within
  ``key_date_tolerance_days``) and each row's fingerprint (account, currency, amount,
  value date, counterparty) is unique on its side, so pass 5 cannot call a leftover a
  duplicate of it.

Counterparty similarity is the token Jaccard of :func:`fuzzy.counterparty_similarity`,
re-expressed in SQL for printable-ASCII names (lower case, ``[a-z0-9]+`` words, the ``ae``
/ ``oe`` / ``ue`` spelling dropped, legal forms removed); a name with any other character,
or two names long enough to have been cut short, make the similarity unknown and the rows
involved go to Python. Scores use the same floating-point operations in the same order and
round half to even, as Python's ``round`` does; every settled pair's similarity is checked
against the Python function before the pair is accepted.
"""

from __future__ import annotations

from typing import Any, Final

from walletlink.errors import WalletLinkError
from walletlink.reconcile._duckdb_pairs import pair_columns
from walletlink.reconcile.config import ReconcileConfig
from walletlink.reconcile.fuzzy import _LEGAL_FORMS, _SCALE, _SCAN_FACTOR, counterparty_similarity
from walletlink.reconcile.passes import day_phrase
from walletlink.reconcile.results import PairColumns

__all__ = ["TWO_DELIVERIES", "fuzzy_columns", "fuzzy_pairs", "stage_rest"]

_FINGERPRINT: Final = "account, currency, amount_minor, value_date, counterparty"
_FULL_KEY: Final = (
    "account, currency, amount_minor, value_date, status, end_to_end_id, instruction_id, "
    "bank_reference, idempotency_key, source_id, batch_id, counterparty, text, source, reversal"
)
_MARKER_FIELDS: Final = ("end_to_end_id", "instruction_id", "bank_reference", "text")


#: Bank (account, currency, amount, value date) groups that two deliveries (files) report:
#: hygiene may pair their rows as one booking re-imported by content
#: (``passes._reimported_by_content`` groups by these and the booking date, so this is wider).
TWO_DELIVERIES: Final = (
    "SELECT account, currency, amount_minor, value_date FROM {table} WHERE source <> '' "
    "GROUP BY ALL HAVING count(DISTINCT split_part(source, '#', 1)) > 1"
)


def _float(value: float) -> str:
    # A DOUBLE literal: DuckDB reads "0.4" as DECIMAL, "0.4e0" as the double Python has.
    return f"{value!r}e0" if "e" not in repr(value) else repr(value)


def _macros(con: Any) -> None:
    legal = ", ".join(f"'{word}'" for word in sorted(_LEGAL_FORMS))
    con.execute(f"""
        CREATE OR REPLACE TEMP MACRO wl_tokens(name) AS
        CASE WHEN regexp_full_match(name, '[ -~]*') THEN list_sort(list_distinct(list_filter(
            list_transform(regexp_extract_all(lower(name), '[a-z0-9]+'),
                           lambda x: regexp_replace(x, '([aou])e', '\\1', 'g')),
            lambda x: NOT list_contains([{legal}], x))))
        END
    """)
    # NULL means "unknown here": Python decides (non-ASCII, or a name possibly cut short).
    con.execute("""
        CREATE OR REPLACE TEMP MACRO wl_similarity(a, b, ta, tb) AS
        CASE WHEN a = '' OR b = '' THEN 0.5e0
             WHEN a = b THEN 1.0e0
             WHEN ta IS NULL OR tb IS NULL THEN NULL
             WHEN len(ta) = 0 OR len(tb) = 0 THEN 0.5e0
             WHEN ta = tb THEN 1.0e0
             WHEN least(length(a), length(b)) >= 27 THEN NULL
             ELSE CAST(len(list_filter(ta, lambda x: list_contains(tb, x))) AS DOUBLE)
                  / CAST(len(ta) + len(tb) - len(list_filter(ta, lambda x: list_contains(tb, x)))
                         AS DOUBLE)
        END
    """)


def stage_rest(con: Any, config: ReconcileConfig, key_pairs: bool) -> None:
    """Tables ``wp`` / ``bq`` (rows the key pass left) with their position, day and inertness."""
    _macros(con)
    for side, table, column in (("w", "wp", "wrid"), ("b", "bq", "brid")):
        left = f"WHERE rid NOT IN (SELECT {column} FROM pairs)" if key_pairs else ""
        unique = con.execute(f"SELECT count(DISTINCT id) = count(*) FROM {side}").fetchone()[0]
        # The canonical order of walletlink.reconcile._state: by id, and only when ids repeat
        # by the whole content, then input order (sorting on one key is much cheaper).
        order = "id" if unique else f"id, {_FULL_KEY}, rid"
        con.execute(f"""
            CREATE TEMP TABLE {table} AS
            SELECT *, row_number() OVER (ORDER BY {order}) AS pos,
                   amount_minor >= 0 AS dir, abs(CAST(amount_minor AS HUGEINT)) AS a,
                   value_date - DATE '2000-01-01' AS day,
                   true AS inert
            FROM {side} {left}
        """)
    # A run has few distinct names: tokenise each once.
    con.execute("""
        CREATE TEMP TABLE names AS
        SELECT name, wl_tokens(name) AS toks FROM (
            SELECT DISTINCT counterparty AS name FROM wp
            UNION SELECT DISTINCT counterparty FROM bq)
    """)
    _mark_busy(con, config)


def _mark_busy(con: Any, config: ReconcileConfig) -> None:
    """``inert = false`` for every row that passes 0, 6, 1 or 2 might take or look at.

    A row of the key pass's pairs shares no key, source id or fingerprint with any other row
    (that is why it was settled), so looking at ``wp`` / ``bq`` alone is enough.
    """
    busy: dict[str, list[str]] = {"wp": [], "bq": []}
    # Hygiene: a source id held twice on an account; bank content two deliveries report.
    for table in ("wp", "bq"):
        busy[table].append(
            f"(account, source_id) IN (SELECT account, source_id FROM {table} "
            "WHERE source_id <> '' GROUP BY ALL HAVING count(*) > 1)"
        )
    # A booking two deliveries report may be paired as a re-import by content, whatever
    # its ids (passes._reimported_by_content).
    busy["bq"].append(
        "(account, currency, amount_minor, value_date) IN ("
        + TWO_DELIVERIES.format(table="bq")
        + ")"
    )
    # Reversals: a storno, a booking of the amount a storno undoes, a returned wallet row.
    stornos = "SELECT account, currency, -amount_minor FROM bq WHERE reversal"
    busy["bq"].append(f"reversal OR (account, currency, amount_minor) IN ({stornos})")
    busy["wp"].append(
        f"status IN ('failed', 'returned') AND (account, currency, amount_minor) IN ({stornos})"
    )
    # Exact keys: a strong-reference value any other row of the account holds in that field.
    for field in config.strong_references:
        hot = (
            f"SELECT account, v FROM (SELECT account, {field} AS v FROM wp WHERE {field} <> '' "
            f"UNION ALL SELECT account, {field} FROM bq WHERE {field} <> '') "
            "GROUP BY ALL HAVING count(*) > 1"
        )
        for table in ("wp", "bq"):
            busy[table].append(f"(account, {field}) IN ({hot})")
    # Known batches: batch entries, wallet rows of a batch, references a member list names.
    busy["bq"].append("members <> '' OR batch_id <> '' OR member_count IS NOT NULL")
    busy["wp"].append("batch_id <> ''")
    con.execute("""
        CREATE TEMP TABLE listed AS
        SELECT DISTINCT account, wl_reference(CAST(m[1] AS VARCHAR)) AS ref
        FROM (SELECT account, unnest(json_transform(members, '[["VARCHAR"]]')) AS m
              FROM bq WHERE members <> '')
    """)
    for field in config.strong_references:
        busy["wp"].append(
            f"{field} <> '' AND (account, {field}) IN (SELECT account, ref FROM listed)"
        )
    # A wallet batch id an entry may name (pass 2's batch marker): any containment counts,
    # and any non-ASCII text, where case folding may differ from lower().
    con.execute("""
        CREATE TEMP TABLE markers AS
        SELECT DISTINCT account, currency, lower(batch_id) AS marker,
               NOT regexp_full_match(batch_id, '[ -~]*') AS odd
        FROM wp WHERE batch_id <> ''
    """)
    words = " || ' ' || ".join(_MARKER_FIELDS)
    con.execute(f"""
        UPDATE bq SET inert = false FROM markers m
        WHERE bq.account = m.account AND bq.currency = m.currency
          AND (m.odd OR NOT regexp_full_match({words}, '[ -~]*')
               OR contains(lower({words}), m.marker))
    """)
    for table, conditions in busy.items():
        for condition in conditions:
            con.execute(f"UPDATE {table} SET inert = false WHERE inert AND ({condition})")


def fuzzy_pairs(con: Any, config: ReconcileConfig) -> None:
    """The safe ``only candidate`` pairs: table ``fpairs`` (``brid, wrid, weight, sim``)."""
    cap = config.max_candidates
    budget = cap * _SCAN_FACTOR
    window = config.date_window_days
    floor = round(config.min_score * _SCALE)
    # One integer per (account, currency, direction): windows and joins on it, not strings.
    con.execute("""
        CREATE TEMP TABLE parts AS
        SELECT row_number() OVER () AS pid, * FROM (
            SELECT DISTINCT account, currency, dir FROM wp
            UNION SELECT DISTINCT account, currency, dir FROM bq)
    """)
    con.execute("""
        CREATE TEMP TABLE wk AS
        SELECT rid, id, pid, account, currency, dir, a, day, value_date, amount_minor, status,
               counterparty AS cp, toks, inert,
               row_number() OVER (PARTITION BY pid ORDER BY a, pos) - 1 AS k
        FROM wp JOIN names ON names.name = wp.counterparty
        JOIN parts USING (account, currency, dir)
    """)
    # Bank rows pass 3 scores: the key pass's leftovers without a member list.
    con.execute(f"""
        CREATE TEMP TABLE bp AS
        SELECT rid, id, pid, account, currency, dir, a, day, value_date, amount_minor, status,
               counterparty AS cp, toks, inert,
               {int(config.amount_tolerance_abs_minor)}
                 + a * {int(config.amount_tolerance_bps)} // 10000 AS tol
        FROM bq JOIN names ON names.name = bq.counterparty
        JOIN parts USING (account, currency, dir) WHERE members = ''
    """)
    # bisect over each partition's wallet amounts: < t - tol, < t, <= t + tol.
    con.execute("""
        CREATE TEMP TABLE bounds AS
        SELECT brid, CAST(max(c) FILTER (WHERE probe = 1) AS BIGINT) AS lo,
               CAST(max(c) FILTER (WHERE probe = 2) AS BIGINT) AS r,
               CAST(max(c) FILTER (WHERE probe = 3) AS BIGINT) AS hi
        FROM (
            SELECT brid, probe, sum(CASE WHEN ord = 1 THEN 1 ELSE 0 END) OVER (
                       PARTITION BY pid ORDER BY amt, ord
                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS c
            FROM (
                SELECT pid, a AS amt, 1 AS ord, NULL AS brid, 0 AS probe FROM wk
                UNION ALL SELECT pid, a - tol, 0, rid, 1 FROM bp
                UNION ALL SELECT pid, a, 0, rid, 2 FROM bp
                UNION ALL SELECT pid, a + tol, 2, rid, 3 FROM bp
            )
        ) WHERE probe > 0 GROUP BY brid
    """)
    similarity = "wl_similarity(w.cp, b.cp, w.toks, b.toks)"
    difference = "CAST(wa - ba AS DOUBLE) / CAST(tol + 1 AS DOUBLE)"
    lag = f"CAST(wday - bday AS DOUBLE) / {_float(float(window + 1))}"
    score = (
        f"{_float(0.4)} * (CASE WHEN wa = ba THEN 1.0e0 "
        f"ELSE 0.5e0 * (1.0e0 - ({difference}) * ({difference})) END) "
        f"+ {_float(0.2)} * (1.0e0 - ({lag}) * ({lag})) + {_float(0.4)} * sim"
    )
    # Every row a bank row's scan may visit: within tolerance, the nearest `budget` a side.
    con.execute(f"""
        CREATE TEMP TABLE cand AS
        SELECT *, coalesce(sum(CASE WHEN inwin THEN 1 ELSE 0 END) OVER (
                      PARTITION BY brid ORDER BY seq
                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) < {cap} AS visited
        FROM (
            SELECT brid, wrid, winert, sim, inwin, seq,
                   CAST(round_even(({score}) * {_float(float(_SCALE))}, 0) AS BIGINT) AS weight
            FROM (
                SELECT b.rid AS brid, w.rid AS wrid, w.inert AS winert, w.a AS wa, b.a AS ba,
                       w.day AS wday, b.day AS bday, b.tol, {similarity} AS sim,
                       abs(w.day - b.day) <= {int(window)} AS inwin,
                       row_number() OVER (PARTITION BY b.rid ORDER BY abs(w.a - b.a),
                           w.a < b.a, CASE WHEN w.a >= b.a THEN w.k ELSE -w.k END) AS seq
                FROM (SELECT bp.*, unnest(range(greatest(lo, r - {budget}),
                                                least(hi, r + {budget}))) AS k
                      FROM bp JOIN bounds ON bp.rid = bounds.brid) b
                JOIN wk w ON w.pid = b.pid AND w.k = b.k
            ) WHERE seq <= {budget}
        )
    """)
    con.execute(f"""
        CREATE TEMP TABLE edges AS
        SELECT brid, wrid, weight, sim, sim IS NULL AS unsure, weight >= {floor} AS edge
        FROM cand WHERE visited AND inwin
    """)
    con.execute("""
        CREATE TEMP TABLE bstat AS
        SELECT bp.rid AS brid, bp.inert, bounds.lo, bounds.hi,
               coalesce(v.visits, 0) < bounds.hi - bounds.lo AS truncated,
               coalesce(v.all_inert, true) AND coalesce(e.unsure, 0) = 0 AS certain,
               coalesce(e.edges, 0) AS edges, e.wrid, e.weight, e.sim
        FROM bp JOIN bounds ON bp.rid = bounds.brid
        LEFT JOIN (SELECT brid, count(*) AS visits, bool_and(winert) AS all_inert
                   FROM cand WHERE visited GROUP BY brid) v ON v.brid = bp.rid
        LEFT JOIN (SELECT brid, count(*) FILTER (WHERE unsure) AS unsure,
                          count(*) FILTER (WHERE edge AND NOT unsure) AS edges,
                          any_value(wrid) FILTER (WHERE edge AND NOT unsure) AS wrid,
                          any_value(weight) FILTER (WHERE edge AND NOT unsure) AS weight,
                          any_value(sim) FILTER (WHERE edge AND NOT unsure) AS sim
                   FROM edges GROUP BY brid) e ON e.brid = bp.rid
    """)
    bank_window = int(config.batch_window_days)
    threshold = _float(float(config.batch_counterparty_similarity))
    named = (
        f"{threshold} > 0 AND l.cp <> '' AND l.toks IS NOT NULL AND len(l.toks) > 0"
        if config.batch_counterparty_similarity > 0
        else "false"
    )
    con.execute(f"""
        CREATE TEMP TABLE pick AS
        SELECT s.brid, s.wrid, s.weight, s.sim, w.pid, w.day, w.k,
               w.cp AS wcp, w.toks AS wtoks
        FROM bstat s JOIN bp b ON b.rid = s.brid JOIN wk w ON w.rid = s.wrid
        WHERE s.inert AND s.certain AND s.edges = 1 AND w.inert
          AND w.status = b.status AND w.amount_minor = b.amount_minor
          AND abs(b.day - w.day) <= {int(config.key_date_tolerance_days)}
    """)
    # Pass 5 must not find a twin of either row: its fingerprint is unique on its side.
    for table, column, alias in (("wp", "wrid", "wk"), ("bq", "brid", "bp")):
        con.execute(f"""
            DELETE FROM pick WHERE {column} IN (
                SELECT x.rid FROM {alias} x
                SEMI JOIN pick ON pick.{column} = x.rid
                JOIN (SELECT {_FINGERPRINT} FROM {table} GROUP BY ALL HAVING count(*) > 1) t
                  ON t.account = x.account AND t.currency = x.currency
                 AND t.amount_minor = x.amount_minor AND t.value_date = x.value_date
                 AND t.counterparty = x.cp)
        """)
    # Another bank row scores the wallet row, or cut its scan short within reach of it.
    con.execute("""
        CREATE TEMP TABLE seen AS
        SELECT p.wrid FROM pick p JOIN edges e ON e.wrid = p.wrid
        WHERE e.brid <> p.brid AND (e.edge OR e.unsure)
    """)
    con.execute("""
        INSERT INTO seen
        SELECT p.wrid FROM pick p
        JOIN (SELECT o.pid, s.brid, s.lo, s.hi
              FROM bstat s JOIN bp o ON o.rid = s.brid WHERE s.truncated) t ON t.pid = p.pid
        WHERE t.brid <> p.brid AND p.k >= t.lo AND p.k < t.hi
    """)
    # A bank row that may be left without candidates has the wallet row in its batch window.
    con.execute(f"""
        INSERT INTO seen
        SELECT p.wrid FROM pick p
        JOIN (SELECT l.rid, l.pid, l.day, l.cp, l.toks
              FROM bp l JOIN bstat s ON s.brid = l.rid
              WHERE NOT (s.certain AND s.edges > 0)) l ON l.pid = p.pid
        WHERE l.day >= p.day AND l.day - {bank_window} <= p.day AND l.rid <> p.brid
          AND (NOT ({named}) OR coalesce(
               wl_similarity(p.wcp, l.cp, p.wtoks, l.toks) >= {threshold}, true))
    """)
    con.execute("""
        CREATE TEMP TABLE fpairs AS
        SELECT brid, wrid, weight, sim FROM pick ANTI JOIN seen USING (wrid)
    """)


def fuzzy_columns(con: Any) -> list[PairColumns]:
    """The pairs of ``fpairs`` as :class:`PairColumns`, as Python's pass 3 builds them."""
    # The SQL similarity must be the Python one: checked once per name pair.
    for wcp, bcp, sim in con.execute(
        "SELECT DISTINCT w.cp, b.cp, f.sim "
        "FROM fpairs f JOIN wk w ON w.rid = f.wrid JOIN bp b ON b.rid = f.brid"
    ).fetchall():
        if counterparty_similarity(wcp, bcp) != sim:
            raise WalletLinkError("internal error: SQL and Python counterparty similarity differ")
    return pair_columns(
        con,
        "SELECT f.wrid, w.id AS wid, b.id AS bid, b.account, b.currency, b.amount_minor, "
        "b.day - w.day AS delta, w.cp = '' OR b.cp = '' AS unnamed, f.sim, f.weight "
        "FROM fpairs f JOIN wk w ON w.rid = f.wrid JOIN bp b ON b.rid = f.brid",
        pass_no=3,
        rule="fuzzy",
        why=("delta", "unnamed", "sim"),
        reason=_reason,
        weight="weight",
        score=lambda weight: weight / _SCALE,
    )


def _reason(key: tuple[Any, ...]) -> str:
    day, unnamed, sim = key
    if unnamed:
        party = "counterparty not named on both sides"
    elif sim == 1:
        party = "counterparty equal"
    else:
        party = f"counterparty similar ({sim:.2f})"
    return f"amount equal; {day_phrase(day)}; {party}; only candidate"
