"""T15: the test suite run with walletlink logging at DEBUG leaks no secret into the logs.

A child pytest runs part of the suite (the whole of it, less this directory, at full scale)
with the ``tests.reliability.logscan`` plugin, which scans every walletlink record for
secret markers, full IBANs and the mock banks' own API keys and webhook secrets.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.reliability.conftest import Report, Scale

ROOT = Path(__file__).resolve().parents[2]


def test_t15_suite_at_debug_logs_no_secret(tmp_path: Path, scale: Scale, report: Report) -> None:
    targets = scale.pick(
        ["tests/test_client.py"],
        ["tests", "--ignore=tests/reliability"],
    )
    summary = tmp_path / "logscan.json"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.reliability.logscan", *targets],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "WALLETLINK_LOGSCAN_REPORT": str(summary)},
        capture_output=True,
        text=True,
        timeout=3600,
    )
    scanned = json.loads(summary.read_text())
    outcome = re.search(r"\d+ (passed|failed)[^=\n]*", result.stdout)
    report(
        "T15",
        f"{' '.join(targets)} at DEBUG ({outcome.group(0).strip() if outcome else '?'}): "
        f"{scanned['records']} records "
        f"scanned, {scanned['hit_count']} PAN, key or secret hits",
    )
    assert scanned["hits"] == []
    assert scanned["records"] > 100  # the scan saw real traffic
    assert result.returncode == 0, result.stdout[-3000:]
