from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walletlink.adapters._wire import (
    field,
    list_of,
    money,
    object_of,
    parse_date,
    parse_time,
    text_field,
)
from walletlink.errors import ProtocolError
from walletlink.money import Money


def test_missing_fields_name_the_field() -> None:
    with pytest.raises(ProtocolError, match="'amount'"):
        field({}, "amount")
    with pytest.raises(ProtocolError, match="'id'"):
        text_field({"id": ""}, "id")
    with pytest.raises(ProtocolError, match="'data'"):
        list_of({"data": [1]}, "data")
    with pytest.raises(ProtocolError, match="JSON object"):
        object_of([], "an amount")


def test_times_and_dates() -> None:
    assert parse_time("2026-11-25T10:00:00Z") == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert parse_time("2026-11-25T10:00:00") == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert parse_date("2026-11-25") == date(2026, 11, 25)
    assert parse_date("2026-11-25T23:00:00+00:00") == date(2026, 11, 25)
    assert parse_time(None) is None
    for bad in ("yesterday", 20261125):
        with pytest.raises(ProtocolError):
            parse_date(bad)


def test_money_is_exact_and_never_a_float() -> None:
    assert money("12.30", "EUR") == Money("12.30", "EUR")
    with pytest.raises(ProtocolError, match="decimal string"):
        money(12.3, "EUR")
    with pytest.raises(ProtocolError, match="malformed amount"):
        money("12.345", "EUR")


@pytest.mark.parametrize(
    "text", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "2026-02-30T00:00:00Z"]
)
def test_a_date_time_outside_what_utc_can_hold_is_a_protocol_error(text: str) -> None:
    with pytest.raises(ProtocolError, match="malformed date-time"):
        parse_time(text)


_OFFSETS = st.sampled_from([timezone(timedelta(minutes=m)) for m in (-1439, -60, 0, 90, 1439)])
_BANK_TIMES = st.one_of(
    st.text(max_size=40),
    st.datetimes(timezones=_OFFSETS).map(datetime.isoformat),
    st.datetimes().map(datetime.isoformat),
)


@given(_BANK_TIMES)
def test_parse_time_gives_a_storable_moment_or_a_protocol_error(text: str) -> None:
    """Whatever a bank sends, the result converts to UTC (the journal's form) or is refused."""
    try:
        moment = parse_time(text)
    except ProtocolError:
        return
    assert moment is not None
    assert moment.tzinfo is not None
    moment.astimezone(UTC)
