"""Save, then compare, a canonical dump of the engine's results on the benchmark days.

For optimisations that must not change a single decision: ``save`` runs the engine on the
labelled days of :mod:`groundtruth` (20k in every delivery, 200k camt and MT940) and on the
synthetic day of ``bench_reconcile`` (100k), and writes every result item, one ``repr`` a
line, to ``DIR``; ``check`` runs the same days again and reports the first line that
differs per day. The inputs are pickled next to the dumps on the first run, so a check does
not regenerate (and re-parse) the bank files; ``--fresh`` rebuilds them.

    .venv/bin/python benchmarks/result_digest.py save /tmp/recon-digest
    .venv/bin/python benchmarks/result_digest.py check /tmp/recon-digest [DAY ...]
"""

from __future__ import annotations

import hashlib
import pickle
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import attrs
import bench_reconcile
import groundtruth

from walletlink.reconcile import ReconcileConfig, ReconciliationResult, Record, reconcile

Inputs = tuple[list[Record], list[Record], ReconcileConfig, date]


def _labelled(n: int, fmt: groundtruth.BankFormat) -> Callable[[], Inputs]:
    def build() -> Inputs:
        with tempfile.TemporaryDirectory() as directory:
            day = groundtruth.generate(n, fmt, Path(directory))
        return day.wallet, day.bank, day.config, day.as_of

    return build


def _synthetic(n: int) -> Callable[[], Inputs]:
    def build() -> Inputs:
        gen = bench_reconcile.generate(n)
        return gen.wallet, gen.bank, bench_reconcile.CONFIG, bench_reconcile.as_of(gen)

    return build


DAYS: dict[str, Callable[[], Inputs]] = {
    "gt-20k-camt": _labelled(20_000, "camt"),
    "gt-20k-mt940": _labelled(20_000, "mt940"),
    "gt-20k-both": _labelled(20_000, "camt+mt940"),
    "gt-200k-camt": _labelled(200_000, "camt"),
    "gt-200k-mt940": _labelled(200_000, "mt940"),
    "synthetic-100k": _synthetic(100_000),
}


def dump_lines(result: ReconciliationResult) -> Iterator[str]:
    """Every field of the result but the timings, each item on its own line, in result order."""
    for field in attrs.fields(ReconciliationResult):
        if field.name == "pass_seconds":
            continue
        value = getattr(result, field.name)
        if isinstance(value, tuple):
            yield f"## {field.name} {len(value)}"
            for item in value:
                yield repr(item)
        else:
            yield f"## {field.name} = {value!r}"


def _inputs(directory: Path, name: str, fresh: bool) -> Inputs:
    path = directory / f"{name}.inputs.pickle"
    if path.exists() and not fresh:
        with path.open("rb") as f:
            inputs: Inputs = pickle.load(f)  # noqa: S301 - our own file, written above
        return inputs
    inputs = DAYS[name]()
    with path.open("wb") as f:
        pickle.dump(inputs, f, protocol=pickle.HIGHEST_PROTOCOL)
    return inputs


def _run(directory: Path, name: str, fresh: bool) -> tuple[list[str], float]:
    wallet, bank, config, as_of = _inputs(directory, name, fresh)
    started = time.perf_counter()
    result = reconcile(wallet, bank, config, as_of=as_of)
    seconds = time.perf_counter() - started
    return list(dump_lines(result)), seconds


def _first_difference(old: list[str], new: list[str]) -> str:
    for number, (a, b) in enumerate(zip(old, new, strict=False), start=1):
        if a != b:
            return f"line {number}:\n  before {a[:300]}\n  after  {b[:300]}"
    return f"one dump is longer ({len(old)} vs {len(new)} lines)"


def main(argv: list[str]) -> int:
    fresh = "--fresh" in argv
    args = [a for a in argv if a != "--fresh"]
    if len(args) < 2 or args[0] not in ("save", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    command, directory, names = args[0], Path(args[1]), args[2:] or list(DAYS)
    directory.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name in names:
        lines, seconds = _run(directory, name, fresh)
        text = "\n".join(lines) + "\n"
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        target = directory / f"{name}.dump"
        if command == "save":
            target.write_text(text)
            print(f"{name}: saved {len(lines)} lines, sha256 {digest}, engine {seconds:.2f} s")
            continue
        old = target.read_text()
        if old == text:
            print(f"{name}: identical ({len(lines)} lines, {digest}), engine {seconds:.2f} s")
        else:
            failed += 1
            print(f"{name}: DIFFERS, {_first_difference(old.splitlines(), lines)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
