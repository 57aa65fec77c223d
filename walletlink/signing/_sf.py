"""Structured Field Values (RFC 8941): the subset HTTP signatures and digests need.

Parses and serialises Dictionaries, Lists, Items and Inner Lists with Parameters, and the
bare items Integer, Decimal, String, Token, Byte Sequence and Boolean. Serialisation is the
strict form of RFC 8941 §4.1, which RFC 9421 relies on: parse → serialise gives the one
canonical spelling of a field. Errors are :class:`~walletlink.errors.ParseError` naming the
offset.
"""

from __future__ import annotations

import base64
import re
import string
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TypeAlias

import attrs

from walletlink.errors import ParseError
from walletlink.signing._b64 import b64decode

__all__ = [
    "B64_PATTERN",
    "KEY_PATTERN",
    "PLAIN_STRING_PATTERN",
    "BareItem",
    "InnerList",
    "Item",
    "Member",
    "Params",
    "Token",
    "check_key",
    "decode_byte_sequence",
    "match_members",
    "parse_dictionary",
    "parse_item",
    "parse_list",
    "serialize_bare_item",
    "serialize_dictionary",
    "serialize_item",
    "serialize_list",
    "serialize_member",
    "serialize_params",
]


class Token(str):
    """An sf-token: a bare word such as ``sha-256`` or ``*``, distinct from a quoted string."""

    __slots__ = ()


BareItem: TypeAlias = bool | int | Decimal | Token | str | bytes
Params: TypeAlias = dict[str, BareItem]


@attrs.frozen
class Item:
    value: BareItem
    params: Params = attrs.field(factory=dict)


@attrs.frozen
class InnerList:
    items: tuple[Item, ...]
    params: Params = attrs.field(factory=dict)


Member: TypeAlias = Item | InnerList

_TOKEN_START = frozenset(string.ascii_letters) | {"*"}
_MAX_INT = 999_999_999_999_999

# Each lexical element is scanned by one regular expression (in C) rather than a character
# at a time; error paths fall back to stepwise code, which names the message and offset.
# The patterns are shared with the fast paths of the signature and digest modules.
KEY_PATTERN = r"[a-z*][a-z0-9_\-.*]*"
PLAIN_STRING_PATTERN = r'"[ !#-\[\]-~]*"'  # an sf-string without escapes: already canonical
B64_PATTERN = r"[A-Za-z0-9+/=]*"
_KEY = re.compile(KEY_PATTERN)
_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*")
_PLAIN_STRING = re.compile(r'"([ !#-\[\]-~]*)"')
_NUMBER = re.compile(r"-?[0-9][0-9.]*")
_B64_TEXT = re.compile(B64_PATTERN)
_DIGITS = frozenset(string.digits)


class _Parser:
    """A cursor over one field value; each method consumes what it parses."""

    def __init__(self, text: str) -> None:
        if not text.isascii():
            raise ParseError("structured field is not ASCII")
        self.text = text.strip(" ")
        self.end = len(self.text)
        self.pos = 0

    def fail(self, what: str) -> ParseError:
        return ParseError(f"structured field: {what}", position=f"offset {self.pos}")

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def at_end(self) -> bool:
        return self.pos >= self.end

    def skip(self, chars: str) -> None:
        text, pos, end = self.text, self.pos, self.end
        while pos < end and text[pos] in chars:
            pos += 1
        self.pos = pos

    def expect_end(self) -> None:
        if self.pos < self.end:
            raise self.fail("unexpected trailing characters")

    def members(self, *, keyed: bool) -> list[tuple[str, Member]]:
        found: list[tuple[str, Member]] = []
        text = self.text
        while self.pos < self.end:
            key = self.key() if keyed else ""
            if keyed and text[self.pos : self.pos + 1] != "=":
                member: Member = Item(True, self.params())
            else:
                if keyed:
                    self.pos += 1
                member = self.item_or_inner_list()
            found.append((key, member))
            self.skip(" \t")
            if self.pos >= self.end:
                return found
            if text[self.pos] != ",":
                raise self.fail("expected ','")
            self.pos += 1
            self.skip(" \t")
            if self.pos >= self.end:
                raise self.fail("trailing comma")
        return found

    def item_or_inner_list(self) -> Member:
        return self.inner_list() if self.text[self.pos : self.pos + 1] == "(" else self.item()

    def inner_list(self) -> InnerList:
        self.pos += 1  # the "("
        items: list[Item] = []
        text = self.text
        while self.pos < self.end:
            self.skip(" ")
            if text[self.pos : self.pos + 1] == ")":
                self.pos += 1
                return InnerList(tuple(items), self.params())
            items.append(self.item())
            if text[self.pos : self.pos + 1] not in (" ", ")"):
                raise self.fail("inner list items need a space between them")
        raise self.fail("unterminated inner list")

    def item(self) -> Item:
        return Item(self.bare_item(), self.params())

    def params(self) -> Params:
        params: Params = {}
        text = self.text
        while text[self.pos : self.pos + 1] == ";":
            self.pos += 1
            self.skip(" ")
            key = self.key()
            value: BareItem = True
            if text[self.pos : self.pos + 1] == "=":
                self.pos += 1
                value = self.bare_item()
            params[key] = value
        return params

    def key(self) -> str:
        match = _KEY.match(self.text, self.pos)
        if match is None:
            raise self.fail("a key must start with a lower-case letter or '*'")
        self.pos = match.end()
        return match.group()

    def bare_item(self) -> BareItem:
        char = self.text[self.pos : self.pos + 1]
        if char == '"':
            return self.string()
        if char == ":":
            return self.byte_sequence()
        if char == "?":
            return self.boolean()
        if char == "-" or char in _DIGITS:
            return self.number()
        if char and char in _TOKEN_START:
            match = _TOKEN.match(self.text, self.pos)
            assert match is not None  # the first character is a token start
            self.pos = match.end()
            return Token(match.group())
        raise self.fail("expected an item")

    def string(self) -> str:
        plain = _PLAIN_STRING.match(self.text, self.pos)
        if plain is not None:
            self.pos = plain.end()
            return plain.group(1)
        return self._escaped_string()

    def _escaped_string(self) -> str:
        """Strings with escapes, and every malformed one: stepwise, to name the offset."""
        self.pos += 1
        out: list[str] = []
        while not self.at_end():
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\":
                escaped = self.peek()
                if escaped not in ('"', "\\") or not escaped:
                    raise self.fail("bad escape in string")
                out.append(escaped)
                self.pos += 1
            elif char == '"':
                return "".join(out)
            elif not " " <= char <= "~":
                raise self.fail("control character in string")
            else:
                out.append(char)
        raise self.fail("unterminated string")

    def byte_sequence(self) -> bytes:
        end = self.text.find(":", self.pos + 1)
        if end < 0:
            raise self.fail("unterminated byte sequence")
        encoded = self.text[self.pos + 1 : end]
        if _B64_TEXT.fullmatch(encoded) is None:
            raise self.fail("byte sequence is not base64")
        self.pos = end + 1
        try:
            return decode_byte_sequence(encoded)
        except ValueError:
            raise self.fail("byte sequence is not base64") from None

    def boolean(self) -> bool:
        value = self.text[self.pos + 1 : self.pos + 2]
        if value not in ("0", "1"):
            raise self.fail("a boolean is ?0 or ?1")
        self.pos += 2
        return value == "1"

    def number(self) -> int | Decimal:
        match = _NUMBER.match(self.text, self.pos)
        if match is None:  # a "-" without a digit after it
            self.pos += 1
            raise self.fail("expected a digit")
        self.pos = match.end()
        raw = match.group()
        digits = raw.lstrip("-")
        if "." not in raw:
            if len(digits) > 15:
                raise self.fail("integer too long")
            return int(raw)
        whole, _, frac = digits.partition(".")
        if len(whole) > 12 or not 1 <= len(frac) <= 3 or "." in frac:
            raise self.fail("malformed decimal")
        return Decimal(raw)


def decode_byte_sequence(encoded: str) -> bytes:
    """The bytes of an sf-binary's base64 text; ``ValueError`` unless it is canonical.

    Omitted ``=`` padding is accepted (RFC 8941 §4.2.7), non-zero unused bits are not: they
    would let a signature or digest be re-spelt and still match.
    """
    return b64decode(encoded, padding_optional=True)


def match_members(pattern: re.Pattern[str], text: str) -> list[re.Match[str]] | None:
    """Matches of ``pattern`` laid back to back over all of ``text``, else ``None``.

    For the fast paths that recognise a field's canonical spelling before falling back to
    the parser: ``pattern`` matches one member and ends in a separator group, ``(, |\\Z)``.
    ``None`` also for an empty text and a trailing separator.
    """
    found: list[re.Match[str]] = []
    pos, end = 0, len(text)
    while pos < end:
        match = pattern.match(text, pos)
        if match is None:
            return None
        found.append(match)
        pos = match.end()
    if not found or found[-1].group(pattern.groups) != "":
        return None
    return found


def parse_dictionary(text: str) -> dict[str, Member]:
    """An sf-dictionary; a repeated key keeps its last value, in its first position."""
    parser = _Parser(text)
    result = dict(parser.members(keyed=True))
    parser.expect_end()
    return result


def parse_list(text: str) -> list[Member]:
    parser = _Parser(text)
    result = [member for _, member in parser.members(keyed=False)]
    parser.expect_end()
    return result


def parse_item(text: str) -> Item:
    parser = _Parser(text)
    result = parser.item()
    parser.expect_end()
    return result


def _serialize_string(value: str) -> str:
    if not (value.isascii() and value.isprintable()):
        raise ParseError("sf-string must be printable ASCII")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _serialize_decimal(value: Decimal) -> str:
    rounded = value.quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN)
    if abs(rounded) >= Decimal(10) ** 12:
        raise ParseError("sf-decimal out of range")
    text = f"{rounded:f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def serialize_bare_item(value: BareItem) -> str:
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        if abs(value) > _MAX_INT:
            raise ParseError("sf-integer out of range")
        return str(value)
    if isinstance(value, Decimal):
        return _serialize_decimal(value)
    if isinstance(value, Token):
        if _TOKEN.fullmatch(value) is None:
            raise ParseError("malformed sf-token")
        return str(value)
    if isinstance(value, str):
        return _serialize_string(value)
    return ":" + base64.b64encode(value).decode() + ":"


def check_key(key: str) -> str:
    """``key`` if it is a valid sf-key, else a :class:`ParseError`."""
    if _KEY.fullmatch(key) is None:
        raise ParseError(f"malformed sf-key {key[:20]!r}")
    return key


def serialize_params(params: Params) -> str:
    parts = []
    for key, value in params.items():
        check_key(key)
        parts.append(f";{key}" if value is True else f";{key}={serialize_bare_item(value)}")
    return "".join(parts)


def serialize_item(item: Item) -> str:
    return serialize_bare_item(item.value) + serialize_params(item.params)


def serialize_member(member: Member) -> str:
    if isinstance(member, InnerList):
        inner = " ".join(serialize_item(item) for item in member.items)
        return f"({inner}){serialize_params(member.params)}"
    return serialize_item(member)


def serialize_list(members: list[Member]) -> str:
    return ", ".join(serialize_member(member) for member in members)


def serialize_dictionary(members: dict[str, Member]) -> str:
    parts = []
    for key, member in members.items():
        check_key(key)
        if isinstance(member, Item) and member.value is True:
            parts.append(key + serialize_params(member.params))
        else:
            parts.append(f"{key}={serialize_member(member)}")
    return ", ".join(parts)
