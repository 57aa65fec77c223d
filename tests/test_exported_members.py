"""The public surface is deliberate: sorted, importable, and documented."""

from pathlib import Path

import walletlink

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
