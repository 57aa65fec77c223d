"""Request validation and JSON shapes of the Berlin Group mock bank.

Strict on the way in (every problem is a ``400 FORMAT_ERROR`` naming the field, as the
reference ASPSP answers), faithful to the OpenAPI 1.3 shapes on the way out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from walletlink.accounts import AccountId, Bic, Iban, LocalAccount
from walletlink.errors import InvalidAccountError, ValidationError
from walletlink.models import Direction, ReasonCode
from walletlink.money import CURRENCY_EXPONENTS, Money
from walletlink.protocols.berlin_group._mock_security import TppRefusal
from walletlink.testing.ledger import BankTransferView, LedgerEntry, TransferInstruction

__all__ = [
    "ISO_REASONS",
    "account_json",
    "account_ref",
    "json_object",
    "parse_instruction",
    "pending_json",
    "transaction_json",
]

_AMOUNT: Final = re.compile(r"(0|[1-9][0-9]{0,13})(\.[0-9]{1,3})?")
_EURO_ONLY: Final = frozenset({"sepa-credit-transfers", "instant-sepa-credit-transfers"})
_PAYMENT_FIELDS: Final = frozenset(
    {
        "endToEndIdentification",
        "instructionIdentification",
        "instructedAmount",
        "debtorAccount",
        "debtorName",
        "creditorName",
        "creditorAccount",
        "creditorAgent",
        "creditorAddress",
        "remittanceInformationUnstructured",
    }
)
#: The ledger's reasons as the ISO 20022 status reason codes a RJCT carries.
ISO_REASONS: Final[Mapping[ReasonCode, str]] = {
    ReasonCode.INSUFFICIENT_FUNDS: "AM04",
    ReasonCode.ACCOUNT_CLOSED: "AC04",
    ReasonCode.INVALID_ACCOUNT: "AC01",
}


def _format(text: str) -> TppRefusal:
    return TppRefusal(400, "FORMAT_ERROR", text)


def json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _format("the body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise _format("the body must be a JSON object")
    return parsed


def _text(body: Mapping[str, Any], name: str, most: int, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _format(f"{name} is required")
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= most:
        raise _format(f"{name} must be a string of 1 to {most} characters")
    return value


def account_ref(body: Mapping[str, Any], name: str) -> AccountId:
    """An account reference ``{"iban": …}`` or ``{"bban": …}`` (``currency`` optional)."""
    ref = body.get(name)
    if not isinstance(ref, dict):
        raise _format(f"{name} is required and must be an account reference")
    unknown = set(ref) - {"iban", "bban", "currency"}
    if unknown or len(set(ref) - {"currency"}) != 1:
        raise _format(f"{name} must hold exactly one of iban, bban")
    try:
        if isinstance(ref.get("iban"), str):
            return Iban(ref["iban"])
        if isinstance(ref.get("bban"), str) and ref["bban"]:
            return LocalAccount(ref["bban"], scheme="bban")
    except InvalidAccountError as error:
        raise _format(f"{name}: {error.message}") from None
    raise _format(f"{name} must hold a string iban or bban")


def account_json(account_id: AccountId) -> dict[str, str]:
    key = "iban" if isinstance(account_id, Iban) else "bban"
    return {key: account_id.value}


def _amount(body: Mapping[str, Any]) -> Money:
    raw = body.get("instructedAmount")
    if not isinstance(raw, dict) or set(raw) != {"currency", "amount"}:
        raise _format("instructedAmount must be {currency, amount}")
    currency, text = raw["currency"], raw["amount"]
    if currency not in CURRENCY_EXPONENTS:
        raise _format("instructedAmount.currency is not an ISO 4217 code")
    if not isinstance(text, str) or not _AMOUNT.fullmatch(text):
        raise _format("instructedAmount.amount must be a decimal string like 123.50")
    decimals = len(text.partition(".")[2])
    if decimals > CURRENCY_EXPONENTS[currency]:
        raise _format(f"instructedAmount.amount has too many decimals for {currency}")
    money = Money(text, currency)
    if not money.is_positive():
        raise _format("instructedAmount.amount must be positive")
    return money


def _agent(body: Mapping[str, Any]) -> str | None:
    value = _text(body, "creditorAgent", 11)
    if value is None:
        return None
    try:
        return Bic(value).value
    except (InvalidAccountError, ValidationError) as error:
        raise _format(f"creditorAgent: {error.message}") from None


def _country(body: Mapping[str, Any]) -> str | None:
    address = body.get("creditorAddress")
    if address is None:
        return None
    country = address.get("country") if isinstance(address, dict) else None
    if not isinstance(country, str) or not re.fullmatch(r"[A-Z]{2}", country):
        raise _format("creditorAddress.country must be an ISO 3166 alpha-2 code")
    return country


def parse_instruction(body: Mapping[str, Any], product: str) -> TransferInstruction:
    """Validate a ``paymentInitiation_json`` body field by field; the first problem is
    answered, named."""
    for name in body:
        if name not in _PAYMENT_FIELDS:
            raise _format(f"{name} is not a field of a {product} payment")
    amount = _amount(body)
    if product in _EURO_ONLY and amount.currency != "EUR":
        raise _format(f"{product} are in EUR only")
    return TransferInstruction(
        amount=amount,
        debtor_account=account_ref(body, "debtorAccount"),
        creditor_name=_text(body, "creditorName", 70, required=True) or "",
        creditor_account=account_ref(body, "creditorAccount"),
        creditor_agent=_agent(body),
        creditor_country=_country(body),
        remittance=_text(body, "remittanceInformationUnstructured", 140) or "",
        # ISO 20022's placeholder when the initiating party gives no end-to-end id.
        end_to_end_id=_text(body, "endToEndIdentification", 35) or "NOTPROVIDED",
        metadata={"payment_product": product},
    )


def transaction_json(entry: LedgerEntry) -> dict[str, Any]:
    """A booked ledger entry as a BG ``transactionDetails`` (debits are negative)."""
    debit = entry.direction is Direction.DEBIT
    day = entry.booked_at.date().isoformat()
    side = "creditor" if debit else "debtor"
    signed = -entry.amount if debit else entry.amount
    item: dict[str, Any] = {
        "transactionId": entry.id,
        "entryReference": entry.transfer_id,
        "endToEndId": entry.end_to_end_id,
        "bookingDate": day,
        "valueDate": day,
        "transactionAmount": {
            "currency": signed.currency,
            "amount": signed.to_decimal_string(),
        },
        "bankTransactionCode": "PMNT-ICDT-ESCT" if debit else "PMNT-RCDT-ESCT",
    }
    if entry.counterparty_name:
        item[f"{side}Name"] = entry.counterparty_name
    if entry.counterparty_account is not None:
        item[f"{side}Account"] = account_json(entry.counterparty_account)
    if entry.remittance:
        item["remittanceInformationUnstructured"] = entry.remittance
    return item


def pending_json(transfer: BankTransferView) -> dict[str, Any]:
    """An outgoing transfer not yet booked: a pending item, with no booking date."""
    instruction = transfer.instruction
    amount = -transfer.amount
    item: dict[str, Any] = {
        "endToEndId": instruction.end_to_end_id,
        "valueDate": transfer.settle_at.date().isoformat(),
        "transactionAmount": {"currency": amount.currency, "amount": amount.to_decimal_string()},
        "creditorName": instruction.creditor_name,
        "creditorAccount": account_json(instruction.creditor_account),
    }
    if instruction.remittance:
        item["remittanceInformationUnstructured"] = instruction.remittance
    return item
