"""UK Open Banking (Read/Write API v3.1.x) wire format: field names, status and error maps.

Pure data translation shared by the ``openbanking_uk`` adapter: building ``OBDomestic2``
initiations from a :class:`~walletlink.models.TransferRequest`, reading consents, payments,
balances and transactions, and mapping ``OBErrorResponse1`` onto the error tree. Nothing
here does I/O or keeps state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote, unquote

from walletlink.accounts import AccountId, Iban, LocalAccount, SortCodeAccount
from walletlink.adapters._wire import field, retry_after_seconds
from walletlink.adapters._wire import money as wire_money
from walletlink.errors import (
    AuthenticationError,
    BankRejectedError,
    BankUnavailableError,
    ClaimError,
    IdempotencyMismatchError,
    InvalidAccountError,
    ProtocolError,
    RateLimitedError,
    SignatureMismatchError,
    SignatureMissingError,
    WalletLinkError,
)
from walletlink.models import (
    BalanceType,
    BookingStatus,
    Direction,
    Reason,
    ReasonCode,
    TransferRequest,
    TransferStatus,
)
from walletlink.money import Money

__all__ = [
    "BALANCE_TYPES",
    "CONSENT_STATUS",
    "PAYMENT_STATUS",
    "STATUS_REASONS",
    "BankRef",
    "account_json",
    "error_for",
    "initiation",
    "matches_account",
    "money",
    "payment_reason",
]

SCHEME_SORT_CODE: Final = "UK.OBIE.SortCodeAccountNumber"
SCHEME_IBAN: Final = "UK.OBIE.IBAN"
# Pre-3.1 banks still send the non-namespaced names; reading them costs nothing.
_SORT_CODE_SCHEMES: Final = frozenset({SCHEME_SORT_CODE, "SortCodeAccountNumber"})
_IBAN_SCHEMES: Final = frozenset({SCHEME_IBAN, "IBAN"})

#: ``OBTransactionIndividualStatus1Code``; anything unmapped is UNKNOWN, looked up again later.
PAYMENT_STATUS: Final[Mapping[str, TransferStatus]] = {
    "Pending": TransferStatus.PROCESSING,
    "AcceptedSettlementInProcess": TransferStatus.PROCESSING,
    "AcceptedSettlementCompleted": TransferStatus.SETTLED,
    "AcceptedCreditSettlementCompleted": TransferStatus.SETTLED,
    "Rejected": TransferStatus.REJECTED,
}

#: ``OBExternalConsentStatus1Code``. ``Authorised`` and ``Consumed`` are not transfer states:
#: the flow goes on to submit (or recover) the payment, so they are absent here.
CONSENT_STATUS: Final[Mapping[str, TransferStatus]] = {
    "AwaitingAuthorisation": TransferStatus.REQUIRES_ACTION,
    "Rejected": TransferStatus.REJECTED,
}

#: ISO 20022 ``ExternalStatusReason1Code`` values a bank gives for a rejected payment
#: (``Data.StatusReason[].StatusReasonCode``, the v4.0 field some v3.1 banks already send).
STATUS_REASONS: Final[Mapping[str, ReasonCode]] = {
    "AM04": ReasonCode.INSUFFICIENT_FUNDS,
    "AC01": ReasonCode.INVALID_ACCOUNT,
    "AC04": ReasonCode.ACCOUNT_CLOSED,
    "AC06": ReasonCode.ACCOUNT_BLOCKED,
    "AG01": ReasonCode.REGULATORY,
    "AM02": ReasonCode.LIMIT_EXCEEDED,
    "AM05": ReasonCode.DUPLICATE,
    "BE01": ReasonCode.INVALID_CREDITOR,
    "MS03": ReasonCode.OTHER,
}

BALANCE_TYPES: Final[Mapping[str, BalanceType]] = {
    "OpeningBooked": BalanceType.OPENING_BOOKED,
    "ClosingBooked": BalanceType.CLOSING_BOOKED,
    "InterimBooked": BalanceType.INTERIM_BOOKED,
    "InterimAvailable": BalanceType.INTERIM_AVAILABLE,
    "ClosingAvailable": BalanceType.CLOSING_AVAILABLE,
    "ForwardAvailable": BalanceType.FORWARD_AVAILABLE,
    "PreviouslyClosedBooked": BalanceType.PREVIOUSLY_CLOSED_BOOKED,
    "Expected": BalanceType.EXPECTED,
}

_CONSENT_PREFIX: Final = "consent/"


class BankRef:
    """The adapter's ``bank_transfer_id``: the consent id until a payment exists, then the
    payment id.

    A payment id is stored percent-encoded, so it can never start with ``consent/``
    (the slash would be ``%2F``); for ordinary ids the stored form is the id itself.
    """

    def __init__(self, *, consent_id: str | None = None, payment_id: str | None = None) -> None:
        if (consent_id is None) == (payment_id is None):
            raise ValueError("a BankRef holds a consent id or a payment id")
        self.consent_id = consent_id
        self.payment_id = payment_id

    def encode(self) -> str:
        if self.payment_id is not None:
            return quote(self.payment_id, safe="")
        assert self.consent_id is not None
        return _CONSENT_PREFIX + quote(self.consent_id, safe="")

    @classmethod
    def decode(cls, value: str) -> BankRef:
        if value.startswith(_CONSENT_PREFIX):
            return cls(consent_id=unquote(value.removeprefix(_CONSENT_PREFIX)))
        return cls(payment_id=unquote(value))


# -- reading ------------------------------------------------------------------------------


def money(obj: object, where: str) -> Money:
    """An ``OBActiveOrHistoricCurrencyAndAmount``: ``{"Amount": "12.30", "Currency": "GBP"}``."""
    if not isinstance(obj, Mapping):
        raise ProtocolError(f"{where} must be an amount object")
    amount, currency = field(obj, "Amount", where), field(obj, "Currency", where)
    if not isinstance(amount, str):
        # The spec makes amounts strings so they are never rounded through a float.
        raise ProtocolError(f"{where}.Amount must be a decimal string")
    return wire_money(amount, currency, where)


def signed_direction(obj: Mapping[str, Any], where: str) -> Direction:
    indicator = field(obj, "CreditDebitIndicator", where)
    if indicator == "Credit":
        return Direction.CREDIT
    if indicator == "Debit":
        return Direction.DEBIT
    raise ProtocolError(f"{where}.CreditDebitIndicator must be Credit or Debit")


def booking_status(value: object) -> BookingStatus:
    return BookingStatus.PENDING if value == "Pending" else BookingStatus.BOOKED


def payment_reason(data: Mapping[str, Any], status: TransferStatus) -> Reason | None:
    """Why a payment was rejected; the bank's raw code is kept (``AM04``, or the status)."""
    if status is not TransferStatus.REJECTED:
        return None
    reasons = data.get("StatusReason")
    if isinstance(reasons, list) and reasons and isinstance(reasons[0], Mapping):
        raw = str(reasons[0].get("StatusReasonCode", "")) or None
        return Reason(
            code=STATUS_REASONS.get(raw or "", ReasonCode.OTHER),
            raw_code=raw,
            message=str(reasons[0].get("StatusReasonDescription", "")),
        )
    return Reason(code=ReasonCode.OTHER, raw_code=str(data.get("Status")), message="")


def matches_account(obj: Mapping[str, Any], account: AccountId) -> bool:
    """Whether an ``OBAccount`` entry (``Account[]`` sub-objects) identifies ``account``."""
    if isinstance(account, LocalAccount) and account.scheme == "local":
        return obj.get("AccountId") == account.value
    for entry in obj.get("Account") or ():
        if not isinstance(entry, Mapping):
            continue
        scheme, ident = entry.get("SchemeName"), str(entry.get("Identification", ""))
        if isinstance(account, SortCodeAccount) and scheme in _SORT_CODE_SCHEMES:
            if ident == account.value:
                return True
        elif isinstance(account, Iban) and scheme in _IBAN_SCHEMES:
            if ident.replace(" ", "").upper() == account.value:
                return True
        elif isinstance(account, LocalAccount) and (scheme, ident) == (
            account.scheme,
            account.value,
        ):
            return True
    return False


# -- writing ------------------------------------------------------------------------------


def account_json(account: AccountId, name: str | None = None) -> dict[str, str]:
    """An ``OBCashAccount``: sort code + account number or IBAN (or a ``UK.OBIE.*`` scheme)."""
    if isinstance(account, SortCodeAccount):
        obj = {"SchemeName": SCHEME_SORT_CODE, "Identification": account.value}
    elif isinstance(account, Iban):
        obj = {"SchemeName": SCHEME_IBAN, "Identification": account.value}
    elif account.scheme.startswith("UK.OBIE."):
        obj = {"SchemeName": account.scheme, "Identification": account.value}
    else:
        raise InvalidAccountError(
            "UK Open Banking needs a sort code account, an IBAN or a UK.OBIE.* scheme; "
            f"got scheme {account.scheme!r}"
        )
    if name is not None:
        obj["Name"] = name[:350]
    return obj


def initiation(request: TransferRequest) -> dict[str, Any]:
    """``OBDomestic2`` for a transfer. The same request always gives the same object, so the
    consent and the payment carry identical initiations and a replay identical bytes."""
    body: dict[str, Any] = {
        # One instruction per end-to-end id: both are Max35Text and ours is 32 characters.
        "InstructionIdentification": request.end_to_end_id,
        "EndToEndIdentification": request.end_to_end_id,
        "InstructedAmount": {
            "Amount": request.amount.to_decimal_string(),
            "Currency": request.amount.currency,
        },
        "DebtorAccount": account_json(request.debtor_account),
        "CreditorAccount": account_json(request.creditor.account, request.creditor.name),
    }
    if request.remittance:
        remittance = {"Unstructured": request.remittance}
        if len(request.remittance) <= 35:
            remittance["Reference"] = request.remittance
        body["RemittanceInformation"] = remittance
    return body


# -- errors -------------------------------------------------------------------------------

_AUTH_CODES: Final = frozenset(
    {
        "UK.OBIE.Resource.InvalidConsentStatus",  # consent not authorised, consumed, revoked
        "UK.OBIE.Unauthorized",
        "UK.OBIE.NotAuthorised",
    }
)
_SIGNATURE_ERRORS: Final[Mapping[str, type[WalletLinkError]]] = {
    "UK.OBIE.Signature.Missing": SignatureMissingError,
    "UK.OBIE.Signature.MissingClaim": ClaimError,
    "UK.OBIE.Signature.InvalidClaim": ClaimError,
    "UK.OBIE.Signature.Invalid": SignatureMismatchError,
    "UK.OBIE.Signature.Malformed": SignatureMismatchError,
    "UK.OBIE.Signature.Unexpected": SignatureMismatchError,
}


def _first_error(body: object) -> tuple[str | None, str, str | None]:
    """(ErrorCode, Message, Path) of the first ``Errors[]`` entry of an OBErrorResponse1."""
    if not isinstance(body, Mapping):
        return None, "", None
    errors = body.get("Errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        first = errors[0]
        code = first.get("ErrorCode")
        path = first.get("Path")
        return (
            str(code) if code else None,
            str(first.get("Message", "")),
            str(path) if path else None,
        )
    return None, str(body.get("Message", "")), None


def error_for(
    status: int, body: object, *, retry_after: str | None, context: dict[str, Any]
) -> WalletLinkError:
    """Map a non-2xx reply onto the error tree; the raw ``UK.OBIE.*`` code is kept."""
    code, message, path = _first_error(body)
    detail = f"{code}: {message}" if code else message or f"HTTP {status}"
    if path:
        detail = f"{detail} (at {path})"
    if status == 429:
        seconds = retry_after_seconds(retry_after)
        return RateLimitedError("the bank is rate limiting", retry_after=seconds, **context)
    if status >= 500:
        return BankUnavailableError(f"the bank failed: {detail}", **context)
    if code is not None and code in _SIGNATURE_ERRORS:
        return _SIGNATURE_ERRORS[code](f"the bank refused our signature: {detail}", **context)
    if status in (401, 403) or code in _AUTH_CODES:
        return AuthenticationError(f"the bank refused the request: {detail}", **context)
    if code == "UK.OBIE.Header.Invalid" and path == "x-idempotency-key":
        return IdempotencyMismatchError(
            f"the bank holds a different request under this key: {detail}", **context
        )
    return BankRejectedError(detail, code=ReasonCode.OTHER, raw_code=code, **context)
