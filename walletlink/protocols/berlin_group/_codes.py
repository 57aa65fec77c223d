"""Berlin Group NextGenPSD2 code tables, each mapped onto walletlink's model or error tree.

Kept apart from the adapter so that the docs, the mock bank and the tests read the same
tables: ``transactionStatus`` (the 14 ISO 20022 codes of the OpenAPI enum), the ISO status
reason codes a rejection may carry, ``balanceType`` and the ``tppMessages`` error codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from walletlink.adapters._wire import mapped_status
from walletlink.errors import (
    AuthenticationError,
    BankRejectedError,
    BankUnavailableError,
    CertificateMismatchError,
    RateLimitedError,
    SignatureExpiredError,
    SignatureMismatchError,
    SignatureMissingError,
    WalletLinkError,
)
from walletlink.models import BalanceType, ReasonCode, TransferStatus

__all__ = [
    "BALANCE_TYPES",
    "REASON_MAP",
    "STATUS_MAP",
    "TPP_ERRORS",
    "map_reason",
    "map_status",
    "tpp_error",
]

_S = TransferStatus

#: ``transactionStatus`` → walletlink status. Pre-execution acceptance stages stay PENDING
#: (the payment may still be cancelled); ACSP is executing; the three "accepted settlement"
#: codes are final for the debtor. Anything else is UNKNOWN: looked up again, never written off.
STATUS_MAP: Final[Mapping[str, TransferStatus]] = {
    "RCVD": _S.PENDING,  # received; REQUIRES_ACTION instead while an scaRedirect is offered
    "PDNG": _S.PENDING,  # further checks pending
    "ACTC": _S.PENDING,  # authentication and technical validation passed
    "ACCP": _S.PENDING,  # customer profile check passed
    "ACFC": _S.PENDING,  # funds checked (and, at most ASPSPs, reserved)
    "ACWC": _S.PENDING,  # accepted with a change (e.g. execution date) still to be applied
    "PATC": _S.REQUIRES_ACTION,  # multi-level SCA: more authorisations are needed
    "ACSP": _S.PROCESSING,  # accepted for execution, settlement in process
    "PART": _S.PROCESSING,  # bulk only: some accepted, the others not yet; not final
    "ACWP": _S.SETTLED,  # executed, not posted to the creditor account: final for the debtor
    "ACSC": _S.SETTLED,  # settled on the debtor's account
    "ACCC": _S.SETTLED,  # settled on the creditor's account
    "RJCT": _S.REJECTED,
    "CANC": _S.CANCELLED,
}

#: ISO 20022 ``ExternalStatusReason1Code`` values an ASPSP may attach to a RJCT.
REASON_MAP: Final[Mapping[str, ReasonCode]] = {
    "AM04": ReasonCode.INSUFFICIENT_FUNDS,
    "AC01": ReasonCode.INVALID_ACCOUNT,
    "AC03": ReasonCode.INVALID_CREDITOR,
    "AC04": ReasonCode.ACCOUNT_CLOSED,
    "AC06": ReasonCode.ACCOUNT_BLOCKED,
    "AM01": ReasonCode.INVALID_AMOUNT,
    "AM02": ReasonCode.LIMIT_EXCEEDED,
    "AM05": ReasonCode.DUPLICATE,
    "AM14": ReasonCode.LIMIT_EXCEEDED,
    "MS02": ReasonCode.AUTHORISATION_FAILED,  # the PSU refused (e.g. declined the SCA)
    "RR04": ReasonCode.REGULATORY,
}

#: ``balanceType`` → ISO balance type; ``nonInvoiced`` (card accounts) is not modelled.
BALANCE_TYPES: Final[Mapping[str, BalanceType]] = {
    "closingBooked": BalanceType.CLOSING_BOOKED,
    "openingBooked": BalanceType.OPENING_BOOKED,
    "interimBooked": BalanceType.INTERIM_BOOKED,
    "interimAvailable": BalanceType.INTERIM_AVAILABLE,
    "forwardAvailable": BalanceType.FORWARD_AVAILABLE,
    "expected": BalanceType.EXPECTED,
    "previouslyClosedBooked": BalanceType.PREVIOUSLY_CLOSED_BOOKED,
}

#: ``tppMessages`` codes → the walletlink error raised for them. Codes not listed map by
#: HTTP status: 401 → AuthenticationError, 429 → RateLimitedError, 5xx →
#: BankUnavailableError, any other → BankRejectedError carrying the raw code.
TPP_ERRORS: Final[Mapping[str, type[WalletLinkError]]] = {
    "SIGNATURE_INVALID": SignatureMismatchError,
    "SIGNATURE_MISSING": SignatureMissingError,
    "CERTIFICATE_MISSING": SignatureMissingError,
    "CERTIFICATE_INVALID": CertificateMismatchError,
    "CERTIFICATE_BLOCKED": CertificateMismatchError,
    "CERTIFICATE_REVOKED": CertificateMismatchError,
    "CERTIFICATE_EXPIRED": SignatureExpiredError,
    "PSU_CREDENTIALS_INVALID": AuthenticationError,
    "CONSENT_INVALID": AuthenticationError,
    "CONSENT_EXPIRED": AuthenticationError,
    "CONSENT_UNKNOWN": AuthenticationError,
    "TOKEN_INVALID": AuthenticationError,
    "TOKEN_UNKNOWN": AuthenticationError,
    "TOKEN_EXPIRED": AuthenticationError,
    "ACCESS_EXCEEDED": RateLimitedError,
}


def map_status(raw: object) -> TransferStatus:
    """A ``transactionStatus`` nobody mapped is UNKNOWN, never REJECTED."""
    return mapped_status(STATUS_MAP, raw)


def map_reason(raw: str) -> ReasonCode:
    return REASON_MAP.get(raw, ReasonCode.OTHER)


def tpp_error(
    code: str | None, text: str, http_status: int, context: Mapping[str, Any]
) -> WalletLinkError:
    """The walletlink error for one refused request; the message names the raw code."""
    label = code or f"HTTP {http_status}"
    message = f"the bank refused the request ({label})" + (f": {text[:200]}" if text else "")
    kind = TPP_ERRORS.get(code or "")
    if kind is RateLimitedError or (kind is None and http_status == 429):
        return RateLimitedError(message, retry_after=context.get("retry_after"), **_ctx(context))
    if kind is not None:
        return kind(message, **_ctx(context))
    if http_status == 401:
        return AuthenticationError(message, **_ctx(context))
    if http_status >= 500:
        return BankUnavailableError(message, **_ctx(context))
    return BankRejectedError(message, code=ReasonCode.OTHER, raw_code=code, **_ctx(context))


def _ctx(context: Mapping[str, Any]) -> dict[str, Any]:
    return {k: context.get(k) for k in ("bank_id", "request_id", "http_status")}
