"""Resource shapes of the ``openbanking_uk`` mock bank: validating ``OBDomestic2``
initiations and rendering accounts, balances and transactions from the ledger."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from walletlink.accounts import AccountId, Iban, LocalAccount, SortCodeAccount
from walletlink.errors import WalletLinkError
from walletlink.money import Money
from walletlink.protocols.openbanking_uk._mock_security import ObFail
from walletlink.testing._http import MockRequest
from walletlink.testing.ledger import AccountView, LedgerEntry, TransferInstruction

__all__ = [
    "AIS_PERMISSIONS",
    "account_entries",
    "account_json",
    "balance_entries",
    "instruction_from",
    "iso_time",
    "transaction_entries",
    "transactions_window",
    "validate_initiation",
]

AIS_PERMISSIONS: Final = (
    "ReadAccountsBasic",
    "ReadAccountsDetail",
    "ReadBalances",
    "ReadTransactionsBasic",
    "ReadTransactionsCredits",
    "ReadTransactionsDebits",
    "ReadTransactionsDetail",
)
_AMOUNT: Final = re.compile(r"^\d{1,13}$|^\d{1,13}\.\d{1,5}$")
_CURRENCY: Final = re.compile(r"^[A-Z]{3}$")
_INITIATION_FIELDS: Final = frozenset(
    {
        "InstructionIdentification",
        "EndToEndIdentification",
        "LocalInstrument",
        "InstructedAmount",
        "DebtorAccount",
        "CreditorAccount",
        "CreditorPostalAddress",
        "RemittanceInformation",
        "SupplementaryData",
    }
)


def iso_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _invalid(path: str, message: str) -> ObFail:
    return ObFail.ob(400, "UK.OBIE.Field.Invalid", message, path=path)


def _text(obj: Mapping[str, Any], name: str, path: str, *, most: int) -> str:
    value = obj.get(name)
    if value is None:
        raise ObFail.ob(400, "UK.OBIE.Field.Missing", f"{name} is required", path=f"{path}.{name}")
    if not isinstance(value, str) or not 1 <= len(value) <= most:
        raise _invalid(f"{path}.{name}", f"a string of 1 to {most} characters")
    return value


def _account(obj: object, path: str, *, named: bool) -> AccountId:
    if not isinstance(obj, Mapping):
        raise ObFail.ob(400, "UK.OBIE.Field.Missing", "an account is required", path=path)
    scheme = _text(obj, "SchemeName", path, most=40)
    ident = _text(obj, "Identification", path, most=256)
    if named:
        _text(obj, "Name", path, most=350)
    try:
        if scheme == "UK.OBIE.SortCodeAccountNumber" and len(ident) == 14:
            return SortCodeAccount(ident[:6], ident[6:])
        if scheme == "UK.OBIE.IBAN":
            return Iban(ident)
    except WalletLinkError as error:
        raise _invalid(f"{path}.Identification", error.message) from None
    raise _invalid(
        f"{path}.SchemeName", "this bank takes UK.OBIE.SortCodeAccountNumber or UK.OBIE.IBAN"
    )


def validate_initiation(obj: object) -> dict[str, Any]:
    """An ``OBDomestic2`` checked field by field; the first problem is answered, with its path."""
    path = "Data.Initiation"
    if not isinstance(obj, dict):
        raise ObFail.ob(400, "UK.OBIE.Field.Missing", "Initiation is required", path=path)
    for name in obj:
        if name not in _INITIATION_FIELDS:
            raise ObFail.ob(400, "UK.OBIE.Field.Unexpected", "unknown field", path=f"{path}.{name}")
    _text(obj, "InstructionIdentification", path, most=35)
    _text(obj, "EndToEndIdentification", path, most=35)
    amount = obj.get("InstructedAmount")
    if not isinstance(amount, Mapping):
        raise ObFail.ob(400, "UK.OBIE.Field.Missing", "required", path=f"{path}.InstructedAmount")
    where = f"{path}.InstructedAmount"
    if not _AMOUNT.match(str(_text(amount, "Amount", where, most=19))):
        raise _invalid(f"{where}.Amount", "a decimal string such as 12.30")
    if not _CURRENCY.match(_text(amount, "Currency", where, most=3)):
        raise _invalid(f"{where}.Currency", "an ISO 4217 code")
    # Debtor accounts are optional in the spec (the PSU picks one at the bank); this bank
    # has no PSU screen, so it needs to be told.
    _account(obj.get("DebtorAccount"), f"{path}.DebtorAccount", named=False)
    _account(obj.get("CreditorAccount"), f"{path}.CreditorAccount", named=True)
    remittance = obj.get("RemittanceInformation")
    if remittance is not None and not isinstance(remittance, Mapping):
        raise _invalid(f"{path}.RemittanceInformation", "an object")
    try:
        Money(amount["Amount"], amount["Currency"])
    except WalletLinkError as error:
        raise _invalid(f"{where}.Amount", error.message) from None
    return obj


def instruction_from(initiation: Mapping[str, Any], *, key: str | None) -> TransferInstruction:
    """The ledger instruction of a validated initiation."""
    amount = initiation["InstructedAmount"]
    creditor = initiation["CreditorAccount"]
    remittance = initiation.get("RemittanceInformation") or {}
    return TransferInstruction(
        amount=Money(amount["Amount"], amount["Currency"]),
        debtor_account=_account(initiation["DebtorAccount"], "DebtorAccount", named=False),
        creditor_name=creditor["Name"],
        creditor_account=_account(creditor, "CreditorAccount", named=True),
        remittance=str(remittance.get("Unstructured") or remittance.get("Reference") or ""),
        end_to_end_id=initiation["EndToEndIdentification"],
        idempotency_key=key,
    )


def _scheme(account: AccountId) -> dict[str, str] | None:
    if isinstance(account, SortCodeAccount):
        return {"SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": account.value}
    if isinstance(account, Iban):
        return {"SchemeName": "UK.OBIE.IBAN", "Identification": account.value}
    assert isinstance(account, LocalAccount)
    return None  # not addressable through UK Open Banking


def account_entries(views: Iterable[AccountView]) -> list[tuple[str, AccountView]]:
    """Each account with the stable ``AccountId`` the bank gives it (order of opening)."""
    return [(f"acc-{number:04d}", view) for number, view in enumerate(views, start=1)]


def account_json(account_id: str, view: AccountView) -> dict[str, Any]:
    scheme = _scheme(view.account)
    return {
        "AccountId": account_id,
        "Currency": view.currency,
        "AccountType": "Personal",
        "AccountSubType": "CurrentAccount",
        "Account": [{**scheme, "Name": view.name or "Account holder"}] if scheme else [],
    }


def _amount(money: Money) -> tuple[dict[str, str], str]:
    indicator = "Debit" if money.is_negative() else "Credit"
    magnitude = -money if money.is_negative() else money
    return {"Amount": magnitude.to_decimal_string(), "Currency": money.currency}, indicator


def balance_entries(account_id: str, view: AccountView, now: datetime) -> list[dict[str, Any]]:
    entries = []
    for kind, money in (("ClosingBooked", view.booked), ("InterimAvailable", view.available)):
        amount, indicator = _amount(money)
        entries.append(
            {
                "AccountId": account_id,
                "Amount": amount,
                "CreditDebitIndicator": indicator,
                "Type": kind,
                "DateTime": iso_time(now),
            }
        )
    return entries


def transaction_entries(account_id: str, entries: Iterable[LedgerEntry]) -> list[dict[str, Any]]:
    result = []
    for entry in entries:
        debit = entry.direction.value == "debit"
        other: dict[str, str] = {}
        if entry.counterparty_account is not None:
            other = _scheme(entry.counterparty_account) or {}
        if entry.counterparty_name:
            other["Name"] = entry.counterparty_name
        item: dict[str, Any] = {
            "AccountId": account_id,
            "TransactionId": entry.id,
            "TransactionReference": entry.end_to_end_id,
            "Amount": {
                "Amount": entry.amount.to_decimal_string(),
                "Currency": entry.amount.currency,
            },
            "CreditDebitIndicator": "Debit" if debit else "Credit",
            "Status": "Booked",
            "BookingDateTime": iso_time(entry.booked_at),
            "ValueDateTime": iso_time(entry.booked_at),
            "TransactionInformation": entry.remittance,
        }
        if other:
            item["CreditorAccount" if debit else "DebtorAccount"] = other
        result.append(item)
    return result


def _query_time(request: MockRequest, name: str) -> datetime | None:
    text = request.param(name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _invalid(name, "an ISO 8601 date-time") from None
    # The spec's filters carry no zone; this bank reads them as UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def transactions_window(request: MockRequest) -> tuple[datetime | None, datetime | None]:
    return _query_time(request, "fromBookingDateTime"), _query_time(request, "toBookingDateTime")
