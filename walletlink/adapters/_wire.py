"""Reading bank replies: the small checks every adapter makes on parsed JSON.

Each helper turns a missing or ill-typed field into a :class:`ProtocolError` that names the
field, so a malformed reply never surfaces as a ``KeyError`` or ``TypeError``, and never
echoes the value itself (it may hold an account number).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from walletlink.errors import ProtocolError, WalletLinkError
from walletlink.models import Reason, Transfer, TransferRequest, TransferStatus
from walletlink.money import Money

__all__ = [
    "declined",
    "field",
    "list_of",
    "mapped_status",
    "money",
    "object_of",
    "parse_date",
    "parse_time",
    "text_field",
]


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header in delay-seconds form; ``None`` for anything else (an
    HTTP date, or garbage), which leaves the wait to the retry policy."""
    return float(value) if value and value.isdigit() else None


def field(obj: Mapping[str, Any], name: str, where: str = "reply") -> Any:
    """``obj[name]``, or a :class:`ProtocolError` naming the missing field."""
    try:
        return obj[name]
    except (KeyError, TypeError):
        raise ProtocolError(f"{where} lacks the field {name!r}") from None


def object_of(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ProtocolError(f"{what} must be a JSON object")
    return value


def list_of(obj: Mapping[str, Any], name: str, where: str = "reply") -> list[Mapping[str, Any]]:
    """``obj[name]`` as a list of JSON objects."""
    value = obj.get(name)
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise ProtocolError(f"{where} field {name!r} must be a list of objects")
    return value


def text_field(obj: Mapping[str, Any], name: str, where: str = "reply") -> str:
    """``obj[name]`` as a non-empty string."""
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{where} lacks the text field {name!r}")
    return value


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 / ISO 8601 date-time as an aware datetime (naive means UTC)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError("a date-time must be a string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        # 9999-12-31T23:59:59-23:59 parses but is past datetime.max in UTC: refuse it here
        # rather than let the journal's UTC conversion raise OverflowError later.
        parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ProtocolError(f"malformed date-time {value[:40]!r}") from None
    return parsed


def parse_date(value: object) -> date | None:
    """A ``YYYY-MM-DD`` date; a full date-time is accepted and cut to its date."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError("a date must be a string")
    if len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ProtocolError(f"malformed date {value!r}") from None
    moment = parse_time(value)
    return moment.date() if moment else None


def mapped_status(table: Mapping[str, TransferStatus], raw: object) -> TransferStatus:
    """The bank's status through an adapter's table. A status nobody mapped is UNKNOWN, to
    be looked up again later: never REJECTED, which would write off money that may move."""
    return table.get(str(raw), TransferStatus.UNKNOWN)


def money(amount: object, currency: object, where: str = "reply") -> Money:
    """Exact money from a reply's amount and currency; bad values are a ProtocolError."""
    if not isinstance(amount, str | int) or isinstance(amount, bool):
        # Specs send amounts as decimal strings so that they never pass through a float.
        raise ProtocolError(f"{where}: an amount must be a decimal string")
    try:
        return Money(str(amount), str(currency))
    except WalletLinkError as exc:
        raise ProtocolError(f"malformed amount in {where}: {exc.message}") from None


def declined(
    request: TransferRequest, *, transfer_id: str, bank_id: str, reason: Reason
) -> Transfer:
    """A transfer the bank verifiably refused, as a value: REJECTED, nothing moved.

    For replies whose business code says "not done" (insufficient funds, a closed account):
    the journal records the rejection, so the wallet refunds its user instead of retrying.
    """
    return Transfer(
        id=transfer_id,
        bank_id=bank_id,
        bank_transfer_id=None,
        end_to_end_id=request.end_to_end_id,
        idempotency_key=request.idempotency_key,
        amount=request.amount,
        status=TransferStatus.REJECTED,
        reason=reason,
    )
