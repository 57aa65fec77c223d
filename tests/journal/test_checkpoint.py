"""Signed checkpoints of chain heads: sign, keep as JSON, verify with the public key."""

from __future__ import annotations

import json

import attrs
import pytest

from walletlink.errors import ConfigurationError, JournalIntegrityError
from walletlink.journal import Checkpoint
from walletlink.journal.conformance import T0
from walletlink.signing import generate_ec_key, generate_ed25519_key

KEY = generate_ed25519_key("journal-2026")
HEADS = {"bank-a": (12, "ab" * 32), "bank-b/0123456789abcdef": (3, "cd" * 32)}


def _signed() -> Checkpoint:
    return Checkpoint.sign(KEY, journal="walletlink", kind="heads", heads=HEADS, taken_at=T0)


def test_a_checkpoint_round_trips_through_json_and_verifies_with_the_public_key() -> None:
    kept = Checkpoint.from_json(_signed().to_json())
    assert kept.verify(KEY.public()) == HEADS
    assert (kept.journal, kept.kid) == ("walletlink", "journal-2026")
    assert json.loads(kept.body)["taken_at"] == "2026-01-02T03:04:05+00:00"


def _first_character_changed(text: str) -> str:
    # To "B" when it is already "A": a fixed "A" left 1 key in 64 unchanged (a flaky test).
    return ("B" if text[0] == "A" else "A") + text[1:]


@pytest.mark.parametrize(
    "change",
    [
        {"body": _signed().body.replace('"bank-a":[12', '"bank-a":[11')},
        {"signature": _first_character_changed(_signed().signature)},
        {"signature": "not base64!"},
    ],
    ids=["body", "signature", "garbage"],
)
def test_an_altered_checkpoint_does_not_verify(change: dict[str, str]) -> None:
    forged = attrs.evolve(_signed(), **change)
    with pytest.raises(JournalIntegrityError, match="does not verify"):
        forged.verify(KEY)


def test_another_key_does_not_verify_it() -> None:
    with pytest.raises(JournalIntegrityError):
        _signed().verify(generate_ed25519_key("journal-2026"))


def test_only_ed25519_keys_sign_checkpoints() -> None:
    with pytest.raises(ConfigurationError, match="Ed25519"):
        Checkpoint.sign(
            generate_ec_key("p256"), journal="walletlink", kind="heads", heads={}, taken_at=T0
        )


def test_text_that_is_not_a_checkpoint_is_refused() -> None:
    with pytest.raises(JournalIntegrityError, match="not a journal checkpoint"):
        Checkpoint.from_json('{"body": 1}')
