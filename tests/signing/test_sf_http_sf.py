"""walletlink's RFC 8941 parser and serialiser against an independent one (``http-sf``):
whatever one writes the other reads as the same value, and both write it the same way."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import http_sf
from hypothesis import given
from hypothesis import strategies as st

from walletlink.errors import ParseError
from walletlink.signing import _sf

keys = st.from_regex(r"[a-z*][a-z0-9_.*-]{0,8}", fullmatch=True)
tokens = st.from_regex(r"[A-Za-z*][A-Za-z0-9!#$%&'*+.^_`|~:/-]{0,8}", fullmatch=True).map(_sf.Token)
bare_items = st.one_of(
    st.booleans(),
    st.integers(-999_999_999_999_999, 999_999_999_999_999),
    st.decimals(
        min_value=Decimal("-999999999999.999"),
        max_value=Decimal("999999999999.999"),
        places=3,
        allow_nan=False,
        allow_infinity=False,
    ),
    tokens,
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12),
    st.binary(max_size=12),
)
params = st.dictionaries(keys, bare_items, max_size=3)
items = st.builds(_sf.Item, bare_items, params)
inner_lists = st.builds(_sf.InnerList, st.lists(items, max_size=3).map(tuple), params)
members = st.one_of(items, inner_lists)
dictionaries = st.dictionaries(keys, members, min_size=1, max_size=4)
lists = st.lists(members, min_size=1, max_size=4)


def theirs(value: Any) -> Any:
    """walletlink's model → http-sf's (value, params) tuples."""
    if isinstance(value, dict):
        return {key: theirs(member) for key, member in value.items()}
    if isinstance(value, list):
        return [theirs(member) for member in value]
    if isinstance(value, _sf.InnerList):
        return ([theirs(item) for item in value.items], _params(value.params))
    return (_bare(value.value), _params(value.params))


def _bare(value: _sf.BareItem) -> Any:
    return http_sf.Token(str(value)) if isinstance(value, _sf.Token) else value


def _params(values: _sf.Params) -> dict[str, Any]:
    return {key: _bare(value) for key, value in values.items()}


def ours(value: Any) -> Any:
    """http-sf's tuples → walletlink's model."""
    if isinstance(value, dict):
        return {key: ours(member) for key, member in value.items()}
    if isinstance(value, list):
        return [ours(member) for member in value]
    inner, parameters = value
    converted = {key: _our_bare(item) for key, item in parameters.items()}
    if isinstance(inner, list):
        return _sf.InnerList(tuple(ours(item) for item in inner), converted)
    return _sf.Item(_our_bare(inner), converted)


def _our_bare(value: Any) -> _sf.BareItem:
    if isinstance(value, http_sf.Token):
        return _sf.Token(str(value))
    assert isinstance(value, bool | int | Decimal | str | bytes), type(value)
    return value


@given(dictionaries)
def test_dictionaries_round_trip_through_http_sf(value: dict[str, _sf.Member]) -> None:
    text = _sf.serialize_dictionary(value)
    parsed = http_sf.parse(text.encode(), tltype="dictionary")
    assert (ours(parsed), http_sf.ser(parsed)) == (value, text)
    back = _sf.parse_dictionary(http_sf.ser(theirs(value)))
    # Token("a") == "a": the spelling tells a token from a string.
    assert (back, _sf.serialize_dictionary(back)) == (value, text)


@given(lists)
def test_lists_round_trip_through_http_sf(value: list[_sf.Member]) -> None:
    text = _sf.serialize_list(value)
    parsed = http_sf.parse(text.encode(), tltype="list")
    assert (ours(parsed), http_sf.ser(parsed)) == (value, text)
    back = _sf.parse_list(http_sf.ser(theirs(value)))
    # Token("a") == "a": the spelling tells a token from a string.
    assert (back, _sf.serialize_list(back)) == (value, text)


@given(items)
def test_items_round_trip_through_http_sf(value: _sf.Item) -> None:
    text = _sf.serialize_item(value)
    parsed = http_sf.parse(text.encode(), tltype="item")
    assert (ours(parsed), http_sf.ser(parsed)) == (value, text)
    back = _sf.parse_item(http_sf.ser(theirs(value)))
    # Token("a") == "a": the spelling tells a token from a string.
    assert (back, _sf.serialize_item(back)) == (value, text)


# RFC 8941 syntax only: no "@" (dates) or "%" (display strings), which RFC 9651 added.
field_text = st.text(alphabet='abcz019 ,;=()"?:*.-_/+\\\t', max_size=24)


@given(field_text)
def test_both_parsers_accept_and_refuse_the_same_dictionaries(text: str) -> None:
    try:
        mine: Any = _sf.parse_dictionary(text)
    except ParseError:
        mine = None
    try:
        other: Any = ours(http_sf.parse(text.encode(), tltype="dictionary"))
    except ValueError:
        other = None
    assert mine == other
    if mine:  # an empty field is not serialised at all (RFC 8941 §4.1)
        assert _sf.serialize_dictionary(mine) == http_sf.ser(theirs(mine))
