"""Every Python block in docs/ and the README runs, page by page, as written.

A page's blocks run in order in one namespace, in a fresh temporary directory, so a page
can build a mock bank in one block and pay through it in the next. A block that is a
fragment on purpose (a signature, a sketch of user code) says so: ```python title="sketch"
or an ``<!-- not-run: why -->`` line right before it.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
# docs/zh/ too: a translated page is a page, and its examples must run as the English ones do.
PAGES = [*sorted((ROOT / "docs").glob("**/*.md")), ROOT / "README.md"]
_BLOCK = re.compile(
    r"^(?P<fence>```+)(?P<info>[^\n]*)\n(?P<code>.*?)^(?P=fence)[ \t]*$", re.M | re.S
)
_NOT_RUN = "<!-- not-run"


def python_blocks(text: str) -> list[tuple[int, str, bool]]:
    """(line, code, runs) of each ```python block of a Markdown page."""
    blocks = []
    for match in _BLOCK.finditer(text):
        info = match["info"].strip()
        if info.split(" ", 1)[0] not in ("python", "py"):
            continue
        before = text[: match.start()].rstrip().rsplit("\n", 1)[-1].strip()
        runs = 'title="sketch"' not in info and not before.startswith(_NOT_RUN)
        line = text.count("\n", 0, match.start()) + 1
        blocks.append((line, match["code"], runs))
    return blocks


def test_the_block_finder_sees_markers() -> None:
    page = (
        "```python\nx = 1\n```\n\n<!-- not-run -->\n```python\nimport nowhere\n```\n"
        '```python title="sketch"\n...\n```\n```\nplain\n```\n'
    )
    assert python_blocks(page) == [
        (1, "x = 1\n", True),
        (6, "import nowhere\n", False),
        (9, "...\n", False),
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_python_block_runs(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = python_blocks(page.read_text(encoding="utf-8"))
    if not any(runs for _, _, runs in blocks):
        pytest.skip(f"{page.name} has no Python block to run")
    # Pages read the repository's sample files by relative path, as from a checkout.
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for line, code, runs in blocks:
        if runs:
            run_block(code, f"{page.name}:{line}", namespace)
    capsys.readouterr()


def run_block(code: str, name: str, namespace: dict[str, object]) -> None:
    """Run one block: a ``>>>`` session as a doctest (its output checked), else as code."""
    if not code.lstrip().startswith(">>>"):
        exec(compile(code, name, "exec"), namespace)  # noqa: S102
        return
    test = doctest.DocTestParser().get_doctest(code, namespace, name, name, 0)
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=report.append, clear_globs=False)
    assert runner.failures == 0, "".join(report)


def test_the_client_docstring_example_is_a_doctest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import walletlink.client

    monkeypatch.chdir(tmp_path)  # the example writes its journal file
    failures, tried = doctest.testmod(walletlink.client, optionflags=doctest.ELLIPSIS)
    assert (failures, tried > 0) == (0, True)


def test_the_plugin_test_file_in_the_docs_is_the_one_we_run() -> None:
    page = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    ours = (ROOT / "tests" / "testing" / "test_pytest_plugin.py").read_text(encoding="utf-8")
    assert ours in [code for _, code, _ in python_blocks(page)]
