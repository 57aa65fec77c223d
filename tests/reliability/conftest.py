"""The reliability suite: one module per row of the T1-T16 table (docs/reliability.md).

Every row runs at two sizes. ``make test`` runs the quick size (the whole directory in about
a minute on two cores); ``make reliability`` sets ``WALLETLINK_RELIABILITY_SCALE=full`` and
runs the published counts (10,000 transfers, 200 SIGKILLs per recovery point, ...). Each
row reports one line of figures, printed together at the end of the run::

    T1 10000 transfers, 2003 replies dropped: 0 dup, 0 lost, 100% final

The figures are measured, never assumed: a row computes them from the bank's ledger and
the journal, then asserts the pass figure on the same numbers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Final, TypeVar

import attrs
import pytest

SCALE_VARIABLE: Final = "WALLETLINK_RELIABILITY_SCALE"

T = TypeVar("T")

#: test node id -> (row, line), in the order the tests ran.
_FIGURES: dict[str, tuple[str, str]] = {}


@attrs.frozen
class Scale:
    """The size of this run: ``quick`` inside ``make test``, ``full`` for the published counts."""

    full: bool

    @classmethod
    def from_environment(cls) -> Scale:
        value = os.environ.get(SCALE_VARIABLE, "quick").strip().lower()
        if value not in ("quick", "full"):
            raise pytest.UsageError(f"{SCALE_VARIABLE} is 'quick' or 'full', not {value!r}")
        return cls(full=value == "full")

    @property
    def name(self) -> str:
        return "full" if self.full else "quick"

    def pick(self, quick: T, full: T) -> T:
        """``full`` at full scale, ``quick`` otherwise."""
        return full if self.full else quick


SCALE: Final = Scale.from_environment()


@pytest.fixture(scope="session")
def scale() -> Scale:
    return SCALE


Report = Callable[[str, str], None]


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Report:
    """``report("T1", "10000 transfers, ...")``: the row's line of figures for the summary.

    A row with several tests (or parametrised cases) reports one line for each.
    """

    def record(row: str, figures: str) -> None:
        _FIGURES[request.node.nodeid] = (row, f"{row} {figures}")

    return record


def record_figures(key: str, row: str, figures: str) -> None:
    """:func:`report` for code without fixtures (a hypothesis state machine); ``key`` keeps
    its line apart, and a later call replaces an earlier one."""
    _FIGURES[key] = (row, f"{row} {figures}")


def _row_number(row: str) -> int:
    return int(row[1:]) if row[1:].isdigit() else 99


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _FIGURES:
        return
    terminalreporter.section(f"reliability figures ({SCALE.name} scale)")
    # sorted() is stable: the lines of one row stay in the order their tests ran.
    for _, line in sorted(_FIGURES.values(), key=lambda item: _row_number(item[0])):
        terminalreporter.write_line(line)
