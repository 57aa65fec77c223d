"""A pytest plugin for T15: run any part of the suite with walletlink logging at DEBUG and
scan every record for secrets and full account numbers.

``pytest -p tests.reliability.logscan tests`` attaches one handler to the ``walletlink``
logger for the whole session and sets it to DEBUG. Every record, from every walletlink
logger, is formatted and searched for secret markers (``sk_``, ``whsec_``, ``Bearer ey``,
PEM blocks), full IBANs, and the very API keys and webhook secrets of the mock banks the
tests create. At the end it writes ``{"records": n, "hits": [...]}`` to the file named by
``WALLETLINK_LOGSCAN_REPORT`` (and prints one line).
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any, Final

import pytest

from walletlink.testing import MockBank

IBAN: Final = re.compile(r"\b[A-Z]{2}\d{2}[A-Z0-9]{11,30}\b")
MARKERS: Final = (
    "sk_test_",
    "sk_live_",
    "whsec_",
    "whsk_",
    "PRIVATE KEY",
    "Bearer ey",
    "Bearer sk",
)


class SecretScanner(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.records = 0
        self.hits: list[dict[str, str]] = []
        self.secrets: set[str] = set()
        self.test = "(collection)"

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        self.records += 1
        found = [m for m in MARKERS if m in text] + IBAN.findall(text)
        found += [f"mock secret {s[:4]}..." for s in self.secrets if s in text]
        for what in found:
            self.hits.append({"test": self.test, "logger": record.name, "found": what})


_SCANNER: Final = SecretScanner()


def _remember_secrets(original: Any) -> Any:
    def init(self: MockBank, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        _SCANNER.secrets.update({self.api_key, self.webhook_secret})

    return init


def pytest_configure(config: pytest.Config) -> None:
    logger = logging.getLogger("walletlink")
    logger.addHandler(_SCANNER)
    logger.setLevel(logging.DEBUG)
    MockBank.__init__ = _remember_secrets(MockBank.__init__)  # type: ignore[method-assign]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _SCANNER.test = item.nodeid


def pytest_sessionfinish(session: pytest.Session) -> None:
    summary = {
        "records": _SCANNER.records,
        "hits": _SCANNER.hits[:50],
        "hit_count": len(_SCANNER.hits),
    }
    target = os.environ.get("WALLETLINK_LOGSCAN_REPORT")
    if target:
        with open(target, "w", encoding="utf-8") as out:
            json.dump(summary, out)
    print(f"\nlogscan: {_SCANNER.records} DEBUG records scanned, {len(_SCANNER.hits)} hits")
