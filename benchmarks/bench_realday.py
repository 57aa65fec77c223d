"""Precision and recall per category on the adversarial bank day, through the real CLI.

The day comes from :mod:`benchmarks.realday` (a ledger CSV, camt.053.001.08 and MT940 files,
every record labelled); each delivery is reconciled by ``walletlink reconcile`` with
``benchmarks/realday_rules.toml`` and scored from the JSON report.

    .venv/bin/python benchmarks/bench_realday.py [SIZE ...]

``make test`` runs 2k in all three deliveries and asserts >= 0.99 on every category;
``-m slow`` runs 20k and 200k with the same assertion.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

import pytest
from realday import CATEGORIES, Delivery, format_table, generate, prepare, run_cli, score

DELIVERIES: Final[tuple[Delivery, ...]] = ("camt", "mt940", "camt+mt940")


def run(
    n: int, deliveries: tuple[Delivery, ...] = DELIVERIES
) -> list[tuple[str, dict[str, tuple[float, float]], float]]:
    """``(delivery, scores, CLI seconds)`` for each delivery of one generated day."""
    out = []
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        builder = generate(n, folder)
        for delivery in deliveries:
            day = prepare(builder, delivery, folder)
            started = time.perf_counter()
            report = run_cli(day, folder / f"report-{delivery.replace('+', '-')}.json")
            out.append((delivery, score(report, day), time.perf_counter() - started))
    return out


def _low(figures: dict[str, tuple[float, float]], floor: float) -> dict[str, tuple[float, float]]:
    return {name: figures[name] for name in CATEGORIES if min(figures[name]) < floor}


def test_every_category_at_2k() -> None:
    for delivery, figures, _ in run(2_000):
        assert (delivery, _low(figures, 0.99)) == (delivery, {})


@pytest.mark.slow
@pytest.mark.parametrize("n", [20_000, 200_000])
def test_every_category_at_scale(n: int) -> None:
    for delivery, figures, _ in run(n):
        assert (delivery, _low(figures, 0.99)) == (delivery, {})


def main(sizes: list[int]) -> None:
    for n in sizes:
        results = run(n)
        print(f"## {n:,} wallet rows")
        print(format_table((f"{d} ({s:.1f} s)", f) for d, f, s in results))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [2_000])
