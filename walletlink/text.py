"""One text policy per field: what walletlink accepts in names, references and free text.

Text reaches a bank in JSON bodies, XML files, HTTP headers and signatures. A lone surrogate
cannot be encoded as UTF-8, a NUL or a C1 control breaks an XML document or a header, and a
bidi override makes a creditor name read differently from what it is. So every text field
of a :class:`~walletlink.models.TransferRequest` and a :class:`~walletlink.models.Party` is
checked at the door by one :class:`TextPolicy`, before any I/O, and refused with an
:class:`~walletlink.errors.InvalidTextError` that names the field and the position of the
first offending character, never the text itself.

The base policy, for every protocol:

- valid Unicode text: no lone surrogates (``U+D800``–``U+DFFF``), no noncharacters
  (``U+FDD0``–``U+FDEF``, ``U+xFFFE``, ``U+xFFFF``: XML 1.0 forbids ``U+FFFE``/``U+FFFF``);
- no C0 or C1 control characters and no ``DEL``. Only a field that allows lines (metadata
  values) accepts tab and line feed; no field accepts a carriage return, ``U+2028`` or
  ``U+2029`` (one line-break spelling, ``\\n``, where lines are allowed at all);
- no bidirectional embedding, override or isolate controls (``U+202A``–``U+202E``,
  ``U+2066``–``U+2069``) and no byte order mark (``U+FEFF``);
- normalised to NFC: canonically equivalent spellings (``é`` as one code point or as ``e`` +
  combining acute) are the same text, so they are stored, hashed and sent as one. This is not
  a repair: NFC never changes what the text says;
- a length limit per field, counted in code points after NFC.

:data:`FIELDS` lists each field's policy. ISO 20022 files add a stricter policy on top, the
SEPA Latin character set (:func:`sepa_text`), applied by the pain.001 builder.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final, NoReturn

import attrs

from walletlink.errors import InvalidTextError

__all__ = [
    "END_TO_END_ID",
    "FIELDS",
    "IDEMPOTENCY_KEY",
    "METADATA_ENTRIES",
    "METADATA_KEY",
    "METADATA_VALUE",
    "PARTY_NAME",
    "REMITTANCE",
    "SEPA_CHARACTERS",
    "TextPolicy",
    "describe",
    "sepa_text",
    "transliterate_sepa",
]

_LINE_CONTROLS: Final = frozenset("\t\n")
_BIDI_CONTROLS: Final = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)  # fmt: skip
_REFUSED_FORMAT: Final = frozenset("\u2028\u2029\ufeff")
_ASCII_REFUSED: Final = re.compile(r"[\x00-\x1f\x7f]")
_ASCII_REFUSED_IN_LINES: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_NOT_VISIBLE_ASCII: Final = re.compile(r"[^!-~]")
# NFC never makes text more than a few times shorter; a longer value cannot fit its limit.
_MAX_EXPANSION: Final = 4


def describe(char: str) -> str:
    """``"U+00E9 LATIN SMALL LETTER E WITH ACUTE"``: a character named without printing it."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X} {name}".rstrip()


def _why_refused(char: str, lines: bool) -> str | None:
    """Why the base policy refuses ``char``, or ``None`` when it is accepted."""
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return "is a lone surrogate (not encodable as UTF-8)"
    if code < 0x20 or 0x7F <= code <= 0x9F:
        if lines and char in _LINE_CONTROLS:
            return None
        return "is a control character"
    if 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE:
        return "is a Unicode noncharacter"
    if char in _BIDI_CONTROLS:
        return "is a bidirectional control"
    if char in _REFUSED_FORMAT:
        return "is a line/paragraph separator or byte order mark"
    return None


@attrs.frozen
class TextPolicy:
    """The base policy of one field.

    ``lines`` allows tab and line feed; ``identifier`` refuses surrounding white space (a
    reference is compared byte for byte, and XML readers strip it); ``visible_ascii`` allows
    only ``!``–``~`` (values that travel in HTTP headers). A ``min_length`` of 1 or more also
    refuses text that is only white space.
    """

    field: str
    max_length: int
    min_length: int = 0
    lines: bool = False
    identifier: bool = False
    visible_ascii: bool = False

    def named(self, field: str) -> TextPolicy:
        """The same policy reporting as ``field`` (``"creditor.name"``, ``"debtor_name"``)."""
        return attrs.evolve(self, field=field)

    def check(self, value: object) -> str:
        """``value`` as NFC text within this policy, or :class:`InvalidTextError`."""
        if not isinstance(value, str):
            raise InvalidTextError(
                f"{self.field} must be a str, got {type(value).__name__}", field=self.field
            )
        if len(value) > _MAX_EXPANSION * self.max_length:
            # Too long whatever NFC does: refused before walking megabytes of it.
            self._fail(f" has at most {self.max_length} characters, got {len(value)}", None)
        found = self._first_refused(value)
        if found is not None:
            position, reason = found
            self._fail(f": character {position} ({describe(value[position])}) {reason}", position)
        text = value if value.isascii() else unicodedata.normalize("NFC", value)
        if len(text) > self.max_length:
            self._fail(f" has at most {self.max_length} characters, got {len(text)}", None)
        if len(text) < self.min_length or (self.min_length and not text.strip()):
            self._fail(f" needs at least {self.min_length} non-blank character(s)", None)
        if self.identifier and text and (text[0].isspace() or text[-1].isspace()):
            where = 0 if text[0].isspace() else len(text) - 1
            self._fail(" must not start or end with white space", where)
        return text

    def _first_refused(self, value: str) -> tuple[int, str] | None:
        if value.isascii():
            # The common case: only controls (and, for header values, spaces) can be wrong.
            pattern = _NOT_VISIBLE_ASCII if self.visible_ascii else _ASCII_REFUSED
            if self.lines and not self.visible_ascii:
                pattern = _ASCII_REFUSED_IN_LINES
            match = pattern.search(value)
            if match is None:
                return None
            char = match.group()
            reason = _why_refused(char, self.lines) or "is not visible ASCII"
            return match.start(), reason
        for position, char in enumerate(value):
            why = _why_refused(char, self.lines)
            if why is None and self.visible_ascii and not "!" <= char <= "~":
                why = "is not visible ASCII"
            if why is not None:
                return position, why
        return None

    def _fail(self, problem: str, position: int | None) -> NoReturn:
        raise InvalidTextError(f"{self.field}{problem}", field=self.field, position=position)


REMITTANCE: Final = TextPolicy("remittance", 140)
END_TO_END_ID: Final = TextPolicy("end_to_end_id", 35, min_length=1, identifier=True)
IDEMPOTENCY_KEY: Final = TextPolicy("idempotency_key", 255, min_length=1, visible_ascii=True)
#: The wallet's own id of a payout, from which the idempotency key is derived.
PAYOUT_ID: Final = TextPolicy("payout_id", 128, min_length=1, identifier=True)
PARTY_NAME: Final = TextPolicy("party name", 140, min_length=1)
METADATA_KEY: Final = TextPolicy("metadata key", 40, min_length=1, identifier=True)
METADATA_VALUE: Final = TextPolicy("metadata value", 500, lines=True)
#: Every field's base policy by field name (metadata also allows at most 50 entries).
FIELDS: Final[dict[str, TextPolicy]] = {
    p.field: p
    for p in (
        REMITTANCE,
        END_TO_END_ID,
        IDEMPOTENCY_KEY,
        PAYOUT_ID,
        PARTY_NAME,
        METADATA_KEY,
        METADATA_VALUE,
    )
}
METADATA_ENTRIES: Final = 50


# -- ISO 20022: the SEPA Latin character set --------------------------------------------------

#: The EPC's Latin character set (SEPA Credit Transfer Implementation Guidelines, "Character
#: set"), which every SEPA bank must accept and which is also SWIFT's MT "x" set without CrLf:
#: the set every host-to-host bank reads the same way.
SEPA_CHARACTERS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-?:().,'+ "
)
# Letters without a canonical decomposition, spelled as the EPC conversion table (EPC217-08)
# spells them, and typographic punctuation with an obvious Latin-set twin.
_SPELLED: Final[dict[str, str]] = {
    "ß": "ss", "ẞ": "SS", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Ø": "O", "ø": "o",
    "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ð": "D", "ð": "d", "Þ": "TH", "þ": "th",
    "ı": "i", "Ħ": "H", "ħ": "h", "Ŧ": "T", "ŧ": "t", "Ŋ": "N", "ŋ": "n", "ĸ": "k",
    "\u2018": "'", "\u2019": "'", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-",
    "\u2014": "-", "\u00a0": " ",
}  # fmt: skip


def transliterate_sepa(char: str) -> str | None:
    """``char`` spelled in :data:`SEPA_CHARACTERS`, or ``None`` when there is no such spelling.

    A Latin letter with diacritics loses them (``é`` → ``e``, ``ä`` → ``a``, ``ñ`` → ``n``,
    ``ç`` → ``c``, ``ő`` → ``o``), as in the EPC conversion table; ``ä`` becomes ``a``, not the
    German ``ae``. Letters without a decomposition are spelled out (``ß`` → ``ss``, ``æ`` →
    ``ae``, ``ø`` → ``o``, ``ł`` → ``l``, ``þ`` → ``th``); curly apostrophes, dashes and the
    no-break space become ``'``, ``-`` and a space. Anything else (Greek, Cyrillic, CJK, ``&``,
    ``€``, emoji…) has no spelling: the caller must choose the words.
    """
    if char in SEPA_CHARACTERS:
        return char
    spelled = _SPELLED.get(char)
    if spelled is not None:
        return spelled
    decomposed = unicodedata.normalize("NFD", char)
    base, marks = decomposed[0], decomposed[1:]
    if marks and base in SEPA_CHARACTERS and all(unicodedata.combining(m) for m in marks):
        return base
    return None


def sepa_text(
    value: object,
    *,
    field: str,
    max_length: int,
    identifier: bool = False,
    transliterate: bool = False,
) -> str:
    """``value`` in the SEPA Latin character set, or :class:`InvalidTextError`.

    The error names ``field`` and the first character outside the set. With
    ``transliterate=True`` accented Latin is first spelled in the set (see
    :func:`transliterate_sepa`) and only what has no spelling is refused; the length limit
    applies to the spelled text. ``identifier`` adds the EPC rule for references,
    identifications and identifiers: no ``/`` at the start or end, no ``//`` anywhere.
    Empty text passes (a field that is required checks that itself). Positions count in the
    NFC form of ``value``, which is ``value`` itself for every checked model field.
    """
    if not isinstance(value, str):
        raise InvalidTextError(f"{field} must be a str, got {type(value).__name__}", field=field)
    text = value if value.isascii() else unicodedata.normalize("NFC", value)
    spelled: list[str] = []
    for position, char in enumerate(text):
        replacement = transliterate_sepa(char) if transliterate else char
        if replacement is None or (not transliterate and char not in SEPA_CHARACTERS):
            spellable = not transliterate and transliterate_sepa(char) is not None
            hint = " (transliterate=True would spell it in the set)" if spellable else ""
            raise InvalidTextError(
                f"{field}: character {position} ({describe(char)}) is outside the SEPA Latin"
                f" character set{hint}",
                field=field,
                position=position,
            )
        spelled.append(replacement)
    result = "".join(spelled)
    if len(result) > max_length:
        raise InvalidTextError(
            f"{field} has at most {max_length} characters, got {len(result)}", field=field
        )
    if identifier:
        _check_slashes(result, field)
    return result


def _check_slashes(text: str, field: str) -> None:
    position = 0 if text.startswith("/") else text.find("//")
    if position < 0 and text.endswith("/"):
        position = len(text) - 1
    if position >= 0:
        raise InvalidTextError(
            f"{field}: an identifier must not start or end with '/' nor contain '//'"
            f" (character {position})",
            field=field,
            position=position,
        )
