"""WeChat Pay v3 wire rules: ``out_bill_no`` from our idempotency key, fen amounts, openids.

``out_bill_no`` is 5 to 32 of ``[0-9A-Za-z]``, which walletlink's own keys do not fit
(``wlk-`` + 32 hex digits is 36 characters, a UUID 36 with hyphens). So the two shapes
walletlink makes are *re-encoded*, reversibly: the 128 bits they carry as 25 base-36
digits behind a 3-letter tag (``WLK…`` or ``UID…``, 28 characters). A key that already
fits is sent as it is; anything else is refused before it is journalled. The encoding is
a bijection, so a notification's ``out_bill_no`` maps back to exactly one key, and a
caller's own key in the reserved tagged shape is refused (it would be ambiguous).
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Final

from walletlink.errors import ProtocolError, ValidationError
from walletlink.money import Money

__all__ = [
    "CURRENCY",
    "decode_out_bill_no",
    "fen",
    "from_fen",
    "out_bill_no",
]

CURRENCY: Final = "CNY"
_PLAIN: Final = re.compile(r"[0-9A-Za-z]{5,32}")
_TAGGED: Final = re.compile(r"(WLK|UID)([0-9A-Z]{25})")
_WLK: Final = re.compile(r"wlk-([0-9a-f]{32})")
_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DIGITS: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_WIDTH: Final = 25  # 36**25 > 2**128
#: The most one transfer bill may carry here: 20,000,000.00 yuan in fen (far above any
#: merchant's limit; it keeps a typo from reaching the platform as a plausible number).
MAX_FEN: Final = 2_000_000_000


def _base36(number: int) -> str:
    digits = []
    for _ in range(_WIDTH):
        number, rest = divmod(number, 36)
        digits.append(_DIGITS[rest])
    return "".join(reversed(digits))


def out_bill_no(idempotency_key: str) -> str:
    """The ``out_bill_no`` that carries ``idempotency_key`` (see the module docstring)."""
    if _TAGGED.fullmatch(idempotency_key):
        raise ValidationError(
            "idempotency keys of the form WLK/UID + 25 of [0-9A-Z] are reserved for out_bill_no"
        )
    if _PLAIN.fullmatch(idempotency_key):
        return idempotency_key
    derived = _WLK.fullmatch(idempotency_key)
    if derived:
        return "WLK" + _base36(int(derived.group(1), 16))
    if _UUID.fullmatch(idempotency_key):
        return "UID" + _base36(uuid.UUID(idempotency_key).int)
    raise ValidationError(
        "the idempotency key must be 5-32 of [0-9A-Za-z] (or one walletlink derived) "
        "to travel as out_bill_no"
    )


def decode_out_bill_no(value: str) -> str:
    """The idempotency key an ``out_bill_no`` carries; the inverse of :func:`out_bill_no`."""
    tagged = _TAGGED.fullmatch(value)
    if tagged:
        number = int(tagged.group(2), 36)
        if number >= 1 << 128:
            raise ProtocolError("out_bill_no carries more than 128 bits")
        if tagged.group(1) == "WLK":
            return f"wlk-{number:032x}"
        return str(uuid.UUID(int=number))
    if not _PLAIN.fullmatch(value):
        raise ProtocolError("out_bill_no is not 5-32 of [0-9A-Za-z]")
    return value


def fen(amount: Money) -> int:
    """``amount`` in fen (分), the integer the platform wants; yuan only, at least 1 fen."""
    if amount.currency != CURRENCY:
        raise ValidationError(f"WeChat Pay moves {CURRENCY} only")
    units = amount.minor_units
    if not 0 < units <= MAX_FEN:
        raise ValidationError("a WeChat Pay transfer is 0.01 to 20,000,000.00 CNY")
    return units


def from_fen(value: Any, what: str) -> Money:
    """A reply's fen integer as exact yuan; anything but a non-negative int is refused."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError(f"{what} is not an amount in fen")
    return Money.from_minor(value, CURRENCY)
