"""Every Python block in docs/ and the README runs, page by page, as written.

A page's blocks run in order in one namespace, in a fresh temporary directory, so a page
can build a mock bank in one block and pay through it in the next. There is no way to mark
a block as not run: a fragment is completed (against a mock bank) until it runs.

Production configuration reads what production keeps outside the code: key files under
``$WALLET_SECRETS_DIR``, the journal's database at ``$WALLETLINK_JOURNAL_DSN``. For the
pages that do, the runner writes real keys and certificates taken from the matching mock
bank there (so ``BankConfig``'s own checks of the files run), and gives the PostgreSQL page
a fresh, migrated database on the server of ``WALLETLINK_TEST_PG_DSN`` (skipped without
one, failed under ``CI=true``, like every PostgreSQL test).
"""

from __future__ import annotations

import doctest
import importlib
import json
import logging
import pkgutil
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import attrs
import pytest

import walletlink
from tests.conftest import postgres_server

ROOT = Path(__file__).parent.parent
# docs/zh/ too: a translated page is a page, and its examples must run as the English ones do.
PAGES = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
_BLOCK = re.compile(
    r"^(?P<fence>```+)(?P<info>[^\n]*)\n(?P<code>.*?)^(?P=fence)[ \t]*$", re.M | re.S
)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line, code) of each ```python block of a Markdown page."""
    blocks = []
    for match in _BLOCK.finditer(text):
        if match["info"].strip().split(" ", 1)[0] not in ("python", "py"):
            continue
        blocks.append((text.count("\n", 0, match.start()) + 1, match["code"]))
    return blocks


def test_the_block_finder_sees_every_python_block() -> None:
    page = (
        "```python\nx = 1\n```\n\n<!-- a comment -->\n```py\nimport nowhere\n```\n"
        '```python title="example"\n...\n```\n```\nplain\n```\n'
        "````md\n```python\nquoted\n```\n````\n"
    )
    assert python_blocks(page) == [(1, "x = 1\n"), (6, "import nowhere\n"), (9, "...\n")]


def test_no_page_marks_a_block_as_not_run() -> None:
    # The markers this runner once honoured; a page still using one would document a block
    # nobody runs, so it is refused here rather than silently run or silently skipped.
    markers = re.compile(r'<!--\s*not-run|```py(?:thon)?[^\n]*title="sketch"')
    assert [page.name for page in PAGES if markers.search(page.read_text("utf-8"))] == []


@attrs.frozen
class Stage:
    """Where a page's blocks run: ``cwd`` (the page's working directory), ``secrets`` (the
    page's ``$WALLET_SECRETS_DIR``), the ``namespace`` they share, and what to set and close
    around them."""

    cwd: Path
    secrets: Path
    namespace: dict[str, object]
    env: pytest.MonkeyPatch
    stack: ExitStack


def _write(path: Path, *parts: bytes | str) -> None:
    path.write_bytes(b"".join(part.encode() if isinstance(part, str) else part for part in parts))


def _berlin_group(stage: Stage) -> None:
    from walletlink.testing import MockBank

    server = MockBank("berlin_group").server
    tpp = server.tpp
    _write(stage.secrets / "qwac.pem", tpp.qwac.certificate_pem())
    _write(stage.secrets / "qwac.key", tpp.qwac.private_key_pem())
    _write(stage.secrets / "acme-bank-ca.pem", server.pki.ca.certificate_pem())
    _write(stage.secrets / "qseal.pem", tpp.qseal.private_key_pem(), tpp.qseal.certificate_pem())


def _openbanking_uk(stage: Stage) -> None:
    from walletlink.testing import MockBank

    material = MockBank("openbanking_uk").server.material
    _write(stage.secrets / "transport.pem", material.tpp_transport.certificate_pem())
    _write(stage.secrets / "transport.key", material.tpp_transport.private_key_pem())
    _write(stage.secrets / "ob-directory-ca.pem", material.ca.certificate_pem())
    _write(stage.secrets / "obseal.key", material.tpp_signing.private_key_pem())
    jwks = {"keys": [material.bank_signing.public().to_jwk()]}
    _write(stage.secrets / "alphabank-jwks.json", json.dumps(jwks))


def _iso20022_h2h(stage: Stage) -> None:
    from walletlink.signing import TestCA
    from walletlink.testing import FakeClock, MockBank

    bank = MockBank("iso20022_h2h")
    _write(stage.secrets / "h2h-signing.pem", bank.server.client_key.private_key_pem())
    now = FakeClock().now()
    tls = TestCA.create(now=now, subject="bank's client CA").issue("wallet", now=now, client=True)
    _write(stage.secrets / "wallet.crt", tls.certificate_pem())
    _write(stage.secrets / "wallet.key", tls.private_key_pem())


def _wechatpay_v3(stage: Stage) -> None:
    from walletlink.testing import MockBank

    # "migrating" holds both trust anchors, as the page's configuration does.
    credentials = MockBank("wechatpay_v3", mode="migrating").config().credentials
    _write(stage.secrets / "apiclient_key.pem", credentials["merchant_private_key"])
    _write(stage.secrets / "api_v3_key", credentials["api_v3_key"], "\n")
    _write(stage.secrets / "pub_key.pem", credentials["wechatpay_public_key"])
    _write(stage.secrets / "platform_cert.pem", credentials["platform_certificate"])


def _cn_openapi(stage: Stage) -> None:
    from walletlink.testing import MockBank

    # The open-platform console's downloads, under their own names, where the page opens them.
    credentials = MockBank("cn_openapi", cert_mode=True).config().credentials
    _write(stage.cwd / "appCertPublicKey_2021000000000001.crt", credentials["app_cert"])
    _write(stage.cwd / "alipayRootCert.crt", credentials["alipay_root_cert"])
    _write(stage.cwd / "alipayCertPublicKey_RSA2.crt", credentials["gateway_cert"])


def _postgres(stage: Stage) -> None:
    from walletlink.journal import PostgresJournal
    from walletlink.signing import generate_ed25519_key
    from walletlink.testing.postgres import temporary_database

    dsn = stage.stack.enter_context(temporary_database(postgres_server()))
    # The deploy step the page describes (`walletlink journal migrate`), done before it runs.
    PostgresJournal.migrate(dsn, schema="walletlink")
    stage.env.setenv("WALLETLINK_JOURNAL_DSN", dsn)
    key = generate_ed25519_key("journal-2026")
    _write(stage.secrets / "journal-2026.pem", key.private_key_pem())

    def close_journals() -> None:
        # What the page's process would close at exit (before the database is dropped):
        # its journals, held by name or by a client.
        for value in list(stage.namespace.values()):
            for held in (value, getattr(value, "journal", None)):
                if isinstance(held, PostgresJournal):
                    held.close()

    stage.stack.callback(close_journals)


#: What each page reads from outside its code, by file name.
PAGE_STAGES: dict[str, Callable[[Stage], None]] = {
    "berlin_group.md": _berlin_group,
    "cn_openapi.md": _cn_openapi,
    "iso20022_h2h.md": _iso20022_h2h,
    "openbanking_uk.md": _openbanking_uk,
    "postgres.md": _postgres,
    "wechatpay_v3.md": _wechatpay_v3,
}


@pytest.fixture
def isolated_globals(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Undo what a page may change for the whole process: the ``walletlink`` logger's
    handlers and level, and the mock banks' protocol registry."""
    from walletlink.testing import mockbank

    monkeypatch.setattr(mockbank, "_PROTOCOL_SERVERS", dict(mockbank._PROTOCOL_SERVERS))
    logger = logging.getLogger("walletlink")
    handlers, level = list(logger.handlers), logger.level
    try:
        yield
    finally:
        logger.handlers[:] = handlers
        logger.setLevel(level)


@pytest.mark.usefixtures("isolated_globals")
@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_python_block_runs(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = python_blocks(page.read_text(encoding="utf-8"))
    if not blocks:
        pytest.skip(f"{page.name} has no Python block")
    cwd, secrets = tmp_path / "cwd", tmp_path / "secrets"
    cwd.mkdir()
    secrets.mkdir()
    # Pages read the repository's sample files by relative path, as from a checkout.
    (cwd / "tests").symlink_to(ROOT / "tests")
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("WALLET_SECRETS_DIR", str(secrets))
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    with ExitStack() as stack:
        stage = PAGE_STAGES.get(page.name)
        if stage is not None:
            stage(Stage(cwd, secrets, namespace, monkeypatch, stack))
        for line, code in blocks:
            run_block(code, f"{page.relative_to(ROOT)}:{line}", namespace)
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


def walletlink_modules() -> list[str]:
    """Every module of the walletlink package: the public ones, and the private ones whose
    classes the public names re-export (``RetryPolicy`` lives in ``walletlink._retry``)."""
    names = ["walletlink"]
    for info in pkgutil.walk_packages(walletlink.__path__, "walletlink."):
        if not info.name.endswith(".__main__"):  # importing it would run the CLI
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", walletlink_modules())
def test_every_docstring_example_runs(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # an optional extra that is not installed
        pytest.skip(f"{name}: {exc}")
    monkeypatch.chdir(tmp_path)  # examples may write files (the Client's journal does)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


def test_the_docstring_examples_are_found() -> None:
    # The three modules with ``>>>`` examples today; a finder that saw none would pass above.
    import walletlink.aio
    import walletlink.client
    import walletlink.money

    for module in (walletlink.aio, walletlink.client, walletlink.money):
        tests = doctest.DocTestFinder().find(module, module.__name__)
        assert sum(len(test.examples) for test in tests) > 0, module.__name__


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
    assert ours in [code for _, code in python_blocks(page)]
