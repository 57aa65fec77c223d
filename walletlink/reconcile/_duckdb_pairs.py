"""Settled SQL pairs fetched as columns (:class:`PairColumns`), never as millions of tuples.

A :class:`~walletlink.reconcile.results.MatchedPair` costs ~300 bytes and its construction
dominated fetching ten million of them. Here DuckDB lays each chunk of pairs out itself: the
ids of 64k pairs as one string and their lengths, the (account, currency), reason and score
as small codes into tables of the distinct values, amounts and day deltas as integer lists.
Python only turns those lists into arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from walletlink.errors import WalletLinkError
from walletlink.reconcile.results import PairColumns

__all__ = ["pair_columns"]

#: Pairs per :class:`PairColumns`: small enough that one chunk's lists are cheap to hold.
CHUNK: Final = 65_536


def pair_columns(
    con: Any,
    select: str,
    *,
    pass_no: int,
    rule: str,
    why: Sequence[str],
    reason: Callable[[tuple[Any, ...]], str],
    weight: str,
    score: Callable[[Any], float],
) -> list[PairColumns]:
    """The pairs ``select`` yields (``wrid, wid, bid, account, currency, amount_minor,
    delta`` and the ``why`` / ``weight`` columns), in wallet input order (``wrid``).

    ``reason`` turns one distinct tuple of the ``why`` columns into the pair's reasons and
    ``score`` one distinct ``weight`` into its score: each is called once per distinct value.
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE pc AS {select}")
    keys = ", ".join(why)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE pc_places AS SELECT row_number() OVER () - 1 AS code, * "
        "FROM (SELECT DISTINCT account, currency FROM pc)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE pc_why AS SELECT row_number() OVER () - 1 AS code, * "
        f"FROM (SELECT DISTINCT {keys} FROM pc)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE pc_score AS SELECT row_number() OVER () - 1 AS code, * "
        f"FROM (SELECT DISTINCT {weight} AS weight FROM pc)"
    )
    places: list[tuple[str, str]] = _table(con, "SELECT code, account, currency FROM pc_places")
    reasons = [reason(row) for row in _table(con, f"SELECT code, {keys} FROM pc_why")]
    scores = [score(row[0]) for row in _table(con, "SELECT code, weight FROM pc_score")]
    on_why = " AND ".join(f"r.{k} IS NOT DISTINCT FROM c.{k}" for k in why)
    # (Measured: one list per column beats packing the integers into one string or list.)
    cursor = con.execute(f"""
        SELECT string_agg(c.wid, '' ORDER BY n), list(length(c.wid) ORDER BY n),
               string_agg(c.bid, '' ORDER BY n), list(length(c.bid) ORDER BY n),
               list(p.code ORDER BY n), list(c.amount_minor ORDER BY n),
               list(c.delta ORDER BY n), list(r.code ORDER BY n), list(s.code ORDER BY n)
        FROM (SELECT *, row_number() OVER (ORDER BY wrid) - 1 AS n FROM pc) c
        JOIN pc_places p USING (account, currency)
        JOIN pc_why r ON {on_why}
        JOIN pc_score s ON s.weight IS NOT DISTINCT FROM c.{weight}
        GROUP BY n // {CHUNK} ORDER BY n // {CHUNK}
    """)
    out: list[PairColumns] = []
    while (row := cursor.fetchone()) is not None:
        wallet, wallet_lengths, bank, bank_lengths, place, amounts, deltas, why_of, score_of = row
        try:
            out.append(
                PairColumns(
                    pass_no=pass_no,
                    rule=rule,
                    wallet_ids=wallet,
                    wallet_lengths=wallet_lengths,
                    bank_ids=bank,
                    bank_lengths=bank_lengths,
                    places=places,
                    place_of=place,
                    amounts=amounts,
                    deltas=deltas,
                    reasons=reasons,
                    reason_of=why_of,
                    scores=scores,
                    score_of=score_of,
                )
            )
        except ValueError:
            # DuckDB's length() counts code points as Python does; were it ever otherwise,
            # the ids would be cut wrongly: refuse rather than report wrong ids.
            raise WalletLinkError("internal error: SQL and Python string lengths differ") from None
    for table in ("pc", "pc_places", "pc_why", "pc_score"):
        con.execute(f"DROP TABLE {table}")
    return out


def _table(con: Any, sql: str) -> list[Any]:
    """A code table as a list indexed by its ``code`` (the first column)."""
    rows = con.execute(sql).fetchall()
    out: list[Any] = [None] * len(rows)
    for code, *rest in rows:
        out[code] = tuple(rest)
    return out
