"""WeChat Pay v3 codes: transfer-bill states, error codes and fail reasons."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from walletlink.adapters._wire import mapped_status
from walletlink.models import Reason, ReasonCode, TransferStatus

__all__ = [
    "ERROR_CODES",
    "FAIL_REASONS",
    "STATE_MAP",
    "UNKNOWN_OUTCOME_CODES",
    "map_reason",
    "map_state",
]

#: Transfer-bill ``state`` → walletlink status. Anything else is UNKNOWN: asked again later.
STATE_MAP: Final[Mapping[str, TransferStatus]] = {
    "ACCEPTED": TransferStatus.PENDING,
    "PROCESSING": TransferStatus.PROCESSING,
    # The user must confirm the receipt in WeChat (the reply's package_info opens the page).
    "WAIT_USER_CONFIRM": TransferStatus.REQUIRES_ACTION,
    "TRANSFERING": TransferStatus.PROCESSING,  # sic: the platform's spelling
    "SUCCESS": TransferStatus.SETTLED,
    "FAIL": TransferStatus.REJECTED,
    # A cancel was asked for and is running: the money may still move, so not final.
    "CANCELING": TransferStatus.PROCESSING,
    "CANCELLED": TransferStatus.CANCELLED,
}

#: The platform's ``{"code": ...}`` on a non-2xx reply → what walletlink makes of it.
ERROR_CODES: Final[Mapping[str, str]] = {
    "PARAM_ERROR": "BankRejectedError (a parameter is malformed; nothing was executed)",
    "INVALID_REQUEST": "BankRejectedError (not allowed now, or the out_bill_no was used "
    "with other parameters)",
    "NOT_ENOUGH": "a REJECTED transfer, reason insufficient_funds",
    "ORDER_NOT_EXIST": "find_transfer: absent; get_transfer: BankRejectedError",
    "NOT_FOUND": "as ORDER_NOT_EXIST",
    "SIGN_ERROR": "AuthenticationError (our signature was refused; nothing was executed)",
    "NO_AUTH": "AuthenticationError (the merchant lacks the product permission)",
    "FREQUENCY_LIMITED": "RateLimitedError (retried with backoff)",
    "SYSTEM_ERROR": "BankUnavailableError; a transfer's outcome is then unknown and is "
    "resolved by a query with the same out_bill_no",
}

#: Codes that leave a write's outcome unknown: resolved by query, never resent anew.
UNKNOWN_OUTCOME_CODES: Final = frozenset({"SYSTEM_ERROR", "FREQUENCY_LIMITED"})

#: Transfer-bill ``fail_reason`` → standard reason; ``Reason.raw_code`` keeps the original.
FAIL_REASONS: Final[Mapping[str, ReasonCode]] = {
    "NOT_ENOUGH": ReasonCode.INSUFFICIENT_FUNDS,
    "ACCOUNT_FROZEN": ReasonCode.ACCOUNT_BLOCKED,
    "ACCOUNT_NOT_EXIST": ReasonCode.ACCOUNT_UNKNOWN,
    "OPENID_INVALID": ReasonCode.INVALID_ACCOUNT,
    "NAME_NOT_CORRECT": ReasonCode.INVALID_CREDITOR,
    "REAL_NAME_CHECK_FAIL": ReasonCode.INVALID_CREDITOR,
    "PAYEE_ACCOUNT_ABNORMAL": ReasonCode.ACCOUNT_BLOCKED,
    "PAYER_ACCOUNT_ABNORMAL": ReasonCode.ACCOUNT_BLOCKED,
    "TRANSFER_QUOTA_EXCEED": ReasonCode.LIMIT_EXCEEDED,
    "DAY_RECEIVED_QUOTA_EXCEED": ReasonCode.LIMIT_EXCEEDED,
    "MONTH_RECEIVED_QUOTA_EXCEED": ReasonCode.LIMIT_EXCEEDED,
    "DAY_RECEIVED_COUNT_EXCEED": ReasonCode.LIMIT_EXCEEDED,
    "TRANSFER_RISK": ReasonCode.REGULATORY,
    "MERCHANT_REJECT": ReasonCode.CANCELLED_BY_USER,
    "MERCHANT_NOT_CONFIRM": ReasonCode.CANCELLED_BY_USER,
}


def map_state(raw: object) -> TransferStatus:
    """A state nobody mapped is UNKNOWN, never REJECTED."""
    return mapped_status(STATE_MAP, raw)


def map_reason(code: str | None, message: str = "") -> Reason:
    """A fail reason (or error code) as a :class:`Reason` that keeps the raw code."""
    raw = code or ""
    standard = FAIL_REASONS.get(raw, ReasonCode.OTHER)
    return Reason(code=standard, raw_code=code or None, message=message)
