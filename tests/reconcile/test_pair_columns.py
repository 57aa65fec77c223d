"""The DuckDB engine's column store of matched pairs reads like the tuple it replaces."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import attrs
import pytest

from walletlink.reconcile import MatchedPair, MatchedPairs, PairColumns, ReconcileConfig, reconcile
from walletlink.reconcile.report import report_rows, to_json, write_csv

from .factories import rec

PAIRS = (
    MatchedPair("w1", "b1", 1, "exact:end_to_end_id", 1.0, "ACC", "EUR", 100, 0, "same day"),
    MatchedPair("wü€", "b22", 1, "exact:end_to_end_id", 1.0, "ACC", "EUR", -5, 1, "+1 day"),
    MatchedPair("w😀3", "b", 1, "exact:end_to_end_id", 0.5, "ÖKO", "JPY", 2**62, -2, "same day"),
)


def columns(pairs: Sequence[MatchedPair] = PAIRS) -> PairColumns:
    places = sorted({(p.account, p.currency) for p in pairs})
    reasons = sorted({p.reasons for p in pairs})
    scores = sorted({p.score for p in pairs})
    return PairColumns(
        pass_no=pairs[0].pass_no,
        rule=pairs[0].rule,
        wallet_ids="".join(p.wallet_id for p in pairs),
        wallet_lengths=[len(p.wallet_id) for p in pairs],
        bank_ids="".join(p.bank_id for p in pairs),
        bank_lengths=[len(p.bank_id) for p in pairs],
        places=places,
        place_of=[places.index((p.account, p.currency)) for p in pairs],
        amounts=[p.amount_minor for p in pairs],
        deltas=[p.date_delta_days for p in pairs],
        reasons=reasons,
        reason_of=[reasons.index(p.reasons) for p in pairs],
        scores=scores,
        score_of=[scores.index(p.score) for p in pairs],
    )


def test_columns_read_like_the_tuple() -> None:
    store = columns()
    assert len(store) == 3
    assert tuple(store) == PAIRS
    assert [store[i] for i in range(3)] == list(PAIRS)
    assert store[-1] == PAIRS[-1]
    assert store[-3] == PAIRS[0]
    assert store[1:] == PAIRS[1:]
    assert store[::-1] == PAIRS[::-1]
    assert all(type(pair) is MatchedPair for pair in store)
    assert store[2].amount_minor == 2**62  # exact, not a float
    for index in (3, -4):
        with pytest.raises(IndexError):
            store[index]
    assert list(reversed(store)) == list(reversed(PAIRS))
    assert PAIRS[1] in store
    assert store.index(PAIRS[2]) == 2
    assert store.count(PAIRS[0]) == 1


def test_columns_compare_and_hash_as_the_tuple() -> None:
    store = columns()
    assert store == PAIRS
    assert PAIRS == store  # noqa: SIM300 - the tuple's side, which defers to the store
    assert store == list(PAIRS)
    assert store != PAIRS[:2]
    assert PAIRS[:2] != store
    assert store != (*PAIRS[:2], PAIRS[2]._replace(score=1.0))
    assert hash(store) == hash(PAIRS)
    assert repr(store) == repr(PAIRS)
    assert store != "w1b1"


def test_columns_survive_pickling() -> None:
    store = MatchedPairs([columns(), PAIRS[:1]])
    again = pickle.loads(pickle.dumps(store))  # noqa: S301 - our own bytes
    assert again == store
    assert tuple(again) == (*PAIRS, PAIRS[0])
    assert pickle.loads(pickle.dumps(columns())) == PAIRS  # noqa: S301


# Two pairs whose columns agree; each case below breaks one of them.
_TWO_PAIRS: dict[str, object] = {
    "pass_no": 1,
    "rule": "r",
    "wallet_ids": "w1w2",
    "wallet_lengths": [2, 2],
    "bank_ids": "b1b2",
    "bank_lengths": [2, 2],
    "places": [("A", "EUR")],
    "place_of": [0, 0],
    "amounts": [1, 2],
    "deltas": [0, 0],
    "reasons": [""],
    "reason_of": [0, 0],
    "scores": [1.0],
    "score_of": [0, 0],
}


@pytest.mark.parametrize(
    "broken",
    [
        {"bank_ids": "b1", "bank_lengths": [2]},  # one bank id for two pairs
        {"wallet_lengths": [2, 1]},  # the lengths do not add up to the ids
    ],
)
def test_columns_of_different_lengths_are_refused(broken: dict[str, object]) -> None:
    assert len(PairColumns(**_TWO_PAIRS)) == 2
    with pytest.raises(ValueError, match="different lengths"):
        PairColumns(**{**_TWO_PAIRS, **broken})


def test_matched_pairs_chain_their_parts() -> None:
    first, second = columns(PAIRS[:2]), columns(PAIRS[2:])
    chained = MatchedPairs([(), first, MatchedPairs([second, PAIRS[:1]])])
    expected = (*PAIRS, PAIRS[0])
    assert len(chained) == 4
    assert tuple(chained) == expected
    assert [chained[i] for i in range(-4, 4)] == [*expected, *expected]
    assert chained[1:3] == expected[1:3]
    with pytest.raises(IndexError):
        chained[4]
    assert MatchedPairs([]) == ()
    assert len(MatchedPairs([(), ()])) == 0
    assert chained == expected
    assert hash(chained) == hash(expected)


def test_pair_columns_from_duckdb_cut_ids_by_code_point(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 3 pairs, ids of 1- to 4-byte characters: every pair comes back whole."""
    duckdb = pytest.importorskip("duckdb")
    from walletlink.reconcile import _duckdb_pairs

    monkeypatch.setattr(_duckdb_pairs, "CHUNK", 3)
    rows = [
        (f"w{'ü€😀'[: i % 4]}{i}", f"b{i}{'é' * (i % 3)}", f"A{i % 2}", "EUR", i * 10 - 30, i % 3)
        for i in range(10)
    ]
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t (wrid BIGINT, wid VARCHAR, bid VARCHAR, account VARCHAR, currency VARCHAR, "
        "amount_minor BIGINT, delta INTEGER)"
    )
    con.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?)", [(-i, *row) for i, row in enumerate(rows)]
    )
    got = _duckdb_pairs.pair_columns(
        con,
        "SELECT *, amount_minor % 2 = 0 AS even, 7 AS weight FROM t",
        pass_no=1,
        rule="exact:x",
        why=("delta", "even"),
        reason=lambda key: f"{key[0]} {key[1]}",
        weight="weight",
        score=lambda weight: weight / 10,
    )
    con.close()
    assert [len(part) for part in got] == [3, 3, 3, 1]
    # In wallet input order (wrid), here the reverse of the rows'.
    expected = [
        MatchedPair(w, b, 1, "exact:x", 0.7, a, c, m, d, f"{d} {m % 2 == 0}")
        for w, b, a, c, m, d in reversed(rows)
    ]
    assert list(MatchedPairs(got)) == expected


def test_reports_of_a_duckdb_result_are_those_of_its_tuple(tmp_path: Path) -> None:
    pytest.importorskip("duckdb")
    wallet = [rec(f"w{i}", 100 + i, 0, end_to_end_id=f"E{i}") for i in range(5)]
    bank = [rec(f"b{i}", 100 + i, 1, end_to_end_id=f"E{i}") for i in range(5)]
    duck = reconcile(wallet, bank, ReconcileConfig(engine="duckdb"))
    assert isinstance(duck.matched, MatchedPairs)
    plain = attrs.evolve(duck, matched=tuple(duck.matched))
    assert duck == plain
    assert to_json(duck) == to_json(plain)
    assert report_rows(duck) == report_rows(plain)
    assert sorted(duck.assignments()) == sorted(plain.assignments())
    a, b = tmp_path / "a", tmp_path / "b"
    write_csv(duck, a)
    write_csv(plain, b)
    for path in sorted(a.iterdir()):
        assert path.read_bytes() == (b / path.name).read_bytes()
