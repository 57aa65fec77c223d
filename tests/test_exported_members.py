"""The public surface is deliberate: sorted, importable, and documented."""

from pathlib import Path
from types import ModuleType

import pytest

import walletlink
import walletlink.formats
import walletlink.journal
import walletlink.reconcile
import walletlink.signing
import walletlink.testing

API_DOC = Path(__file__).parent.parent / "docs" / "api.md"


def test_all_is_sorted_and_unique() -> None:
    assert walletlink.__all__ == sorted(set(walletlink.__all__))


def test_every_exported_name_exists() -> None:
    for name in walletlink.__all__:
        assert hasattr(walletlink, name), name


def test_every_exported_name_is_documented() -> None:
    text = API_DOC.read_text(encoding="utf-8")
    missing = [name for name in walletlink.__all__ if f"`{name}`" not in text]
    assert missing == []


@pytest.mark.parametrize(
    "package",
    [
        walletlink.signing,
        walletlink.formats,
        walletlink.reconcile,
        walletlink.testing,
        walletlink.journal,
    ],
    ids=lambda package: package.__name__,
)
def test_every_subpackage_name_is_documented(package: ModuleType) -> None:
    text = API_DOC.read_text(encoding="utf-8")
    missing = [name for name in package.__all__ if f"`{name}`" not in text]
    assert missing == []
