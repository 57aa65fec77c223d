"""Mutation fuzzing with hypothesis: valid documents, broken in the ways real files break.

Each fuzz test draws a seed (a valid document of the parser's format) and applies one to
four mutations: bit flips, truncation, inserted or deleted bytes, a digit run made huge, a
chunk repeated, deep nesting, and whole-document re-encodings. The parser must then answer
with a ``walletlink.errors`` type and nothing else.

``make test`` runs :data:`QUICK` examples per target. ``WALLETLINK_FUZZ_EXAMPLES=1000000
pytest -m slow tests/fuzz`` runs the ``*_long`` variants with that many each (default
:data:`LONG`), which is how the suite is meant to run before a release.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Sequence
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

#: Examples per target in ``make test``: the whole suite stays well under a minute.
QUICK: Final = 60
#: Examples per target in the slow variants (overridden by ``WALLETLINK_FUZZ_EXAMPLES``).
LONG: Final = int(os.environ.get("WALLETLINK_FUZZ_EXAMPLES", "1000000"))

#: Byte strings that break parsers: huge and odd numbers, nesting, encodings, markup.
INSERTS: Final = (
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\xc3\x28",
    b"\xed\xa0\x80",  # an encoded surrogate: invalid UTF-8
    b"\xf0\x9f\x92\xb6",
    b"\r",
    b"\n",
    b"\r\n-\r\n",
    b"-",
    b"9" * 40,
    b"9" * 4301,
    b"1E999999",
    b"-0",
    b"NaN",
    b"Infinity",
    b"0x1F",
    b"99999999",
    b"9999-12-31T23:59:59-23:59",
    b"0001-01-01T00:00:00+23:59",
    b"<a>" * 2000,
    b"[" * 5000,
    b"{" * 5000,
    b"(" * 5000,
    b"&amp;",
    b"&#0;",
    b"<!DOCTYPE x [<!ENTITY e 'x'>]>",
    b"]]>",
    b'"',
    b"\\",
    b",",
    b";",
    b":",
    b"=",
    b"/",
    b"?",
    b":61:",
    b":86:",
    b":20:",
    b":62F:C240101XXX1,00",
    b"{4:",
    b"RC",
    b"/NAME/",
    b"EUR",
    b"JPY",
    b"KWD",
    b"XTS",
    b"eur",
    b"ZZ",
)

_CODE: Final = re.compile(rb"(?<![A-Za-z])(?:EUR|USD|GBP|CHF|JPY)(?![A-Za-z])")
_CODES: Final = (b"USD", b"JPY", b"KWD", b"EU", b"XYZ", b"eur", b"XXX")
_ENCODINGS: Final = ("utf-16", "utf-16-be", "utf-32", "latin-1", "cp1252", "utf-7")


def _reencode(data: bytes, encoding: str) -> bytes:
    text = data.decode("utf-8", "replace")
    return text.encode(encoding, "replace")


@st.composite
def mutated(draw: st.DrawFn, seeds: Sequence[bytes]) -> bytes:
    """A seed with one to four mutations applied."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        size = len(data)
        at = draw(st.integers(0, size)) if size else 0
        op = draw(st.integers(0, 9))
        if op == 0 and size:
            data[min(at, size - 1)] ^= 1 << draw(st.integers(0, 7))
        elif op == 1:
            del data[at:]
        elif op == 2:
            data[at:at] = draw(st.sampled_from(INSERTS))
        elif op == 3:
            del data[at : at + draw(st.integers(1, 64))]
        elif op == 4:
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == 5:
            end = at
            while end < size and chr(data[end]).isdigit():
                end += 1
            data[at:end] = draw(st.sampled_from([b"9" * 40, b"0" * 30, b"9" * 4301, b"1E999999"]))
        elif op == 6:
            chunk = bytes(data[at : at + draw(st.integers(1, 200))])
            data[at:at] = chunk * draw(st.integers(1, 50))
        elif op == 7:
            data[:] = _reencode(bytes(data), draw(st.sampled_from(_ENCODINGS)))
        elif op == 8 and (codes := list(_CODE.finditer(bytes(data)))):
            # Another currency (or a non-code) where one was: mixed-currency statements.
            code = codes[draw(st.integers(0, len(codes) - 1))]
            data[code.start() : code.end()] = draw(st.sampled_from(_CODES))
        else:
            data[at:at] = draw(st.sampled_from(INSERTS)) * draw(st.integers(2, 200))
    return bytes(data)


def mutated_text(seeds: Sequence[str]) -> st.SearchStrategy[str]:
    """Header values: the same mutations over UTF-8, read back as Latin-1 (any octet)."""
    encoded = [seed.encode() for seed in seeds]
    plain = mutated(encoded).map(lambda data: data.decode("latin-1"))
    return plain | st.text(max_size=40).map(lambda extra: seeds[0] + extra)


def survive(
    target: Callable[[Any], object], value: Any, allowed: tuple[type[BaseException], ...]
) -> None:
    """Run ``target``; the only exceptions it may raise are ``allowed`` ones."""
    with contextlib.suppress(*allowed):
        target(value)


def fuzz_tests(
    strategy: st.SearchStrategy[Any],
    target: Callable[[Any], object],
    allowed: tuple[type[BaseException], ...],
) -> tuple[Callable[..., None], Callable[..., None]]:
    """The quick test (``make test``) and its ``slow`` long-run twin, for one target."""

    def body(value: Any) -> None:
        survive(target, value, allowed)

    options: dict[str, Any] = {
        "deadline": None,
        "database": None,
        "suppress_health_check": list(HealthCheck),
    }
    quick = settings(max_examples=QUICK, **options)(given(strategy)(body))
    long = pytest.mark.slow(settings(max_examples=LONG, **options)(given(strategy)(body)))
    return quick, long
