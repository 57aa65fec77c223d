"""The DuckDB engine at 1M and 10M wallet rows: time, peak RSS, precision/recall, parity.

The data is :mod:`bench_reconcile`'s seeded ground truth, generated in chunks of at most 1M
wallet rows (each chunk its own seed, and a tag on every id and account, so chunks never
share an account), each chunk written to Parquet next to its pickled truth. The engine run is
a separate process so that its peak RSS is its own, not the generator's::

    .venv/bin/python benchmarks/bench_duckdb.py generate 1000000 /var/tmp/recon10m
    .venv/bin/python benchmarks/bench_duckdb.py replicate 10 /var/tmp/recon10m
    .venv/bin/python benchmarks/bench_duckdb.py run /var/tmp/recon10m [--memory-limit 2GB]
        [--threads 1]
    .venv/bin/python benchmarks/bench_duckdb.py compare 1000000
    .venv/bin/python benchmarks/bench_duckdb.py peak python|pandas|sql /var/tmp/recon10m

``run`` prints the wall time and the peak RSS of the reconciliation (read from
``ru_maxrss`` right after it, before the truth is loaded for scoring), then precision and
recall per category. ``compare`` runs, on one in-memory dataset in one process, the Python
engine, the DuckDB engine from Records and from Parquet, the pandas merge and the plain
DuckDB SQL join of :mod:`bench_reconcile`, checks that both engines give the same categories
and pairs, and prints every figure. ``peak`` runs one contender (``python``, ``pandas`` or
``sql``) on a folder's Parquet chunks in a fresh process, for its own time and peak RSS.
"""

from __future__ import annotations

import pickle
import resource
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import attrs
import pytest
from bench_reconcile import (
    CONFIG,
    _frames,
    _score_frames,
    as_of,
    generate,
    predict_walletlink,
    run_duckdb,
    run_pandas,
    score,
    used_twice,
)

from walletlink.reconcile import reconcile
from walletlink.reconcile.duckdb_engine import reconcile_duckdb, write_parquet

DUCK = attrs.evolve(CONFIG, engine="duckdb")
CHUNK = 1_000_000
_TRUTH = ("pairs", "records", "exact_pairs", "known_members", "batch_edges")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate_files(n: int, folder: Path, chunk: int = CHUNK) -> None:
    """Chunks of the ground truth as ``wallet-K.parquet``, ``bank-K.parquet``, ``truth-K``."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, start in enumerate(range(0, n, chunk)):
        gen = generate(min(chunk, n - start), seed=20260301 + k, tag=f"c{k}")
        write_parquet(gen.wallet, folder / f"wallet-{k}.parquet", temp_directory=str(folder))
        write_parquet(gen.bank, folder / f"bank-{k}.parquet", temp_directory=str(folder))
        truth = {name: getattr(gen, name) for name in _TRUTH}
        with open(folder / f"truth-{k}.pickle", "wb") as handle:
            pickle.dump(truth, handle, protocol=pickle.HIGHEST_PROTOCOL)
        print(f"chunk {k}: {len(gen.wallet):,} wallet, {len(gen.bank):,} bank rows", flush=True)


def replicate(folder: Path, copies: int) -> None:
    """Chunks 1..copies-1 as renamed copies of chunk 0 (``c0`` → ``cK`` in every id, reference
    and account): ten 1M days on disjoint accounts in minutes instead of an hour of generating.
    The truth is renamed the same way when it is read (a ``copies`` file says how many)."""
    import duckdb

    tagged = ("id", "end_to_end_id", "source_id", "batch_id")
    con = duckdb.connect()
    for side in ("wallet", "bank"):
        source = folder / f"{side}-0.parquet"
        for k in range(1, copies):
            renamed = ", ".join(
                f"CASE WHEN {c} LIKE 'c0%' THEN 'c{k}' || substr({c}, 3) ELSE {c} END AS {c}"
                for c in tagged
            )
            con.execute(
                f"COPY (SELECT * REPLACE ({renamed}, "
                f"'ACCc{k}' || substr(account, 6) AS account, "
                f"replace(members, '\"c0', '\"c{k}') AS members) "
                f"FROM read_parquet('{source}')) TO '{folder / f'{side}-{k}.parquet'}' "
                # Renamed rows stay normalised: keep write_parquet's mark.
                "(FORMAT parquet, KV_METADATA {walletlink: 'normalised-1'})"
            )
    con.close()
    (folder / "copies").write_text(str(copies))


def _renamed(value: Any, k: int) -> Any:
    if isinstance(value, tuple):
        return tuple(_renamed(v, k) for v in value)
    if isinstance(value, str) and value.startswith("c0"):
        return f"c{k}{value[2:]}"
    return value


def _copies(part: dict[str, Any], k: int) -> dict[str, Any]:
    def rename(rows: set[Any]) -> set[Any]:
        return {_renamed(row, k) for row in rows}

    return {
        "pairs": {name: rename(rows) for name, rows in part["pairs"].items()},
        "records": {name: rename(rows) for name, rows in part["records"].items()},
        **{name: rename(part[name]) for name in ("exact_pairs", "known_members", "batch_edges")},
    }


def _truth(folder: Path) -> SimpleNamespace:
    merged: dict[str, Any] = {
        "pairs": {"matched": set(), "mismatched": set()},
        "records": {},
        "exact_pairs": set(),
        "known_members": set(),
        "batch_edges": set(),
    }
    parts: list[dict[str, Any]] = []
    for path in sorted(folder.glob("truth-*.pickle")):
        with open(path, "rb") as handle:
            parts.append(pickle.load(handle))  # noqa: S301 - our own file, from generate_files
    copies = folder / "copies"
    if copies.exists():
        parts += [_copies(parts[0], k) for k in range(1, int(copies.read_text()))]
    for part in parts:
        for name in ("matched", "mismatched"):
            merged["pairs"][name] |= part["pairs"][name]
        for name, rows in part["records"].items():
            merged["records"].setdefault(name, set()).update(rows)
        for name in ("exact_pairs", "known_members", "batch_edges"):
            merged[name] |= part[name]
    records = merged["records"]
    merged["records"] = {
        name: records.get(name, set())
        for name in ("batched", "duplicate", "missing_in_bank", "missing_in_wallet")
    }
    return SimpleNamespace(**merged)


def run_files(
    folder: Path, memory_limit: str = "2GB", threads: int | None = None
) -> dict[str, Any]:
    """Reconcile every chunk of ``folder`` in one DuckDB run; time, peak RSS, then scores."""
    started = time.perf_counter()
    result = reconcile_duckdb(
        str(folder / "wallet-*.parquet"),
        str(folder / "bank-*.parquet"),
        DUCK,
        as_of=as_of(SimpleNamespace()),
        memory_limit=memory_limit,
        temp_directory=folder,
        threads=threads,
    )
    seconds = time.perf_counter() - started
    rss = _rss_mb()
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    # Printed before scoring, which loads the truth and takes minutes at 10M.
    print(
        f"reconciled in {seconds:.1f} s (process CPU {cpu.ru_utime + cpu.ru_stime:.1f} s), "
        f"peak RSS {rss:.0f} MB",
        flush=True,
    )
    for name, step in result.pass_seconds:
        print(f"  {name:<40} {step:.2f} s", flush=True)
    prediction = predict_walletlink(result)
    report = {
        "seconds": seconds,
        "rss_mb": rss,
        "passes": dict(result.pass_seconds),
        "used_twice": used_twice(prediction),
        "categorised": sum(prediction.uses.values()),
    }
    del result
    report["scores"] = score(_truth(folder), prediction)  # type: ignore[arg-type]
    return report


def _print_scores(scores: dict[str, tuple[float, float]]) -> None:
    for category, (p, r) in scores.items():
        shown = "-" if category.endswith("(recall)") or p != p else f"{p:.4f}"
        print(f"  {category:<32}{shown:>8} / {r:.4f}")


def compare(n: int) -> dict[str, Any]:
    """Both engines, pandas and plain DuckDB SQL on the same data, in one process."""
    gen = generate(n)
    day = as_of(gen)
    out: dict[str, Any] = {"n": n, "bank_rows": len(gen.bank)}
    started = time.perf_counter()
    python = reconcile(gen.wallet, gen.bank, CONFIG, as_of=day)
    out["python_s"] = time.perf_counter() - started
    started = time.perf_counter()
    duck = reconcile(gen.wallet, gen.bank, DUCK, as_of=day)
    out["duckdb_records_s"] = time.perf_counter() - started
    out["same_result"] = sorted(python.assignments()) == sorted(duck.assignments()) and sorted(
        python.matched
    ) == sorted(duck.matched)
    out["python_scores"] = score(gen, predict_walletlink(python))
    out["duckdb_scores"] = score(gen, predict_walletlink(duck))
    del python, duck
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        write_parquet(gen.wallet, folder / "wallet.parquet")
        write_parquet(gen.bank, folder / "bank.parquet")
        started = time.perf_counter()
        from_files = reconcile_duckdb(
            folder / "wallet.parquet", folder / "bank.parquet", DUCK, as_of=day
        )
        out["duckdb_parquet_s"] = time.perf_counter() - started
        out["duckdb_parquet_passes"] = dict(from_files.pass_seconds)
        out["parquet_scores"] = score(gen, predict_walletlink(from_files))
        del from_files
    wallet, bank = _frames(gen)
    for name, run in (("pandas", run_pandas), ("sql", run_duckdb)):
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            exact, fuzzy = run(wallet, bank)
            best = min(best, time.perf_counter() - started)
        out[f"{name}_s"] = best
        out[f"{name}_scores"] = score(gen, _score_frames(exact, fuzzy, wallet, bank))
    return out


def peak(contender: str, folder: Path) -> None:
    """One contender on a folder's Parquet chunks in this (fresh) process: read time, run
    time, CPU and peak RSS (reading included: that is what holding the input costs)."""
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    sides = {side: str(folder / f"{side}-*.parquet") for side in ("wallet", "bank")}
    if contender == "python":
        from walletlink.reconcile.duckdb_engine import _select_records

        wallet, bank = (
            list(_select_records(con, f"SELECT 0 AS rid, * FROM read_parquet('{path}')"))
            for path in sides.values()
        )
        read = time.perf_counter() - started
        started = time.perf_counter()
        result = reconcile(wallet, bank, CONFIG, as_of=as_of(SimpleNamespace()))
        pairs = len(result.matched)
    else:
        frames = [
            con.execute(
                "SELECT id, account, currency, amount_minor AS amount, "
                "datediff('day', DATE '0001-01-01', value_date) + 1 AS day, "
                f"end_to_end_id AS ref, status FROM read_parquet('{path}')"
            ).df()
            for path in sides.values()
        ]
        read = time.perf_counter() - started
        started = time.perf_counter()
        exact, fuzzy = (run_pandas if contender == "pandas" else run_duckdb)(*frames)
        pairs = len(exact) + len(fuzzy)
    seconds = time.perf_counter() - started
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"{contender}: read {read:.1f} s, run {seconds:.1f} s, process CPU "
        f"{cpu.ru_utime + cpu.ru_stime:.1f} s, peak RSS {_rss_mb():.0f} MB ({pairs:,} rows out)"
    )


def test_chunked_files_reconcile_like_the_python_engine(tmp_path: Path) -> None:
    """Two 3k chunks through Parquet: no double use, every record once, exact recall."""
    generate_files(6_000, tmp_path, chunk=3_000)
    report = run_files(tmp_path, memory_limit="500MB")
    assert report["used_twice"] == 0
    wallet = sum(len(generate(3_000, seed=20260301 + k).wallet) for k in range(2))
    bank = sum(len(generate(3_000, seed=20260301 + k).bank) for k in range(2))
    assert wallet + bank == report["categorised"]
    assert report["scores"]["exact-key pairs (recall)"][1] >= 0.999


@pytest.mark.slow
def test_both_engines_agree_at_1m() -> None:
    report = compare(1_000_000)
    assert report["same_result"]


def main(argv: list[str]) -> None:
    if argv[:1] == ["generate"]:
        generate_files(int(argv[1]), Path(argv[2]))
    elif argv[:1] == ["replicate"]:
        replicate(Path(argv[2]), int(argv[1]))
    elif argv[:1] == ["peak"]:
        peak(argv[1], Path(argv[2]))
    elif argv[:1] == ["run"]:
        limit = argv[argv.index("--memory-limit") + 1] if "--memory-limit" in argv else "2GB"
        threads = int(argv[argv.index("--threads") + 1]) if "--threads" in argv else None
        report = run_files(Path(argv[1]), limit, threads)
        print(f"used twice {report['used_twice']}, categorised {report['categorised']:,}")
        _print_scores(report["scores"])
    else:
        for n in [int(a) for a in argv[1:]] or [1_000_000]:
            report = compare(n)
            print(f"== {n:,} wallet x {report['bank_rows']:,} bank rows ==")
            for key in ("python_s", "duckdb_records_s", "duckdb_parquet_s", "pandas_s", "sql_s"):
                print(f"{key:<20} {report[key]:.2f} s")
            print(f"same categories and pairs: {report['same_result']}")
            for name, seconds in report["duckdb_parquet_passes"].items():
                print(f"  {name:<40} {seconds:.2f} s")
            for key in ("python_scores", "duckdb_scores", "parquet_scores", "pandas_scores"):
                print(key)
                _print_scores(report[key])
            print("sql_scores")
            _print_scores(report["sql_scores"])


if __name__ == "__main__":
    main(sys.argv[1:])
