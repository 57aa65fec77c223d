"""The server side of the ``generic_rest`` protocol, as written in ``docs/generic_rest.md``.

It is a thin translation layer: authenticate, route, validate strictly, run writes through
the bank's idempotency store, and call the protocol-neutral
:class:`~walletlink.testing.ledger.Ledger`.
Everything a reliability test leans on (stored replays, 409 while in flight, 422 on a
changed body, signed webhooks) lives here or in the shell, so the client adapter can be
tested against the letter of the wire format.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Final, NoReturn, Protocol, TypeVar

from walletlink.accounts import AccountId, Bic, Iban, LocalAccount, SortCodeAccount, mask
from walletlink.errors import CurrencyMismatchError, InvalidAccountError, ValidationError
from walletlink.models import TransferStatus
from walletlink.money import CURRENCY_EXPONENTS, Money
from walletlink.signing.webhooks import StandardWebhook
from walletlink.testing._http import MockRequest, MockResponse
from walletlink.testing._routing import NoRoute, find_route
from walletlink.testing.faults import FaultKind
from walletlink.testing.idempotency import ClaimState, request_fingerprint
from walletlink.testing.ledger import (
    AccountNotFoundError,
    BankTransferView,
    LedgerEntry,
    TransferInstruction,
    TransferNotCancellableError,
    TransferNotFoundError,
)

if TYPE_CHECKING:
    from walletlink.testing.mockbank import MockBank, OutgoingWebhook

__all__ = ["GenericRestServer", "WebhookSigner"]

T = TypeVar("T")

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
_EVENT_STATUSES: Final = frozenset(
    {
        TransferStatus.PROCESSING,
        TransferStatus.SETTLED,
        TransferStatus.REJECTED,
        TransferStatus.CANCELLED,
        TransferStatus.RETURNED,
    }
)
_TRANSFER_FIELDS: Final = frozenset(
    {"amount", "currency", "debtor_account", "creditor", "remittance", "end_to_end_id", "metadata"}
)
_CREDITOR_FIELDS: Final = frozenset({"name", "account", "agent", "country"})
_ACCOUNT_FIELDS: Final = frozenset({"scheme", "value"})


class WebhookSigner(Protocol):
    """Signs one webhook; returns the headers to send (``webhook-id``, ``-timestamp``,
    ``-signature`` for Standard Webhooks)."""

    def sign(self, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]: ...


class _Fail(Exception):
    """Stop handling and answer with an error object."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        error: dict[str, str] = {"type": type, "code": code, "message": message}
        if param is not None:
            error["param"] = param
        self.response = MockResponse.json(status, {"error": error}, headers)


def _invalid(param: str, message: str) -> NoReturn:
    raise _Fail(400, "parameter_invalid", f"{param}: {message}", param=param)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _account_json(account: AccountId) -> dict[str, str]:
    if isinstance(account, Iban):
        return {"scheme": "iban", "value": account.value}
    if isinstance(account, SortCodeAccount):
        return {"scheme": "sort_code", "value": account.value}
    return {"scheme": "local", "value": account.value}


class GenericRestServer:
    """Answers ``generic_rest`` requests for one :class:`~walletlink.testing.MockBank`.

    ``webhook_signer`` replaces the default Standard Webhooks signer over the bank's
    ``webhook_secret`` (for example to sign with a rotated pair of secrets).
    """

    def __init__(self, bank: MockBank, *, webhook_signer: WebhookSigner | None = None) -> None:
        self.bank = bank
        self.signer: WebhookSigner = webhook_signer or StandardWebhook([bank.webhook_secret])
        # Idempotency keys are scoped per API key; a digest keeps the key itself out of it.
        self._scope = hashlib.sha256(bank.api_key.encode()).hexdigest()
        self._counter_lock = threading.Lock()
        self._events = 0
        self._requests = 0
        self._routes: Sequence[tuple[str, re.Pattern[str], Callable[..., MockResponse]]] = (
            ("POST", re.compile(r"/v1/transfers"), self._create),
            ("GET", re.compile(r"/v1/transfers"), self._list),
            ("GET", re.compile(r"/v1/transfers/([^/]+)"), self._get),
            ("POST", re.compile(r"/v1/transfers/([^/]+)/cancel"), self._cancel),
            ("GET", re.compile(r"/v1/accounts/([^/]+)/balances"), self._balances),
            ("GET", re.compile(r"/v1/accounts/([^/]+)/transactions"), self._transactions),
        )

    # -- the ProtocolServer interface -----------------------------------------------------

    def handle(self, request: MockRequest) -> MockResponse:
        try:
            self._authenticate(request)
            response = self._route(request)
        except _Fail as failure:
            response = failure.response
        if "Request-Id" in response.headers:
            return response  # a replay keeps the first answer's id, as it keeps its bytes
        return response.with_headers(Request_Id=self._next_id("req"))

    def fault_response(self, kind: FaultKind, retry_after: int) -> MockResponse:
        if kind is FaultKind.RATE_LIMIT:
            failure = _Fail(
                429,
                "rate_limited",
                "too many requests",
                type="rate_limit_error",
                headers={"Retry-After": str(retry_after)},
            )
        elif kind is FaultKind.UNAVAILABLE:
            failure = _Fail(503, "unavailable", "temporarily unavailable", type="api_error")
        else:
            failure = _Fail(500, "internal_error", "internal error", type="api_error")
        return failure.response.with_headers(Request_Id=self._next_id("req"))

    def webhooks_for(self, transfer: BankTransferView) -> list[OutgoingWebhook]:
        from walletlink.testing.mockbank import OutgoingWebhook

        if transfer.status not in _EVENT_STATUSES:
            return []
        event_id = self._next_id("evt")
        payload = {
            "type": f"transfer.{transfer.status.value}",
            "created_at": _timestamp(transfer.updated_at),
            "data": self._transfer_json(transfer),
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = self.signer.sign(event_id, self.bank.clock.timestamp(), body)
        headers["content-type"] = "application/json"
        return [OutgoingWebhook(id=event_id, headers=headers, body=body)]

    # -- plumbing -----------------------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        with self._counter_lock:
            if prefix == "evt":
                self._events += 1
                return f"evt_{self._events:04d}"
            self._requests += 1
            return f"req_{self._requests:06d}"

    def _authenticate(self, request: MockRequest) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        expected = self.bank.api_key.encode()
        # compare_digest on bytes: constant time even when the lengths differ.
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected):
            raise _Fail(401, "invalid_api_key", "invalid API key", type="authentication_error")

    def _route(self, request: MockRequest) -> MockResponse:
        try:
            (_, _, handler), args = find_route(self._routes, request)
        except NoRoute as missing:
            if missing.method_not_allowed:
                raise _Fail(
                    405, "method_not_allowed", f"{request.method} is not allowed here"
                ) from None
            raise _Fail(404, "not_found", "no such endpoint") from None
        return handler(request, *args)

    def _idempotent(
        self, request: MockRequest, execute: Callable[[], MockResponse]
    ) -> MockResponse:
        """Brandur Leach's recipe: claim atomically, execute, store; release on refusal."""
        key = request.headers.get("Idempotency-Key")
        if not key:
            raise _Fail(
                400,
                "parameter_missing",
                "writes need an Idempotency-Key header",
                param="Idempotency-Key",
            )
        if len(key) > 255:
            _invalid("Idempotency-Key", "at most 255 characters")
        store = self.bank.idempotency
        fingerprint = request_fingerprint(request.method, request.path, request.body)
        claim = store.begin(self._scope, key, fingerprint)
        if claim.state is ClaimState.MISMATCH:
            self.bank.count("idempotency_mismatches")
            raise _Fail(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was used with different parameters",
                type="idempotency_error",
            )
        if claim.state is ClaimState.IN_FLIGHT:
            self.bank.count("idempotency_conflicts")
            raise _Fail(
                409,
                "idempotency_key_in_use",
                "a request with this Idempotency-Key is in progress; retry",
                type="conflict",
            )
        if claim.state is ClaimState.REPLAY:
            assert claim.response is not None
            self.bank.count("replays")
            return claim.response.with_headers(Idempotent_Replayed="true")
        try:
            # The id is part of what is stored, so a replay repeats it with the bytes.
            response = execute().with_headers(Request_Id=self._next_id("req"))
        except BaseException:
            # Refused before executing (or a bug): nothing to replay, the key is free again.
            store.release(self._scope, key)
            raise
        store.complete(self._scope, key, response)
        return response

    # -- transfers ----------------------------------------------------------------------

    def _create(self, request: MockRequest) -> MockResponse:
        def execute() -> MockResponse:
            body = _json_object(request.body)
            instruction = _instruction(body, request.headers.get("Idempotency-Key"))
            try:
                transfer = self.bank.ledger.submit(instruction, self.bank.clock.now())
            except AccountNotFoundError:
                raise _Fail(
                    404, "account_not_found", "no such debtor account", param="debtor_account"
                ) from None
            except CurrencyMismatchError as error:
                _invalid("currency", error.message)
            return MockResponse.json(201, self._transfer_json(transfer))

        return self._idempotent(request, execute)

    def _cancel(self, request: MockRequest, transfer_id: str) -> MockResponse:
        def execute() -> MockResponse:
            try:
                transfer = self.bank.ledger.cancel(transfer_id, self.bank.clock.now())
            except TransferNotFoundError:
                raise _Fail(404, "transfer_not_found", "no such transfer") from None
            except TransferNotCancellableError as error:
                raise _Fail(409, "transfer_not_cancellable", str(error), type="conflict") from None
            self.bank.notify(transfer)
            return MockResponse.json(200, self._transfer_json(transfer))

        return self._idempotent(request, execute)

    def _get(self, request: MockRequest, transfer_id: str) -> MockResponse:
        try:
            transfer = self.bank.ledger.transfer(transfer_id)
        except TransferNotFoundError:
            raise _Fail(404, "transfer_not_found", "no such transfer") from None
        return MockResponse.json(200, self._transfer_json(transfer))

    def _list(self, request: MockRequest) -> MockResponse:
        key = request.param("idempotency_key")
        e2e = request.param("end_to_end_id")
        found = [
            transfer
            for transfer in self.bank.ledger.transfers()
            if (key is None or transfer.idempotency_key == key)
            and (e2e is None or transfer.end_to_end_id == e2e)
        ]
        page, cursor = _paginate(request, "tr", found, lambda t: int(t.id.split("_")[1]))
        data = [self._transfer_json(transfer) for transfer in page]
        return MockResponse.json(200, {"data": data, "next_cursor": cursor})

    def _transfer_json(self, transfer: BankTransferView) -> dict[str, Any]:
        instruction = transfer.instruction
        creditor: dict[str, Any] = {
            "name": instruction.creditor_name,
            "account": _account_json(instruction.creditor_account),
        }
        if instruction.creditor_agent is not None:
            creditor["agent"] = instruction.creditor_agent
        if instruction.creditor_country is not None:
            creditor["country"] = instruction.creditor_country
        reason = None
        if transfer.reason is not None:
            reason = {"code": transfer.reason.value, "message": transfer.reason_message}
        return {
            "id": transfer.id,
            "status": transfer.status.value,
            "amount": transfer.amount.to_decimal_string(),
            "currency": transfer.amount.currency,
            "debtor_account": _account_json(instruction.debtor_account),
            "creditor": creditor,
            "remittance": instruction.remittance,
            "end_to_end_id": instruction.end_to_end_id,
            "idempotency_key": instruction.idempotency_key,
            "metadata": dict(instruction.metadata),
            "reason": reason,
            "created_at": _timestamp(transfer.created_at),
            "updated_at": _timestamp(transfer.updated_at),
        }

    # -- accounts -----------------------------------------------------------------------

    def _balances(self, request: MockRequest, account: str) -> MockResponse:
        try:
            view = self.bank.ledger.account(account)
        except AccountNotFoundError:
            raise _Fail(404, "account_not_found", "no such account") from None
        data = [
            {"type": kind, "amount": money.to_decimal_string(), "currency": money.currency}
            for kind, money in (("CLBD", view.booked), ("ITAV", view.available))
        ]
        return MockResponse.json(200, {"data": data})

    def _transactions(self, request: MockRequest, account: str) -> MockResponse:
        start = _date_param(request, "from")
        end = _date_param(request, "to")
        try:
            entries = self.bank.ledger.entries(account)
        except AccountNotFoundError:
            raise _Fail(404, "account_not_found", "no such account") from None
        selected = [
            entry
            for entry in entries
            if (start is None or entry.booked_at.date() >= start)
            and (end is None or entry.booked_at.date() <= end)
        ]
        page, cursor = _paginate(request, "txn", selected, lambda e: e.seq)
        return MockResponse.json(
            200, {"data": [_transaction_json(e) for e in page], "next_cursor": cursor}
        )


def _transaction_json(entry: LedgerEntry) -> dict[str, Any]:
    booked = entry.booked_at.astimezone(UTC).date().isoformat()
    other = entry.counterparty_account
    return {
        "id": entry.id,
        "transfer_id": entry.transfer_id,
        "amount": entry.amount.to_decimal_string(),
        "currency": entry.amount.currency,
        "direction": entry.direction.value,
        "status": "booked",
        "booking_date": booked,
        "value_date": booked,
        "end_to_end_id": entry.end_to_end_id,
        "counterparty_name": entry.counterparty_name,
        # Statement lines show the counterparty masked, as a bank's UI does.
        "counterparty_account": mask(other.value) if other is not None else None,
        "remittance": entry.remittance,
    }


# -- pagination ---------------------------------------------------------------------------


def _paginate(
    request: MockRequest, kind: str, items: list[T], seq: Callable[[T], int]
) -> tuple[list[T], str | None]:
    """One page of ``items`` (already in a stable order) after the request's cursor.

    The cursor names the last item returned, not an offset, so a page boundary does not
    shift when new items are appended between calls.
    """
    limit_text = request.param("limit")
    limit = DEFAULT_LIMIT
    if limit_text is not None:
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            _invalid("limit", f"an integer from 1 to {MAX_LIMIT}")
        limit = int(limit_text)
    cursor = request.param("cursor")
    if cursor:
        after = _decode_cursor(cursor, kind)
        items = [item for item in items if seq(item) > after]
    page = items[:limit]
    more = len(items) > limit
    return page, _encode_cursor(kind, seq(page[-1])) if more else None


def _encode_cursor(kind: str, after: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{after}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, kind: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix == kind and number.isdigit():
            return int(number)
    except (ValueError, UnicodeDecodeError):
        pass
    _invalid("cursor", "not a cursor this endpoint issued")


def _date_param(request: MockRequest, name: str) -> date | None:
    text = request.param(name)
    if text is None:
        return None
    try:
        return date.fromisoformat(text) if len(text) == 10 else _invalid(name, "YYYY-MM-DD")
    except ValueError:
        _invalid(name, "a date as YYYY-MM-DD")


# -- request validation -------------------------------------------------------------------


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        _invalid("body", "not valid JSON")
    if not isinstance(parsed, dict):
        _invalid("body", "must be a JSON object")
    return parsed


def _only(obj: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    for name in obj:
        if name not in allowed:
            _invalid(f"{where}{name}", "unknown field")


def _string(obj: Mapping[str, Any], name: str, param: str, *, most: int, least: int = 1) -> str:
    value = obj.get(name)
    if value is None:
        raise _Fail(400, "parameter_missing", f"{param} is required", param=param)
    if not isinstance(value, str):
        _invalid(param, "must be a string")
    if not least <= len(value) <= most:
        _invalid(param, f"must have {least} to {most} characters")
    return value


def _optional_string(obj: Mapping[str, Any], name: str, param: str, *, most: int) -> str | None:
    if obj.get(name) is None:
        return None
    return _string(obj, name, param, most=most, least=0)


def _amount(text: str, currency: str) -> Money:
    exponent = CURRENCY_EXPONENTS[currency]
    fraction = rf"\.[0-9]{{{exponent}}}" if exponent else ""
    if not re.fullmatch(rf"(0|[1-9][0-9]{{0,17}}){fraction}", text):
        _invalid("amount", f"a decimal string with exactly {exponent} decimals for {currency}")
    money = Money(text, currency)
    if not money.is_positive():
        _invalid("amount", "must be positive")
    return money


def _account(obj: Mapping[str, Any], name: str, param: str) -> AccountId:
    raw = obj.get(name)
    if raw is None:
        raise _Fail(400, "parameter_missing", f"{param} is required", param=param)
    if not isinstance(raw, dict):
        _invalid(param, "must be an object with scheme and value")
    _only(raw, _ACCOUNT_FIELDS, f"{param}.")
    scheme = _string(raw, "scheme", f"{param}.scheme", most=20)
    value = _string(raw, "value", f"{param}.value", most=70)
    try:
        if scheme == "iban":
            return Iban(value)
        if scheme == "sort_code":
            if len(value) != 14:
                _invalid(f"{param}.value", "a sort code account has 14 digits")
            return SortCodeAccount(value[:6], value[6:])
        if scheme == "local":
            return LocalAccount(value)
    except InvalidAccountError as error:
        _invalid(f"{param}.value", error.message)
    _invalid(f"{param}.scheme", "one of iban, sort_code, local")


def _metadata(body: Mapping[str, Any]) -> dict[str, str]:
    raw = body.get("metadata")
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > 50:
        _invalid("metadata", "an object of at most 50 string values")
    for name, value in raw.items():
        if not isinstance(value, str) or len(name) > 40 or len(value) > 500:
            _invalid(f"metadata.{name}", "a string of at most 500 characters")
    return dict(raw)


def _instruction(body: Mapping[str, Any], key: str | None) -> TransferInstruction:
    """Validate a transfer body field by field; the first problem is answered, named."""
    _only(body, _TRANSFER_FIELDS, "")
    currency = _string(body, "currency", "currency", most=3, least=3)
    if currency not in CURRENCY_EXPONENTS:
        _invalid("currency", "not an ISO 4217 currency code")
    amount = _amount(_string(body, "amount", "amount", most=40), currency)
    debtor = _account(body, "debtor_account", "debtor_account")
    creditor = body.get("creditor")
    if creditor is None:
        raise _Fail(400, "parameter_missing", "creditor is required", param="creditor")
    if not isinstance(creditor, dict):
        _invalid("creditor", "must be an object")
    _only(creditor, _CREDITOR_FIELDS, "creditor.")
    name = _string(creditor, "name", "creditor.name", most=140)
    if not name.strip():
        _invalid("creditor.name", "must not be blank")
    agent = _optional_string(creditor, "agent", "creditor.agent", most=11)
    if agent is not None:
        try:
            agent = Bic(agent).value
        except (InvalidAccountError, ValidationError) as error:
            _invalid("creditor.agent", error.message)
    country = _optional_string(creditor, "country", "creditor.country", most=2)
    if country is not None and not re.fullmatch(r"[A-Z]{2}", country):
        _invalid("creditor.country", "an ISO 3166 alpha-2 code")
    return TransferInstruction(
        amount=amount,
        debtor_account=debtor,
        creditor_name=name,
        creditor_account=_account(creditor, "account", "creditor.account"),
        creditor_agent=agent,
        creditor_country=country,
        remittance=_optional_string(body, "remittance", "remittance", most=140) or "",
        end_to_end_id=_string(body, "end_to_end_id", "end_to_end_id", most=35),
        idempotency_key=key,
        metadata=_metadata(body),
    )
