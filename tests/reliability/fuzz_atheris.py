"""``python -m tests.reliability.fuzz_atheris NAME RUNS``: T13 under atheris.

Only walletlink is instrumented for coverage (instrumenting everything loaded costs a
minute per process), so the targets are imported inside ``instrument_imports``.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["walletlink"]):
    from tests.reliability import fuzz_targets

if __name__ == "__main__":
    fuzz_targets.atheris_fuzz(sys.argv[1], int(sys.argv[2]))
