"""Structured Field Values (RFC 8941): the subset HTTP signatures and digests need.

Parses and serialises Dictionaries, Lists, Items and Inner Lists with Parameters, and the
bare items Integer, Decimal, String, Token, Byte Sequence and Boolean. Serialisation is the
strict form of RFC 8941 §4.1, which RFC 9421 relies on: parse → serialise gives the one
canonical spelling of a field. Errors are :class:`~walletlink.errors.ParseError` naming the
offset.
"""

from __future__ import annotations

import base64
import binascii
import string
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TypeAlias

import attrs

from walletlink.errors import ParseError

__all__ = [
    "BareItem",
    "InnerList",
    "Item",
    "Member",
    "Params",
    "Token",
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

_LCALPHA = frozenset(string.ascii_lowercase)
_KEY_START = _LCALPHA | {"*"}
_KEY_CHARS = _LCALPHA | frozenset(string.digits) | {"_", "-", ".", "*"}
_TCHAR = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")
_TOKEN_CHARS = _TCHAR | {":", "/"}
_TOKEN_START = frozenset(string.ascii_letters) | {"*"}
_B64_CHARS = frozenset(string.ascii_letters + string.digits + "+/=")
_MAX_INT = 999_999_999_999_999


class _Parser:
    """A cursor over one field value; each method consumes what it parses."""

    def __init__(self, text: str) -> None:
        if not text.isascii():
            raise ParseError("structured field is not ASCII")
        self.text = text.strip(" ")
        self.pos = 0

    def fail(self, what: str) -> ParseError:
        return ParseError(f"structured field: {what}", position=f"offset {self.pos}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.pos += 1

    def expect_end(self) -> None:
        if not self.at_end():
            raise self.fail("unexpected trailing characters")

    def members(self, *, keyed: bool) -> list[tuple[str, Member]]:
        found: list[tuple[str, Member]] = []
        while not self.at_end():
            key = self.key() if keyed else ""
            if keyed and self.peek() != "=":
                member: Member = Item(True, self.params())
            else:
                if keyed:
                    self.pos += 1
                member = self.item_or_inner_list()
            found.append((key, member))
            self.skip(" \t")
            if self.at_end():
                return found
            if self.peek() != ",":
                raise self.fail("expected ','")
            self.pos += 1
            self.skip(" \t")
            if self.at_end():
                raise self.fail("trailing comma")
        return found

    def item_or_inner_list(self) -> Member:
        return self.inner_list() if self.peek() == "(" else self.item()

    def inner_list(self) -> InnerList:
        self.pos += 1  # the "("
        items: list[Item] = []
        while not self.at_end():
            self.skip(" ")
            if self.peek() == ")":
                self.pos += 1
                return InnerList(tuple(items), self.params())
            items.append(self.item())
            if self.peek() not in (" ", ")"):
                raise self.fail("inner list items need a space between them")
        raise self.fail("unterminated inner list")

    def item(self) -> Item:
        return Item(self.bare_item(), self.params())

    def params(self) -> Params:
        params: Params = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            key = self.key()
            value: BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            params[key] = value
        return params

    def key(self) -> str:
        start = self.pos
        if self.peek() not in _KEY_START or not self.peek():
            raise self.fail("a key must start with a lower-case letter or '*'")
        while self.peek() and self.peek() in _KEY_CHARS:
            self.pos += 1
        return self.text[start : self.pos]

    def bare_item(self) -> BareItem:
        char = self.peek()
        if char == '"':
            return self.string()
        if char == ":":
            return self.byte_sequence()
        if char == "?":
            return self.boolean()
        if char == "-" or char.isdigit():
            return self.number()
        if char and char in _TOKEN_START:
            start = self.pos
            while self.peek() and self.peek() in _TOKEN_CHARS:
                self.pos += 1
            return Token(self.text[start : self.pos])
        raise self.fail("expected an item")

    def string(self) -> str:
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
        if not set(encoded) <= _B64_CHARS:
            raise self.fail("byte sequence is not base64")
        self.pos = end + 1
        try:
            return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except binascii.Error:
            raise self.fail("byte sequence is not base64") from None

    def boolean(self) -> bool:
        value = self.text[self.pos + 1 : self.pos + 2]
        if value not in ("0", "1"):
            raise self.fail("a boolean is ?0 or ?1")
        self.pos += 2
        return value == "1"

    def number(self) -> int | Decimal:
        start = self.pos
        if self.peek() == "-":
            self.pos += 1
        if not self.peek().isdigit():
            raise self.fail("expected a digit")
        while self.peek().isdigit() or self.peek() == ".":
            self.pos += 1
        raw = self.text[start : self.pos]
        digits = raw.lstrip("-")
        if "." not in raw:
            if len(digits) > 15:
                raise self.fail("integer too long")
            return int(raw)
        whole, _, frac = digits.partition(".")
        if len(whole) > 12 or not 1 <= len(frac) <= 3 or "." in frac:
            raise self.fail("malformed decimal")
        return Decimal(raw)


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
        if not value or value[0] not in _TOKEN_START or not set(value) <= _TOKEN_CHARS:
            raise ParseError("malformed sf-token")
        return str(value)
    if isinstance(value, str):
        return _serialize_string(value)
    return ":" + base64.b64encode(value).decode() + ":"


def _check_key(key: str) -> str:
    if not key or key[0] not in _KEY_START or not set(key) <= _KEY_CHARS:
        raise ParseError(f"malformed sf-key {key[:20]!r}")
    return key


def serialize_params(params: Params) -> str:
    parts = []
    for key, value in params.items():
        _check_key(key)
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
        _check_key(key)
        if isinstance(member, Item) and member.value is True:
            parts.append(key + serialize_params(member.params))
        else:
            parts.append(f"{key}={serialize_member(member)}")
    return ", ".join(parts)
