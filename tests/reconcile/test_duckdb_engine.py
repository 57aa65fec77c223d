"""The DuckDB engine gives the Python engine's categories and pairs, from records or files."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from walletlink.errors import ConfigurationError, CurrencyError, ValidationError
from walletlink.reconcile import BatchMember, ReconcileConfig, Record, RecordStatus, reconcile
from walletlink.reconcile.duckdb_engine import COLUMNS, reconcile_duckdb

from .factories import rec

duckdb = pytest.importorskip("duckdb")

DUCK = ReconcileConfig(engine="duckdb")


def comparable(result: Any) -> dict[str, Any]:
    """Every field of a result, tuples sorted: the engines may order ``matched`` differently."""
    out: dict[str, Any] = {}
    for field in attrs.fields(type(result)):
        if field.name in ("pass_seconds", "config"):
            continue
        value = getattr(result, field.name)
        # A sequence of items (the DuckDB engine's matched pairs are a column store).
        listed = isinstance(value, Sequence) and not isinstance(value, str)
        out[field.name] = sorted(value, key=repr) if listed else value
    return out


def both(wallet: list[Record], bank: list[Record], **rules: Any) -> tuple[Any, Any]:
    python = reconcile(wallet, bank, ReconcileConfig(**rules))
    duck = reconcile(wallet, bank, ReconcileConfig(engine="duckdb", **rules))
    return python, duck


def sql_pairs(result: Any) -> int:
    label = next(name for name, _ in result.pass_seconds if name.startswith("duckdb 1"))
    return int(label.split("(")[1].split()[0])


def test_a_clean_key_pair_is_settled_in_sql_with_the_python_reasons() -> None:
    wallet = [rec("w1", 100, 0, end_to_end_id="E1", counterparty="Acme")]
    bank = [rec("b1", 100, 1, end_to_end_id="E1", counterparty="ACME", source_id="S1")]
    python, duck = both(wallet, bank)
    assert sql_pairs(duck) == 1
    assert python.matched == duck.matched
    assert python.totals == duck.totals
    assert duck.config == DUCK


def test_a_bank_twin_of_a_key_pair_stays_a_duplicate() -> None:
    """Pass 5 calls a leftover a duplicate of a used row with its fingerprint: not in SQL."""
    wallet = [rec("w1", 100, 0, end_to_end_id="E1", counterparty="Acme")]
    bank = [
        rec("b1", 100, 0, end_to_end_id="E1", counterparty="Acme"),
        rec("b2", 100, 0, counterparty="Acme"),
    ]
    python, duck = both(wallet, bank)
    assert sql_pairs(duck) == 0
    assert comparable(python) == comparable(duck)
    assert [d.record_id for d in duck.duplicates] == ["b2"]


def test_a_reimport_by_content_from_another_delivery_is_left_to_hygiene() -> None:
    """The same booking through camt and MT940 without a shared id is hygiene's, not SQL's."""
    wallet = [rec("w1", 100, 0, end_to_end_id="E1", counterparty="Acme")]
    bank = [
        rec(
            "b1", 100, 0, end_to_end_id="E1", source_id="N1", counterparty="Acme", source="d.xml#1"
        ),
        rec("b2", 100, 0, end_to_end_id="C9", counterparty="ACME", source="d.sta#1"),
    ]
    python, duck = both(wallet, bank)
    assert sql_pairs(duck) == 0
    assert comparable(python) == comparable(duck)
    assert [r.record_id for r in duck.reimported] == ["b2"]


def test_a_reimport_by_source_id_is_left_to_hygiene() -> None:
    wallet = [rec("w1", 100, 0, end_to_end_id="E1")]
    bank = [
        rec("b1", 100, 0, end_to_end_id="E1", source_id="S1", counterparty="A"),
        rec("b2", 100, 0, source_id="S1", counterparty="B"),
    ]
    python, duck = both(wallet, bank)
    assert sql_pairs(duck) == 0
    assert comparable(python) == comparable(duck)
    assert [r.record_id for r in duck.reimported] == ["b2"]


def test_a_booking_a_storno_undoes_is_left_to_the_reversal_pass() -> None:
    wallet = [rec("w1", -500, 0, end_to_end_id="E1")]
    bank = [
        rec("b1", -500, 0, end_to_end_id="E1"),
        rec("b2", 500, 3, end_to_end_id="E1", reversal=True),
    ]
    python, duck = both(wallet, bank)
    assert sql_pairs(duck) == 0
    assert comparable(python) == comparable(duck)
    assert len(duck.reversals) == 1


def test_a_key_hit_with_another_amount_is_still_a_mismatch() -> None:
    wallet = [rec("w1", 100, 0, end_to_end_id="E1")]
    bank = [rec("b1", 101, 0, end_to_end_id="E1")]
    python, duck = both(wallet, bank)
    assert comparable(python) == comparable(duck)
    assert [(m.wallet_id, m.bank_id) for m in duck.mismatched] == [("w1", "b1")]


def test_batch_entries_and_their_wallet_rows_are_left_to_the_batch_pass() -> None:
    """A bank entry with NbOfTxs or a payment-information id, and wallet rows of a batch,
    are pass 2's: an end-to-end id that looks unique must not pair them in SQL."""
    wallet = [
        rec("w1", -300, 0, end_to_end_id="E1", batch_id="PO-7"),
        rec("w2", -200, 0, end_to_end_id="E2", batch_id="PO-7"),
    ]
    bank = [rec("b1", -500, 0, end_to_end_id="E1", batch_id="PO-7", member_count=2)]
    python, duck = both(wallet, bank)
    assert sql_pairs(duck) == 0
    assert comparable(python) == comparable(duck)


def _write_parquet(records: list[Record], path: Path) -> None:
    rows = [
        (
            r.id,
            r.account,
            r.currency,
            r.amount_minor,
            r.value_date,
            r.status.value,
            r.end_to_end_id,
            r.counterparty,
        )
        for r in records
    ]
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t (id VARCHAR, account VARCHAR, currency VARCHAR, amount_minor BIGINT, "
        "value_date DATE, status VARCHAR, end_to_end_id VARCHAR, counterparty VARCHAR)"
    )
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    con.close()


def test_parquet_and_csv_sides_read_out_of_core_give_the_same_result(tmp_path: Path) -> None:
    wallet = [
        rec("w1", 100, 0, end_to_end_id="E1", counterparty="Acme"),
        rec("w2", 250, 1, counterparty="Bob"),
        rec("w3", 990, 2, end_to_end_id="E3", counterparty="Carol"),
    ]
    bank = [
        rec("b1", 100, 1, end_to_end_id="E1", counterparty="Acme"),
        rec("b2", 250, 2, counterparty="Bob"),
        rec("b3", 991, 2, end_to_end_id=" E3 ", counterparty="  Carol "),
    ]
    _write_parquet(wallet, tmp_path / "wallet.parquet")
    csv_text = "id,account,currency,amount_minor,value_date,end_to_end_id,counterparty\n" + "".join(
        f"{r.id},{r.account},{r.currency.lower()},{r.amount_minor},{r.value_date},"
        f"{r.end_to_end_id or 'NOTPROVIDED'},{r.counterparty}\n"
        for r in bank
    )
    (tmp_path / "bank.csv").write_text(csv_text)
    spill = tmp_path / "spill"
    spill.mkdir()
    duck = reconcile_duckdb(
        tmp_path / "wallet.parquet",
        str(tmp_path / "bank.csv"),
        DUCK,
        memory_limit="200MB",
        temp_directory=spill,
    )
    python = reconcile(wallet, bank, ReconcileConfig())
    assert comparable(python) == comparable(duck)
    assert list(spill.iterdir()) == []  # the work directory is removed afterwards


def test_a_file_without_a_required_column_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bank.csv").write_text(
        "id,account,amount_minor,value_date\nb1,ACC,100,2026-03-02\n"
    )
    with pytest.raises(ValidationError, match=r"missing column\(s\) currency"):
        reconcile_duckdb([], tmp_path / "bank.csv", DUCK)


def test_an_unknown_currency_in_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bank.csv").write_text(
        "id,account,currency,amount_minor,value_date\nb1,ACC,XXZ,100,2026-03-02\n"
    )
    with pytest.raises(CurrencyError):
        reconcile_duckdb([], tmp_path / "bank.csv", DUCK)


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="engine must be one of"):
        ReconcileConfig(engine="spark")


def test_the_columns_are_the_record_fields_in_order() -> None:
    assert [f.name for f in attrs.fields(Record)] == list(COLUMNS)


# -- parity on generated data --------------------------------------------------------------------

# Few distinct amounts, with their opposites: twins, stornos and their bookings are common.
_amounts = st.sampled_from([100, 100, 250, 1010, -100, -250])


@st.composite
def _records(draw: st.DrawFn, prefix: str) -> list[Record]:
    size = draw(st.integers(0, 14))
    out = []
    for i in range(size):
        # Mostly unique references, so the SQL pass has pairs to settle, with collisions.
        e2e = draw(st.sampled_from(["", *[f"{prefix}E{i}"] * 4, "E1", "NONREF"]))
        members = draw(st.sampled_from([(), (), (), (BatchMember(reference="E1"),)]))
        out.append(
            rec(
                f"{prefix}{i}",
                draw(_amounts),
                draw(st.integers(0, 4)),
                account=draw(st.sampled_from(["ACC", "ACC", "ACC", "OTHER"])),
                currency=draw(st.sampled_from(["EUR", "EUR", "EUR", "JPY"])),
                end_to_end_id=e2e,
                bank_reference=draw(st.sampled_from(["", "", "R1", "R2"])),
                source_id=draw(st.sampled_from(["", "", "", f"{prefix}S{i}", "S1"])),
                batch_id=draw(st.sampled_from(["", "", "", "P1"])),
                members=members,
                fee_minor=draw(st.sampled_from([None, None, 5])),
                status=draw(st.sampled_from([*[RecordStatus.BOOKED] * 12, *RecordStatus])),
                counterparty=draw(st.sampled_from(["", "Acme", "Acme", "acme ltd", 'Q "x", y'])),
                text=draw(st.sampled_from(["", "PAYOUT P1", "line\nbreak"])),
                source=draw(st.sampled_from(["", "a.xml#1", "b.sta#1"])),
                reversal=draw(st.sampled_from([False, False, True])) if prefix == "b" else False,
            )
        )
    return out


@st.composite
def _days(draw: st.DrawFn) -> tuple[list[Record], list[Record]]:
    """A wallet side and a bank side built from it: copies booked late, some changed, plus
    the rows that make a key pair unsafe for SQL (twins, stornos, re-imports, duplicates)."""
    wallet = draw(_records("w"))
    bank: list[Record] = []
    for w in wallet:
        kind = draw(st.sampled_from(["copy", "copy", "copy", "changed", "none"]))
        if kind == "none":
            continue
        lag = draw(st.integers(0, 4))
        changes: dict[str, Any] = {"reversal": False, "members": ()}
        if kind == "changed":
            changes[draw(st.sampled_from(["amount_minor", "status", "end_to_end_id"]))] = None
        b = attrs.evolve(
            w,
            id=f"b{len(bank)}",
            value_date=w.value_date + timedelta(days=lag),
            amount_minor=w.amount_minor if "amount_minor" not in changes else w.amount_minor + 1,
            status=RecordStatus.BOOKED if "status" in changes else w.status,
            end_to_end_id="" if "end_to_end_id" in changes else w.end_to_end_id,
            source_id=draw(st.sampled_from(["", *[f"S{len(bank)}"] * 3, "S1"])),
            reversal=False,
            members=(),
        )
        bank.append(b)
        extra = draw(
            st.sampled_from(["", "", "twin", "storno", "reimport", "keydup", "otherdelivery"])
        )
        if extra == "twin":
            bank.append(attrs.evolve(b, id=f"b{len(bank)}", end_to_end_id="", source_id=""))
        elif extra == "storno":
            bank.append(
                attrs.evolve(
                    b,
                    id=f"b{len(bank)}",
                    amount_minor=-b.amount_minor,
                    value_date=b.value_date + timedelta(days=2),
                    reversal=True,
                    source_id="",
                )
            )
        elif extra == "reimport":
            bank.append(attrs.evolve(b, id=f"b{len(bank)}", source_id=b.source_id or "SR"))
        elif extra == "otherdelivery":
            # The same booking through another format: no shared id, its own customer ref,
            # the name upper-cased (so its fingerprint is not the original's).
            other = "b.sta#7" if b.source.startswith("a") else "a.xml#7"
            changed = {"source_id": "", "source": other, "end_to_end_id": "C9"}
            bank.append(
                attrs.evolve(b, id=f"b{len(bank)}", counterparty=b.counterparty.upper(), **changed)
            )
        elif extra == "keydup":
            bank.append(attrs.evolve(b, id=f"b{len(bank)}", amount_minor=b.amount_minor + 7))
    return wallet, [*bank, *draw(_records("x"))[:3]]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_days(), st.booleans())
def test_duckdb_gives_the_python_categories_and_pairs(
    day: tuple[list[Record], list[Record]], anomalies: bool
) -> None:
    python, duck = both(*day, anomalies=anomalies)
    assert comparable(python) == comparable(duck)


# -- the SQL fuzzy pass ------------------------------------------------------------------------


def sql_fuzzy(result: Any) -> int:
    label = next(name for name, _ in result.pass_seconds if name.startswith("duckdb 3"))
    return int(label.split("(")[1].split()[0])


def test_a_lone_reference_less_pair_is_settled_in_sql_with_the_python_score() -> None:
    wallet = [rec("w1", 10_000, 0, counterparty="Acme Ltd"), rec("w2", 77_000, 5)]
    bank = [
        rec("b1", 10_000, 1, counterparty="ACME", source_id="S1"),
        rec("b2", 77_000, 5, counterparty="Bob"),
    ]
    python, duck = both(wallet, bank)
    assert sql_fuzzy(duck) == 2
    assert comparable(python) == comparable(duck)
    assert {p.reasons for p in duck.matched} == {
        "amount equal; booked +1 day; counterparty equal; only candidate",
        "amount equal; booked same day; counterparty not named on both sides; only candidate",
    }


def test_a_wallet_row_another_bank_row_scores_stays_in_python() -> None:
    """Two bank rows want one wallet row: a block of two, Python's assignment decides."""
    wallet = [rec("w1", 10_000, 0, counterparty="Acme")]
    bank = [rec("b1", 10_000, 0, counterparty="Acme"), rec("b2", 10_010, 1, counterparty="Acme")]
    python, duck = both(wallet, bank)
    assert sql_fuzzy(duck) == 0
    assert comparable(python) == comparable(duck)


def test_a_row_a_lonely_payout_may_take_stays_in_python() -> None:
    """A bank row without a 1:1 candidate is searched for a batch first; its window's rows
    that name a similar party may be its members, so none of them is settled in SQL."""
    wallet = [
        rec("w1", 3_000, 0, counterparty="Acquirer 1"),
        rec("w2", 4_000, 0, counterparty="Acquirer 1"),
        rec("w3", 9_000, 0, counterparty="Other Party"),
    ]
    bank = [
        rec("b1", 3_000, 1, counterparty="ACQUIRER 1"),
        rec("p1", 7_000, 1, counterparty="ACQUIRER 1"),
        rec("b3", 9_000, 1, counterparty="OTHER PARTY"),
    ]
    python, duck = both(wallet, bank)
    assert sql_fuzzy(duck) == 1  # only w3/b3: "other party" is not similar to the payer
    assert comparable(python) == comparable(duck)


def test_names_sql_cannot_compare_are_left_to_python() -> None:
    wallet = [
        rec("w1", 10_000, 0, counterparty="Müller GmbH"),
        rec("w2", 20_000, 0, counterparty="Bob"),
    ]
    bank = [
        rec("b1", 10_000, 0, counterparty="MUELLER"),
        rec("b2", 20_000, 0, counterparty="BOB", text="Müller"),
    ]
    python, duck = both(wallet, bank)
    assert sql_fuzzy(duck) == 1
    assert comparable(python) == comparable(duck)


def test_sql_similarity_is_the_python_one() -> None:
    from walletlink.reconcile._duckdb_fuzzy import _macros
    from walletlink.reconcile.fuzzy import counterparty_similarity

    names = [
        "", "Acme", "ACME", "Acme Ltd", "acme limited", "Goethe Haus", "Gothe haus", "Co-op",
        "Customer 12", "CUSTOMER 12", "Customer 123", "a b c d", "b c d e", "ltd", "-",
        "Quo Vadis AG", "quoe vadis", "A very long company name here", "A very long company n",
    ]  # fmt: skip
    con = duckdb.connect()
    _macros(con)
    for left in names:
        for right in names:
            (sql,) = con.execute(
                "SELECT wl_similarity(?, ?, wl_tokens(?), wl_tokens(?))", [left, right, left, right]
            ).fetchone()
            if sql is not None:  # None: "let Python decide" (a name possibly cut short)
                assert sql == counterparty_similarity(left, right), (left, right)
    con.close()


_NAMES = ("", "Acme", "ACME LTD", "Acme", "Bob", "Customer 1", "CUSTOMER 2", "Acquirer 1")
_names = st.sampled_from([*_NAMES, "ACQUIRER 1", "Zoë", "A very long company name cut"])


@st.composite
def _fuzzy_days(draw: st.DrawFn) -> tuple[list[Record], list[Record], dict[str, Any]]:
    """Reference-less sides with close amounts and dates: blocks, ties, payouts, twins."""
    wallet: list[Record] = []
    bank: list[Record] = []
    for i in range(draw(st.integers(0, 16))):
        amount = draw(st.sampled_from([10_000, 10_020, 10_040, 9_990, 20_000, -10_000, 3_000]))
        day = draw(st.integers(0, 8))
        name = draw(_names)
        account = draw(st.sampled_from(["ACC", "ACC", "ACC", "OTHER"]))
        status = draw(st.sampled_from([RecordStatus.BOOKED] * 6 + [RecordStatus.PENDING]))
        w = rec(f"w{i}", amount, day, account=account, counterparty=name, status=status)
        wallet.append(w)
        kind = draw(st.sampled_from(["copy", "copy", "copy", "drift", "none", "twin"]))
        if kind == "none":
            continue
        b = attrs.evolve(
            w,
            id=f"b{i}",
            value_date=w.value_date + timedelta(days=draw(st.integers(0, 4))),
            amount_minor=w.amount_minor + (draw(st.integers(-60, 60)) if kind == "drift" else 0),
            counterparty=draw(st.sampled_from([name, name.upper(), ""])),
            source_id=draw(st.sampled_from(["", f"S{i}", "S1"])),
            end_to_end_id=draw(st.sampled_from(["", "", "", f"E{i}"])),
        )
        bank.append(b)
        if kind == "twin":
            bank.append(attrs.evolve(b, id=f"b{i}t", source_id=""))
            wallet.append(attrs.evolve(w, id=draw(st.sampled_from([f"w{i}t", w.id]))))
    for j in range(draw(st.integers(0, 2))):  # payouts of the day's small rows
        bank.append(
            rec(
                f"p{j}",
                draw(st.sampled_from([6_000, 13_000, 30_000])),
                draw(st.integers(0, 8)),
                counterparty=draw(_names),
            )
        )
    rules = {
        "max_candidates": draw(st.sampled_from([1, 2, 32])),
        "date_window_days": draw(st.sampled_from([1, 3])),
        "batch_counterparty_similarity": draw(st.sampled_from([0.0, 0.5])),
        "amount_tolerance_abs_minor": draw(st.sampled_from([0, 30])),
    }
    return wallet, bank, rules


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_fuzzy_days())
def test_duckdb_fuzzy_pass_gives_the_python_categories_and_pairs(
    day: tuple[list[Record], list[Record], dict[str, Any]],
) -> None:
    wallet, bank, rules = day
    python, duck = both(wallet, bank, **rules)
    assert comparable(python) == comparable(duck)


def test_files_written_by_write_parquet_are_read_as_they_are(tmp_path: Path) -> None:
    """A marked file skips normalising and validating again; the result is the same."""
    from walletlink.reconcile.duckdb_engine import _written_by_us, write_parquet

    wallet = [rec("w1", 10_000, 0, counterparty="Acme", end_to_end_id="E1"), rec("w2", 500, 1)]
    bank = [rec("b1", 10_000, 0, counterparty="ACME", end_to_end_id="E1"), rec("b2", 500, 2)]
    write_parquet(wallet, tmp_path / "wallet.parquet")
    write_parquet(bank, tmp_path / "bank.parquet")
    _write_parquet(bank, tmp_path / "unmarked.parquet")
    con = duckdb.connect()
    assert _written_by_us(con, str(tmp_path / "wallet.parquet"))
    assert not _written_by_us(con, str(tmp_path / "unmarked.parquet"))
    assert not _written_by_us(con, str(tmp_path / "*.parquet"))  # one file is not marked
    con.close()
    python = reconcile(wallet, bank, ReconcileConfig())
    for side in ("bank.parquet", "unmarked.parquet"):
        duck = reconcile_duckdb(tmp_path / "wallet.parquet", tmp_path / side, DUCK)
        assert comparable(python) == comparable(duck)


# -- account buckets ---------------------------------------------------------------------------


def _spread(records: list[Record], accounts: int) -> list[Record]:
    """The same rows over several accounts, by amount: a pair (and a storno, whose amount is
    the opposite) stays on one account, so the buckets have something to settle."""
    return [
        attrs.evolve(r, account=f"{r.account}{abs(r.amount_minor) % accounts}") for r in records
    ]


def _bucket_counts(result: Any) -> tuple[int, int]:
    labels = dict(result.pass_seconds)
    exact = next(name for name in labels if name.startswith("duckdb 1"))
    fuzzy = next(name for name in labels if name.startswith("duckdb 3"))
    return int(exact.split("(")[1].split()[0]), int(fuzzy.split("(")[1].split()[0])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_days(), st.integers(1, 4), st.integers(2, 5))
def test_a_bucketed_run_gives_the_unbucketed_result(
    day: tuple[list[Record], list[Record]], accounts: int, buckets: int
) -> None:
    wallet, bank = (_spread(side, accounts) for side in day)
    python = reconcile(wallet, bank, ReconcileConfig())
    whole = reconcile_duckdb(wallet, bank, DUCK, buckets=1)
    parts = reconcile_duckdb(wallet, bank, DUCK, buckets=buckets)
    assert comparable(parts) == comparable(whole) == comparable(python)
    # The buckets settle in SQL what the whole run settles there, not less.
    assert _bucket_counts(parts) == _bucket_counts(whole)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_fuzzy_days(), st.integers(1, 3), st.integers(2, 4))
def test_a_bucketed_fuzzy_run_gives_the_unbucketed_result(
    day: tuple[list[Record], list[Record], dict[str, Any]], accounts: int, buckets: int
) -> None:
    wallet, bank, rules = day
    wallet, bank = _spread(wallet, accounts), _spread(bank, accounts)
    config = ReconcileConfig(engine="duckdb", **rules)
    python = reconcile(wallet, bank, attrs.evolve(config, engine="python"))
    whole = reconcile_duckdb(wallet, bank, config, buckets=1)
    parts = reconcile_duckdb(wallet, bank, config, buckets=buckets)
    assert comparable(parts) == comparable(whole) == comparable(python)
    assert _bucket_counts(parts) == _bucket_counts(whole)


def test_one_account_with_everything_leaves_the_other_buckets_empty() -> None:
    wallet = [rec(f"w{i}", 100 + i, i % 3, end_to_end_id=f"E{i}") for i in range(20)]
    bank = [rec(f"b{i}", 100 + i, i % 3, end_to_end_id=f"E{i}") for i in range(20)]
    wallet += [rec("wf", 7_000, 0, counterparty="Acme"), rec("wl", 9_999, 0)]
    bank += [rec("bf", 7_000, 1, counterparty="ACME GmbH"), rec("bl", 1, 40)]
    wallet += [rec("wg", 5_000, 0, counterparty="Beta")]
    bank += [rec("bg", 5_000, 0, counterparty="Beta")]
    python = reconcile(wallet, bank, ReconcileConfig())
    for buckets in (1, 2, 7):
        duck = reconcile_duckdb(wallet, bank, DUCK, buckets=buckets)
        assert comparable(duck) == comparable(python)
        assert _bucket_counts(duck) == (20, 2)


def test_a_bucketed_run_with_an_empty_side_is_the_python_result() -> None:
    bank = [rec(f"b{i}", 100 + i, 0, account=f"A{i}") for i in range(5)]
    python = reconcile([], bank, ReconcileConfig())
    assert comparable(reconcile_duckdb([], bank, DUCK, buckets=3)) == comparable(python)


def test_buckets_must_be_positive() -> None:
    with pytest.raises(ConfigurationError):
        reconcile_duckdb([rec("w1", 1)], [rec("b1", 1)], DUCK, buckets=0)


def test_bucketed_parquet_files_keep_the_input_order(tmp_path: Path) -> None:
    """Several marked files read by bucket: rows numbered by file, then row, as one input.

    Repeated ids make the canonical order fall back on input order, so a wrong numbering
    across files would show in which row of a pair of twins is called the duplicate.
    """
    from walletlink.reconcile.duckdb_engine import write_parquet

    wallet = [
        rec(f"w{i % 7}", 100 + i % 5, i % 2, account=f"A{i % 4}", counterparty=f"N{i}")
        for i in range(40)
    ]
    bank = [
        rec(f"b{i}", 100 + i % 5, i % 3, account=f"A{i % 4}", end_to_end_id=f"E{i % 9}")
        for i in range(40)
    ]
    for side, rows in (("wallet", wallet), ("bank", bank)):
        write_parquet(rows[:15], tmp_path / f"{side}-0.parquet")
        write_parquet(rows[15:], tmp_path / f"{side}-1.parquet")
    python = reconcile(wallet, bank, ReconcileConfig())
    for buckets in (1, 3):
        duck = reconcile_duckdb(
            str(tmp_path / "wallet-*.parquet"),
            str(tmp_path / "bank-*.parquet"),
            DUCK,
            buckets=buckets,
        )
        assert comparable(duck) == comparable(python)
