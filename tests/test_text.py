"""The text policies: the base policy of every field and ISO 20022's SEPA Latin set."""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET

import defusedxml.ElementTree as defused
import pytest
from hypothesis import given
from hypothesis import strategies as st

from walletlink.errors import InvalidTextError
from walletlink.text import (
    END_TO_END_ID,
    FIELDS,
    IDEMPOTENCY_KEY,
    METADATA_VALUE,
    REMITTANCE,
    SEPA_CHARACTERS,
    TextPolicy,
    describe,
    sepa_text,
    transliterate_sepa,
)

# XML 1.0 (Fifth Edition) production [2] Char.
XML_CHAR = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")


def test_describe_names_a_character_without_printing_controls() -> None:
    assert (
        describe("é"),
        describe("\x00"),
    ) == ("U+00E9 LATIN SMALL LETTER E WITH ACUTE", "U+0000")


@pytest.mark.parametrize(
    ("text", "position", "why"),
    [
        ("a\x00", 1, "control"),
        ("a\x1b[31m", 1, "control"),
        ("a\x7f", 1, "control"),
        ("a\x9b", 1, "control"),  # C1 CSI
        ("ab\ud83d", 2, "surrogate"),
        ("a\ufffe", 1, "noncharacter"),
        ("a\U0010ffff", 1, "noncharacter"),
        ("a\ufdd0", 1, "noncharacter"),
        ("a\u2066b", 1, "bidirectional"),
        ("a\u2028b", 1, "separator"),
        ("\ufeffab", 0, "byte order mark"),
        ("a\tb", 1, "control"),  # one line only
    ],
)
def test_base_policy_refuses_with_the_first_position(text: str, position: int, why: str) -> None:
    with pytest.raises(InvalidTextError, match=why) as info:
        REMITTANCE.check(text)
    assert ("remittance", position) == (info.value.field, info.value.position)


def test_only_a_lines_field_takes_tab_and_newline_and_none_takes_cr() -> None:
    assert METADATA_VALUE.check("a\tb\nc") == "a\tb\nc"
    with pytest.raises(InvalidTextError, match="character 1"):
        METADATA_VALUE.check("a\r\nb")


def test_text_is_nfc_and_limits_count_nfc_code_points() -> None:
    policy = TextPolicy("name", 4)
    assert policy.check("Cafe\u0301") == "Café"  # 5 code points in, 4 after NFC
    with pytest.raises(InvalidTextError, match="at most 4 characters, got 5") as info:
        policy.check("Cafés")
    assert info.value.position is None


def test_identifier_and_header_rules() -> None:
    with pytest.raises(InvalidTextError, match="white space") as info:
        END_TO_END_ID.check("abc ")
    assert info.value.position == 3
    with pytest.raises(InvalidTextError, match="non-blank"):
        END_TO_END_ID.check("")
    with pytest.raises(InvalidTextError, match="visible ASCII"):
        IDEMPOTENCY_KEY.check("key\u00a0")


def test_a_non_str_is_refused_with_its_type() -> None:
    with pytest.raises(InvalidTextError, match="must be a str, got bytes"):
        REMITTANCE.check(b"Invoice 1")


def test_every_field_has_a_policy() -> None:
    assert {
        "remittance",
        "end_to_end_id",
        "idempotency_key",
        "payout_id",
        "party name",
        "metadata key",
        "metadata value",
    } == set(FIELDS)


@given(st.text(max_size=60))
def test_accepted_text_is_utf8_and_xml_and_stable(text: str) -> None:
    """Whatever the base policy accepts encodes as UTF-8, fits XML 1.0 and checks again."""
    try:
        checked = METADATA_VALUE.check(text)
    except InvalidTextError:
        return
    checked.encode("utf-8")
    assert XML_CHAR.fullmatch(checked)
    assert (checked, True) == (
        METADATA_VALUE.check(checked),
        unicodedata.is_normalized("NFC", checked),
    )
    element = ET.Element("a")
    element.text = checked
    assert checked == (defused.fromstring(ET.tostring(element, encoding="utf-8")).text or "")


# -- SEPA Latin character set --------------------------------------------------------------


def test_the_sepa_set_is_the_epc_latin_set() -> None:
    epc = set("abcdefghijklmnopqrstuvwxyz") | set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    epc |= set("0123456789") | set("/-?:().,'+ ")
    assert frozenset(epc) == SEPA_CHARACTERS


@pytest.mark.parametrize(
    ("text", "position", "code_point"),
    [("Merchant & Co", 9, "U+0026"), ("Müller", 1, "U+00FC"), ("Ref #1", 4, "U+0023")],
)
def test_sepa_text_names_the_field_and_first_offending_character(
    text: str, position: int, code_point: str
) -> None:
    with pytest.raises(
        InvalidTextError, match=re.escape(f"character {position} ({code_point}")
    ) as info:
        sepa_text(text, field="Cdtr/Nm", max_length=70)
    assert ("Cdtr/Nm", position) == (info.value.field, info.value.position)
    assert text not in str(info.value)


def test_sepa_text_hints_at_transliteration_only_when_it_would_help() -> None:
    with pytest.raises(InvalidTextError, match="transliterate=True"):
        sepa_text("Müller", field="Nm", max_length=70)
    with pytest.raises(InvalidTextError) as info:
        sepa_text("Smith & Jones", field="Nm", max_length=70)
    assert "transliterate" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "spelled"),
    [
        ("Crème brûlée", "Creme brulee"),
        ("Jäger Straße", "Jager Strasse"),
        ("Øresund Ærø", "Oresund AEro"),
        ("Łódź", "Lodz"),
        ("Ñandú Çà", "Nandu Ca"),
        ("Őrség", "Orseg"),
        ("O’Brien – 2024", "O'Brien - 2024"),
        ("Cafe\u0301", "Cafe"),
    ],
)
def test_transliteration_spells_accented_latin_in_the_set(text: str, spelled: str) -> None:
    assert spelled == sepa_text(text, field="Nm", max_length=70, transliterate=True)


@pytest.mark.parametrize("text", ["Smith & Jones", "Ελλάδα", "北京", "10 €", "ok 👍"])
def test_transliteration_refuses_what_it_cannot_spell(text: str) -> None:
    with pytest.raises(InvalidTextError, match="outside the SEPA Latin"):
        sepa_text(text, field="Ustrd", max_length=140, transliterate=True)


def test_the_length_limit_applies_to_the_spelled_text() -> None:
    assert sepa_text("ß", field="Nm", max_length=2, transliterate=True) == "ss"
    with pytest.raises(InvalidTextError, match="at most 2 characters, got 3"):
        sepa_text("aß", field="Nm", max_length=2, transliterate=True)


@pytest.mark.parametrize(("text", "position"), [("/E2E", 0), ("E2E/", 3), ("E2//E", 2)])
def test_identifiers_follow_the_epc_slash_rule(text: str, position: int) -> None:
    assert text == sepa_text(text, field="EndToEndId", max_length=35)
    with pytest.raises(InvalidTextError, match="'//'") as info:
        sepa_text(text, field="EndToEndId", max_length=35, identifier=True)
    assert position == info.value.position


def test_a_single_inner_slash_is_a_fine_identifier() -> None:
    assert sepa_text("INV/2024/7", field="EndToEndId", max_length=35) == "INV/2024/7"


@given(st.text(max_size=40))
def test_whatever_passes_is_in_the_set(text: str) -> None:
    try:
        result = sepa_text(text, field="Ustrd", max_length=200, transliterate=True)
    except InvalidTextError:
        assert any(transliterate_sepa(c) is None for c in unicodedata.normalize("NFC", text))
        return
    assert set(result) <= SEPA_CHARACTERS


@given(st.text(st.characters(max_codepoint=0x7F), max_size=30), st.sampled_from(sorted(FIELDS)))
def test_the_ascii_fast_path_agrees_with_the_character_walk(text: str, field: str) -> None:
    """A refused character is found at the same place when a non-ASCII letter follows it."""
    policy = FIELDS[field]

    def outcome(value: str) -> tuple[str, int | None]:
        try:
            policy.check(value)
        except InvalidTextError as error:
            return error.message.split(" (")[0], error.position
        return "ok", None

    fast = outcome(text)
    slow = outcome(text + "é")
    if ": character" not in fast[0]:
        return  # passed, or refused as a whole (length, white space): the é changes that
    assert fast == slow
