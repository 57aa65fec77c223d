"""The ``generic_rest`` adapter: modern banking REST APIs (Increase, Column, Modern Treasury).

The wire format is in ``docs/generic_rest.md``. This module only translates: it builds
requests and parses replies. The client sends them, retries them and journals them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Final
from urllib.parse import quote

from walletlink._crosscheck import check_echo
from walletlink.accounts import AccountId
from walletlink.adapters._wire import (
    field,
    mapped_status,
    money,
    parse_date,
    parse_time,
    retry_after_seconds,
)
from walletlink.adapters.base import Adapter, Flow, Page, TransferRef
from walletlink.config import BankConfig
from walletlink.errors import (
    AuthenticationError,
    BankRejectedError,
    BankUnavailableError,
    ConfigurationError,
    IdempotencyMismatchError,
    ProtocolError,
    RateLimitedError,
)
from walletlink.http import PreparedRequest, RawResponse
from walletlink.models import (
    Balance,
    BalanceType,
    BookingStatus,
    Capability,
    Direction,
    Event,
    Reason,
    ReasonCode,
    Transaction,
    Transfer,
    TransferRequest,
    TransferStatus,
)
from walletlink.money import Money
from walletlink.signing.webhooks import StandardWebhook

__all__ = ["GenericRestAdapter"]

STATUS_MAP: Final[Mapping[str, TransferStatus]] = {
    "pending": TransferStatus.PENDING,
    "processing": TransferStatus.PROCESSING,
    "settled": TransferStatus.SETTLED,
    "rejected": TransferStatus.REJECTED,
    "cancelled": TransferStatus.CANCELLED,
    "returned": TransferStatus.RETURNED,
}

REASON_MAP: Final[Mapping[str, ReasonCode]] = {
    "insufficient_funds": ReasonCode.INSUFFICIENT_FUNDS,
    "account_closed": ReasonCode.ACCOUNT_CLOSED,
    "account_blocked": ReasonCode.ACCOUNT_BLOCKED,
    "invalid_account": ReasonCode.INVALID_ACCOUNT,
    "account_not_found": ReasonCode.ACCOUNT_UNKNOWN,
    "limit_exceeded": ReasonCode.LIMIT_EXCEEDED,
    "cancelled_by_user": ReasonCode.CANCELLED_BY_USER,
    "returned_by_creditor_bank": ReasonCode.OTHER,
    "parameter_invalid": ReasonCode.OTHER,
}

_PAGE_SIZE: Final = 100


def _money(obj: Mapping[str, Any]) -> Money:
    return money(field(obj, "amount"), field(obj, "currency"))


def _account_path(account: AccountId) -> str:
    return quote(account.value, safe="")


def _account_value(raw: object) -> str | None:
    """The ``value`` of an account object (``{"scheme": …, "value": …}``), if it has one."""
    value = raw.get("value") if isinstance(raw, Mapping) else None
    return value if isinstance(value, str) else None


def _reason(raw: object) -> Reason | None:
    if not isinstance(raw, Mapping):
        return None
    code = str(raw.get("code", ""))
    return Reason(
        code=REASON_MAP.get(code, ReasonCode.OTHER),
        raw_code=code or None,
        message=str(raw.get("message", "")),
    )


def map_status(raw: object) -> TransferStatus:
    """A bank status nobody mapped is UNKNOWN: looked up again later, never written off."""
    return mapped_status(STATUS_MAP, raw)


class GenericRestAdapter(Adapter):
    """Bearer API key, JSON, ``Idempotency-Key`` writes, cursor pages, Standard Webhooks."""

    protocol = "generic_rest"
    capabilities = frozenset(
        {
            Capability.PAYMENTS,
            Capability.CANCEL,
            Capability.ACCOUNT_INFORMATION,
            Capability.NOTIFICATIONS,
        }
    )
    request_id_headers = ("Request-Id", "X-Request-ID")

    def __init__(self, config: BankConfig) -> None:
        super().__init__(config)
        api_key = config.credentials.require("api_key", config.bank_id)
        if not isinstance(api_key, str) or not api_key:
            raise ConfigurationError("api_key must be a non-empty string", bank_id=config.bank_id)
        self._auth = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        secrets = config.credentials.get("webhook_secrets") or ()
        if isinstance(secrets, str):
            secrets = [secrets]
        self._webhooks = StandardWebhook(list(secrets)) if secrets else None

    # -- payments ---------------------------------------------------------------------------

    def create_transfer(self, request: TransferRequest, transfer_id: str) -> Flow[Transfer]:
        # The wire body is the canonical JSON itself (docs/generic_rest.md), byte for byte.
        response = yield PreparedRequest(
            method="POST",
            path="/v1/transfers",
            headers={
                **self._auth,
                "Content-Type": "application/json",
                "Idempotency-Key": request.idempotency_key,
            },
            body=request.canonical_json().encode(),
            idempotent=True,
            operation="create_transfer",
        )
        return self._transfer(response.json_object(), transfer_id, request)

    def get_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer]:
        if ref.bank_transfer_id is None:
            found = yield from self.find_transfer(ref, request)
            if found is None:
                raise BankRejectedError(
                    "the bank has no transfer under this idempotency key",
                    code=ReasonCode.ACCOUNT_UNKNOWN,
                    bank_id=self.config.bank_id,
                )
            return found
        response = yield PreparedRequest(
            method="GET",
            path=f"/v1/transfers/{quote(ref.bank_transfer_id, safe='')}",
            headers=self._auth,
            idempotent=True,
            operation="get_transfer",
        )
        return self._transfer(response.json_object(), ref.transfer_id, request)

    def find_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer | None]:
        key = ref.idempotency_key or request.idempotency_key
        response = yield PreparedRequest(
            method="GET",
            path="/v1/transfers",
            params=(("idempotency_key", key),),
            headers=self._auth,
            idempotent=True,
            operation="find_transfer",
        )
        data = field(response.json_object(), "data")
        if not isinstance(data, list):
            raise ProtocolError("'data' must be a list")
        matches = [item for item in data if isinstance(item, dict)]
        if len(matches) > 1:
            raise ProtocolError("the bank returned several transfers for one idempotency key")
        return self._transfer(matches[0], ref.transfer_id, request) if matches else None

    def cancel_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer]:
        if ref.bank_transfer_id is None:
            found = yield from self.get_transfer(ref, request)
            ref = TransferRef(
                transfer_id=ref.transfer_id,
                bank_transfer_id=found.bank_transfer_id,
                idempotency_key=ref.idempotency_key,
            )
        assert ref.bank_transfer_id is not None  # get_transfer always returns a bank id
        response = yield PreparedRequest(
            method="POST",
            path=f"/v1/transfers/{quote(ref.bank_transfer_id, safe='')}/cancel",
            headers={**self._auth, "Idempotency-Key": f"cancel-{request.idempotency_key}"},
            body=b"{}",
            idempotent=True,
            operation="cancel_transfer",
        )
        return self._transfer(response.json_object(), ref.transfer_id, request)

    def _transfer(
        self, obj: Mapping[str, Any], transfer_id: str, request: TransferRequest
    ) -> Transfer:
        # Key, end-to-end id and amount go into the Transfer for the client to check; the
        # accounts have no place there, so they are checked here.
        creditor = obj.get("creditor")
        check_echo(
            request,
            bank_id=self.config.bank_id,
            debtor_account=_account_value(obj.get("debtor_account")),
            creditor_account=_account_value(
                creditor.get("account") if isinstance(creditor, Mapping) else None
            ),
        )
        status = map_status(field(obj, "status"))
        return Transfer(
            id=transfer_id,
            bank_id=self.config.bank_id,
            bank_transfer_id=str(field(obj, "id")),
            end_to_end_id=str(field(obj, "end_to_end_id")),
            idempotency_key=str(field(obj, "idempotency_key")),
            amount=_money(obj),
            status=status,
            reason=_reason(obj.get("reason")),
            created_at=parse_time(obj.get("created_at")),
            updated_at=parse_time(obj.get("updated_at")),
        )

    # -- account information ----------------------------------------------------------------

    def balances(self, account: AccountId) -> Flow[list[Balance]]:
        response = yield PreparedRequest(
            method="GET",
            path=f"/v1/accounts/{_account_path(account)}/balances",
            headers=self._auth,
            idempotent=True,
            operation="balances",
            sensitive=(account.value,),
        )
        data = field(response.json_object(), "data")
        if not isinstance(data, list):
            raise ProtocolError("'data' must be a list")
        balances = []
        for item in data:
            try:
                kind = BalanceType(str(field(item, "type")))
            except ValueError:
                continue  # a balance type we do not model is not an error
            balances.append(Balance(account=account, amount=_money(item), type=kind))
        return balances

    def transactions_page(
        self, account: AccountId, date_from: date, date_to: date, cursor: str | None
    ) -> Flow[Page[Transaction]]:
        params = [
            ("from", date_from.isoformat()),
            ("to", date_to.isoformat()),
            ("limit", str(_PAGE_SIZE)),
        ]
        if cursor:
            params.append(("cursor", cursor))
        response = yield PreparedRequest(
            method="GET",
            path=f"/v1/accounts/{_account_path(account)}/transactions",
            params=tuple(params),
            headers=self._auth,
            idempotent=True,
            operation="transactions",
            sensitive=(account.value,),
        )
        body = response.json_object()
        data = field(body, "data")
        if not isinstance(data, list):
            raise ProtocolError("'data' must be a list")
        items = tuple(self._transaction(item, account) for item in data)
        next_cursor = body.get("next_cursor")
        return Page(items=items, next_cursor=str(next_cursor) if next_cursor else None)

    def _transaction(self, obj: Mapping[str, Any], account: AccountId) -> Transaction:
        direction = str(field(obj, "direction"))
        if direction not in ("credit", "debit"):
            raise ProtocolError(f"unknown direction {direction!r}")
        status = str(obj.get("status", "booked"))
        return Transaction(
            transaction_id=str(field(obj, "id")),
            account=account,
            amount=_money(obj),
            direction=Direction(direction),
            status=BookingStatus.PENDING if status == "pending" else BookingStatus.BOOKED,
            booking_date=parse_date(obj.get("booking_date")),
            value_date=parse_date(obj.get("value_date")),
            end_to_end_id=obj.get("end_to_end_id"),
            bank_reference=obj.get("transfer_id"),
            counterparty_name=obj.get("counterparty_name"),
            counterparty_account=obj.get("counterparty_account"),
            remittance=obj.get("remittance"),
        )

    # -- notifications ----------------------------------------------------------------------

    def parse_notification(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Event:
        if self._webhooks is None:
            raise ConfigurationError(
                "credentials need 'webhook_secrets' to verify notifications",
                bank_id=self.config.bank_id,
            )
        # Verify the raw bytes first: nothing is parsed from an unauthenticated body.
        self._webhooks.verify(headers, body, now=now)
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            payload = json.loads(body)
        except ValueError:
            raise ProtocolError("webhook body is not JSON") from None
        if not isinstance(payload, dict):
            raise ProtocolError("webhook body must be a JSON object")
        kind = str(field(payload, "type"))
        data = payload.get("data")
        event = Event(
            id=lowered["webhook-id"],
            bank_id=self.config.bank_id,
            type=kind,
            occurred_at=parse_time(payload.get("created_at")),
            data=payload,
        )
        if kind.startswith("transfer.") and isinstance(data, dict):
            return Event(
                id=event.id,
                bank_id=event.bank_id,
                type=kind,
                occurred_at=event.occurred_at,
                bank_transfer_id=str(field(data, "id")),
                idempotency_key=data.get("idempotency_key"),
                end_to_end_id=data.get("end_to_end_id"),
                status=map_status(field(data, "status")),
                reason=_reason(data.get("reason")),
                amount=_money(data) if "amount" in data else None,
                data=payload,
            )
        return event

    def notification_ack(self, event: Event) -> tuple[int, Mapping[str, str], bytes]:
        return 204, {}, b""

    # -- errors -----------------------------------------------------------------------------

    def error_for(self, response: RawResponse) -> Exception | None:
        error: Mapping[str, Any] = {}
        try:
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                error = body["error"]
        except ProtocolError:
            pass  # the status alone still says enough to classify the failure
        kind = str(error.get("type", ""))
        code = str(error.get("code", "")) or None
        message = str(error.get("message", "")) or f"HTTP {response.status}"
        context: dict[str, Any] = {
            "bank_id": self.config.bank_id,
            "http_status": response.status,
            "request_id": response.header("Request-Id"),
        }
        if response.status == 401 or kind == "authentication_error":
            return AuthenticationError(f"the bank refused the API key: {message}", **context)
        if response.status == 422 and kind == "idempotency_error":
            return IdempotencyMismatchError(
                "the bank holds a different request under this idempotency key", **context
            )
        if response.status == 429:
            retry_after = response.header("Retry-After")
            seconds = retry_after_seconds(retry_after)
            return RateLimitedError("the bank is rate limiting", retry_after=seconds, **context)
        if response.status >= 500:
            return BankUnavailableError(f"the bank failed: {message}", **context)
        return BankRejectedError(
            message,
            code=REASON_MAP.get(code or "", ReasonCode.OTHER),
            raw_code=code,
            **context,
        )
