"""T13: the parsers that read bank and network input raise only their typed errors.

Two engines over the same targets (tests/reliability/fuzz_targets.py): hypothesis drawing
edits of the seed corpus, in process; and a fuzzer process per target, atheris when it is
installed (``pip install atheris``: coverage-guided, Linux wheels up to Python 3.11), else
a seeded mutation loop. The full scale runs 10^6 executions per target.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.conftest import SCALE, Report
from tests.reliability.fuzz_targets import TARGETS, corpus, mutate, run_one

ROOT = Path(__file__).resolve().parents[2]
ATHERIS = importlib.util.find_spec("atheris") is not None


@pytest.mark.parametrize("name", sorted(TARGETS))
@settings(
    max_examples=SCALE.pick(50, 2_000),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_t13_hypothesis_edits_raise_only_typed_errors(name: str, data: st.DataObject) -> None:
    rng = data.draw(st.randoms(use_true_random=False))
    sample = data.draw(st.sampled_from(corpus(name)))
    for _ in range(data.draw(st.integers(1, 4))):
        sample = mutate(sample, rng)
    run_one(name, sample)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_t13_fuzzer_finds_no_crash(name: str, tmp_path: Path, report: Report) -> None:
    runs = SCALE.pick(1_000, 1_000_000)
    module = "tests.reliability.fuzz_atheris" if ATHERIS else "tests.reliability.fuzz_targets"
    result = subprocess.run(
        [sys.executable, "-m", module, name, str(runs)],
        # libFuzzer writes a crashing input to its working directory: keep it out of the tree.
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=3600,
    )
    done = f"Done {runs} runs" in result.stderr if ATHERIS else result.returncode == 0
    report(
        "T13",
        f"{name}: {runs} executions ({'atheris' if ATHERIS else 'mutation loop'}), "
        f"{'0 crashes' if result.returncode == 0 and done else 'CRASHED'}",
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert done, result.stderr[-2000:]
