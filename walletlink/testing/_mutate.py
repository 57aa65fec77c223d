"""Seeded mutations of a bank's real replies, for checking that adapters parse defensively.

A mutation keeps most of a valid reply and breaks one thing, the way replies from a real bank
break: a flipped or dropped byte, a truncated body, a number grown past any range, a date at
the edge of the calendar, a JSON value of the wrong type, an empty or non-JSON body. Every
mutation is drawn from a ``random.Random``, so a failing case is replayed from its seed.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from typing import Any, Final

__all__ = ["mutate_body"]

_NUMBER: Final = re.compile(rb"-?\d+(?:\.\d+)?")
_DATE: Final = re.compile(
    rb"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
_EDGES: Final = (
    b"9" * 400,
    b"-1",
    b"1E999999",
    b"NaN",
    b"0.0000000000000000000000000000000000001",
    b"9999-12-31T23:59:59-23:59",
    b"0001-01-01T00:00:00+23:59",
    b"\xed\xa0\x80",
    b"\x00",
    b"\xff\xfe",
)
_JSON_SWAPS: Final[tuple[Any, ...]] = (None, 0, -1, 10**400, "", "x" * 300, [], {}, [[[]]], True)


def _flip(rng: random.Random, body: bytes) -> bytes:
    if not body:
        return b"\xff"
    data = bytearray(body)
    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def _truncate(rng: random.Random, body: bytes) -> bytes:
    return body[: rng.randrange(len(body) + 1)]


def _number(rng: random.Random, body: bytes) -> bytes:
    found = list(_NUMBER.finditer(body))
    if not found:
        return body + rng.choice(_EDGES)
    hit = rng.choice(found)
    return body[: hit.start()] + rng.choice(_EDGES[:5]) + body[hit.end() :]


def _date(rng: random.Random, body: bytes) -> bytes:
    found = list(_DATE.finditer(body))
    if not found:
        return _number(rng, body)
    hit = rng.choice(found)
    return body[: hit.start()] + rng.choice(_EDGES[5:7]) + body[hit.end() :]


def _insert(rng: random.Random, body: bytes) -> bytes:
    at = rng.randrange(len(body) + 1)
    return body[:at] + rng.choice(_EDGES) * rng.randint(1, 3) + body[at:]


def _json_value(rng: random.Random, body: bytes) -> bytes:
    """One value anywhere in a JSON reply replaced by another type (or a key dropped)."""
    try:
        document = json.loads(body)
    except ValueError:
        return _flip(rng, body)
    slots: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            slots.extend((node, key) for key in node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            slots.extend((node, index) for index in range(len(node)))
            for value in node:
                walk(value)

    walk(document)
    if not slots:
        return json.dumps(rng.choice(_JSON_SWAPS)).encode()
    parent, key = rng.choice(slots)
    if isinstance(parent, dict) and rng.random() < 0.3:
        del parent[key]
    else:
        parent[key] = rng.choice(_JSON_SWAPS)
    return json.dumps(document).encode()


def _replace(rng: random.Random, body: bytes) -> bytes:
    return rng.choice((b"", b"null", b"[]", b"<html>bad gateway</html>", b"{", b"\xef\xbb\xbf{}"))


_MUTATIONS: Final[tuple[Callable[[random.Random, bytes], bytes], ...]] = (
    _flip,
    _truncate,
    _number,
    _date,
    _insert,
    _json_value,
    _json_value,
    _replace,
)


def mutate_body(rng: random.Random, body: bytes) -> bytes:
    """``body`` with one to three seeded mutations applied."""
    for _ in range(rng.randint(1, 3)):
        body = rng.choice(_MUTATIONS)(rng, body)
    return body
