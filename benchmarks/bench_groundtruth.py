"""Precision and recall per category on a labelled bank day, read through the real readers.

The day comes from :mod:`benchmarks.groundtruth`: a wallet ledger and the same bank day as
camt.053.001.08, as MT940, and as both (the reimport case). Each run prints one column of
``precision / recall`` per category, the engine time (reading excluded) and the peak RSS.

    .venv/bin/python benchmarks/bench_groundtruth.py [SIZE ...] [camt|mt940|camt+mt940] [--pandas]

``--pandas`` also times, in the same process and on the same read records, the pandas merge
baseline of ``bench_reconcile.py`` (best of 3, from ready frames), and prints the ratio.

``make test`` runs 2k in all three deliveries and asserts >= 0.99 on every category;
``-m slow`` runs 20k and 200k.
"""

from __future__ import annotations

import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

import pytest
from bench_reconcile import frames, run_pandas, timed
from groundtruth import CATEGORIES, BankFormat, format_table, generate, score

from walletlink.reconcile import reconcile

FORMATS: Final[tuple[BankFormat, ...]] = ("camt", "mt940", "camt+mt940")


def run(
    n: int,
    fmt: BankFormat,
    passes: list[tuple[str, float]] | None = None,
    baseline: dict[str, float] | None = None,
) -> tuple[dict[str, tuple[float, float]], float, int, int]:
    """Scores, engine seconds, wallet and bank record counts for one labelled day.

    ``passes``, when given, receives the engine's per-pass seconds; ``baseline``, when given,
    the pandas merge's best time on the same records (``"pandas_s"``).
    """
    with tempfile.TemporaryDirectory() as directory:
        day = generate(n, fmt, Path(directory))
    started = time.perf_counter()
    result = reconcile(day.wallet, day.bank, day.config, as_of=day.as_of)
    seconds = time.perf_counter() - started
    if passes is not None:
        passes.extend(result.pass_seconds)
    figures = score(result, day)
    if baseline is not None:
        del result
        wallet, bank = frames(day.wallet, day.bank)
        _, baseline["pandas_s"] = timed(lambda: run_pandas(wallet, bank), repeat=3)
    return figures, seconds, len(day.wallet), len(day.bank)


def _assert_all_at_least(figures: dict[str, tuple[float, float]], floor: float) -> None:
    low = {name: figures[name] for name in CATEGORIES if min(figures[name]) < floor}
    assert low == {}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_category_at_2k(fmt: BankFormat) -> None:
    figures, *_ = run(2_000, fmt)
    _assert_all_at_least(figures, 0.99)


@pytest.mark.slow
@pytest.mark.parametrize("n", [20_000, 200_000])
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_category_at_size(n: int, fmt: BankFormat) -> None:
    figures, *_ = run(n, fmt)
    _assert_all_at_least(figures, 0.99)


def main(argv: list[str]) -> None:
    formats = [a for a in argv if a in FORMATS] or list(FORMATS)
    with_pandas = "--pandas" in argv
    sizes = [int(a) for a in argv if a not in FORMATS and a != "--pandas"] or [
        2_000,
        20_000,
        200_000,
        1_000_000,
    ]
    columns = []
    for n in sizes:
        for fmt in formats:
            passes: list[tuple[str, float]] = []
            baseline: dict[str, float] | None = {} if with_pandas else None
            figures, seconds, wallet, bank = run(n, fmt, passes, baseline)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            print(
                f"{fmt} n={n}: {wallet} wallet x {bank} bank rows, engine {seconds:.2f} s, "
                f"peak RSS so far {rss} MB",
                file=sys.stderr,
            )
            if baseline:
                pandas_s = baseline["pandas_s"]
                print(
                    f"  pandas merge {pandas_s:.2f} s (best of 3, same records), "
                    f"ratio {seconds / pandas_s:.1f}x",
                    file=sys.stderr,
                )
            print("  " + ", ".join(f"{name} {t:.2f} s" for name, t in passes), file=sys.stderr)
            columns.append((f"{fmt} {n:,}", figures))
    print(format_table(columns))


if __name__ == "__main__":
    main(sys.argv[1:])


def test_result_does_not_depend_on_input_order(tmp_path: Path) -> None:
    # Reversals, block assignment and date-ordered batch search all decide by canonical
    # position: shuffling either input must give the identical result.
    day = generate(2_000, "camt+mt940", tmp_path)
    first = reconcile(day.wallet, day.bank, day.config, as_of=day.as_of)
    rnd = random.Random(7)
    wallet, bank = list(day.wallet), list(day.bank)
    rnd.shuffle(wallet)
    rnd.shuffle(bank)
    assert reconcile(wallet, bank, day.config, as_of=day.as_of) == first
