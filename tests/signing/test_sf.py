"""Structured Field Values (RFC 8941) subset used by RFC 9421 / RFC 9530."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walletlink.errors import ParseError
from walletlink.signing import _sf


def test_dictionary_with_inner_list_and_params() -> None:
    text = 'sig1=("@method" "@path";req);created=1618884473;keyid="k", sig2=:AQID:'
    parsed = _sf.parse_dictionary(text)
    inner = parsed["sig1"]
    assert isinstance(inner, _sf.InnerList)
    assert [item.value for item in inner.items] == ["@method", "@path"]
    assert inner.items[1].params == {"req": True}
    assert inner.params == {"created": 1618884473, "keyid": "k"}
    assert parsed["sig2"] == _sf.Item(b"\x01\x02\x03")
    assert _sf.serialize_dictionary(parsed) == text


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("a=1,    b=2;x=1;y=2,   c=(a   b   c)", "a=1, b=2;x=1;y=2, c=(a b c)"),
        ("a, b=?0, c=?1", "a, b=?0, c"),
        ('a="q\\"uote\\\\"', 'a="q\\"uote\\\\"'),
        ("a=1.50, b=-0.1", "a=1.5, b=-0.1"),
        ("a=tok/en:x", "a=tok/en:x"),
    ],
)
def test_strict_serialisation(text: str, canonical: str) -> None:
    assert _sf.serialize_dictionary(_sf.parse_dictionary(text)) == canonical


@pytest.mark.parametrize(
    "text",
    [
        "a=",
        "A=1",
        "a=1,",
        "a=(1 2",
        'a="unterminated',
        "a=:not-b64!:",
        "a=?2",
        "a=1 b=2",
        "a=1234567890123456",
        "a=1.2345",
        'a="\\x"',
        "a=1.2.3",
    ],
)
def test_malformed_dictionaries(text: str) -> None:
    with pytest.raises(ParseError):
        _sf.parse_dictionary(text)


def test_list_and_item() -> None:
    assert _sf.serialize_list(_sf.parse_list("1, (a b);p, ?1")) == "1, (a b);p, ?1"
    assert _sf.parse_item('"x";a=1') == _sf.Item("x", {"a": 1})


_keys = st.from_regex(r"[a-z*][a-z0-9_.*-]{0,6}", fullmatch=True)
_bare = st.one_of(
    st.integers(-(10**15) + 1, 10**15 - 1),
    st.booleans(),
    st.binary(max_size=20),
    st.from_regex(r"[ -~]{0,12}", fullmatch=True),
    st.from_regex(r"[A-Za-z*][A-Za-z0-9:/!#$%&'*+.^_`|~-]{0,6}", fullmatch=True).map(_sf.Token),
    st.decimals(min_value=-999, max_value=999, places=3, allow_nan=False, allow_infinity=False),
)
_params = st.dictionaries(_keys, _bare, max_size=3)
_items = st.builds(_sf.Item, _bare, _params)
_members = st.one_of(
    _items, st.builds(_sf.InnerList, st.lists(_items, max_size=3).map(tuple), _params)
)


@given(st.dictionaries(_keys, _members, max_size=4))
def test_property_serialize_then_parse(members: dict[str, _sf.Member]) -> None:
    text = _sf.serialize_dictionary(members)
    assert _sf.serialize_dictionary(_sf.parse_dictionary(text)) == text
    reparsed = _sf.parse_dictionary(text)
    assert list(reparsed) == list(members)


def test_decimal_rounding() -> None:
    assert _sf.serialize_bare_item(Decimal("1.0005")) == "1.0"
    assert _sf.serialize_bare_item(Decimal("2")) == "2.0"
