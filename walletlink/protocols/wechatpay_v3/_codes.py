"""WeChat Pay v3 codes: transfer-bill, order and refund states, error codes and reasons."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from walletlink.adapters._wire import mapped_status
from walletlink.models import Reason, ReasonCode, TransferStatus

__all__ = [
    "ERROR_CODES",
    "FAIL_REASONS",
    "REFUND_STATUS_MAP",
    "REFUSAL_REASONS",
    "STATE_MAP",
    "TRADE_STATE_MAP",
    "UNKNOWN_OUTCOME_CODES",
    "map_reason",
    "map_refund_status",
    "map_state",
    "refusal_reason",
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
    "SYSTEM_ERROR": "BankUnavailableError; a transfer's or refund's outcome is then unknown "
    "and is resolved by a query with the same out_bill_no / out_refund_no",
    # -- orders (pay-in) and refunds ---------------------------------------------------------
    "ORDERPAID": "BankRejectedError, reason duplicate (the order is paid: not closable, not "
    "to be ordered again)",
    "ORDER_CLOSED": "BankRejectedError (the order is closed: order again under a new out_trade_no)",
    "RESOURCE_NOT_EXISTS": "refund query: absent; refund: a REJECTED refund (no such order)",
    "USER_ACCOUNT_ABNORMAL": "a REJECTED refund, reason account_blocked (the payer's account "
    "was closed or frozen; nothing was refunded)",
}

#: Codes that leave a write's outcome unknown: resolved by query, never resent anew.
UNKNOWN_OUTCOME_CODES: Final = frozenset({"SYSTEM_ERROR", "FREQUENCY_LIMITED"})

#: A refusal's code → the standard reason a ``BankRejectedError`` (or a rejected refund) carries.
REFUSAL_REASONS: Final[Mapping[str, ReasonCode]] = {
    "ORDER_NOT_EXIST": ReasonCode.ACCOUNT_UNKNOWN,
    "NOT_FOUND": ReasonCode.ACCOUNT_UNKNOWN,
    "RESOURCE_NOT_EXISTS": ReasonCode.ACCOUNT_UNKNOWN,
    "ORDERPAID": ReasonCode.DUPLICATE,
    "NOT_ENOUGH": ReasonCode.INSUFFICIENT_FUNDS,
    "USER_ACCOUNT_ABNORMAL": ReasonCode.ACCOUNT_BLOCKED,
    "PARAM_ERROR": ReasonCode.OTHER,
    "INVALID_REQUEST": ReasonCode.OTHER,
    "ORDER_CLOSED": ReasonCode.OTHER,
}

#: An order's ``trade_state`` → the walletlink status of the money coming in. ``REFUND``
#: ("转入退款") is a paid order some of which was refunded: the payment itself stands, the
#: refunds are their own transfers. Anything else is UNKNOWN: asked again later.
TRADE_STATE_MAP: Final[Mapping[str, TransferStatus]] = {
    "NOTPAY": TransferStatus.PENDING,
    "USERPAYING": TransferStatus.REQUIRES_ACTION,  # the user is entering their password
    "SUCCESS": TransferStatus.SETTLED,
    "REFUND": TransferStatus.SETTLED,
    "CLOSED": TransferStatus.CANCELLED,
    "REVOKED": TransferStatus.CANCELLED,  # micropay only
    "PAYERROR": TransferStatus.REJECTED,
}

#: A refund's ``status`` → walletlink status. ``ABNORMAL`` (退款异常: the payer's card was
#: cancelled or frozen) is *not* final: the money left the order but did not arrive, and the
#: merchant finishes it by hand or with the abnormal-refund API, so it stays PROCESSING with
#: a reason and a next action. Calling it REJECTED would invite a second refund under a new
#: key while the first can still be completed.
REFUND_STATUS_MAP: Final[Mapping[str, TransferStatus]] = {
    "PROCESSING": TransferStatus.PROCESSING,
    "ABNORMAL": TransferStatus.PROCESSING,
    "SUCCESS": TransferStatus.SETTLED,
    "CLOSED": TransferStatus.REJECTED,
}

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


def map_refund_status(raw: object) -> TransferStatus:
    """A refund status nobody mapped is UNKNOWN, never REJECTED."""
    return mapped_status(REFUND_STATUS_MAP, raw)


def refusal_reason(code: str) -> ReasonCode:
    """The standard reason for a refusal's error code; OTHER for codes not listed."""
    return REFUSAL_REASONS.get(code, ReasonCode.OTHER)
