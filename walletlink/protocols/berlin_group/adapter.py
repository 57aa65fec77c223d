"""The ``berlin_group`` adapter: NextGenPSD2 XS2A (Berlin Group Implementation Guidelines 1.3.x).

Payments (``sepa-credit-transfers``, ``instant-sepa-credit-transfers``,
``cross-border-credit-transfers``) with SCA by redirect, their status and cancellation;
account information under a consent; every request signed with the TPP's QSealC
(draft-cavage ``Signature`` + ``Digest`` + ``TPP-Signature-Certificate``) by
:class:`~walletlink.signing.cavage.BerlinGroupSigner`. The wire format, the status and error
tables and the idempotency story are in ``docs/berlin_group.md``.

Berlin Group has no idempotency header. The payment POST is therefore sent *once*: the
client never repeats it after it may have reached the bank, unless the bank is declared to
de-duplicate on ``endToEndIdentification`` (option ``dedupes_end_to_end_id``). An unknown
outcome is resolved by looking the payment up by its end-to-end id where the bank offers
that (option ``payment_lookup``); where it does not, :meth:`find_transfer` refuses to guess
and the transfer stays unresolved for reconciliation.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Final
from urllib.parse import quote, urlsplit

import attrs

from walletlink._crosscheck import check_echo
from walletlink.accounts import AccountId, Iban, mask
from walletlink.adapters._wire import field, money, object_of, parse_date, retry_after_seconds
from walletlink.adapters.base import Adapter, Flow, Page, RequestSigner, TransferRef
from walletlink.config import BankConfig
from walletlink.errors import (
    BankRejectedError,
    ConfigurationError,
    ProtocolError,
    SignatureError,
    UnknownOutcomeError,
    ValidationError,
    WalletLinkError,
)
from walletlink.http import PreparedRequest, RawResponse
from walletlink.models import (
    Balance,
    BookingStatus,
    Capability,
    Direction,
    NextAction,
    Reason,
    ReasonCode,
    Transaction,
    Transfer,
    TransferRequest,
    TransferStatus,
)
from walletlink.money import Money
from walletlink.protocols.berlin_group._codes import (
    BALANCE_TYPES,
    map_reason,
    map_status,
    tpp_error,
)
from walletlink.signing.cavage import BerlinGroupSigner, resolve_algorithm
from walletlink.signing.keys import SigningKey, load_pem

__all__ = ["PAYMENT_PRODUCTS", "BerlinGroupAdapter", "Consent"]

PAYMENT_PRODUCTS: Final = frozenset(
    {"sepa-credit-transfers", "instant-sepa-credit-transfers", "cross-border-credit-transfers"}
)
_BOOKING_STATUSES: Final = frozenset({"booked", "pending", "both"})


@attrs.frozen(kw_only=True)
class Consent:
    """An AIS consent at the bank. ``status`` is the BG ``consentStatus`` (``received``,
    ``valid``, ``rejected``, ``revokedByPsu``, ``expired``, ``terminatedByTpp``)."""

    consent_id: str
    status: str
    next_action: NextAction | None = None
    valid_until: date | None = None

    @property
    def is_valid(self) -> bool:
        return self.status == "valid"


def _qseal_key(config: BankConfig) -> SigningKey:
    raw = config.credentials.require("qseal", config.bank_id)
    key = raw if isinstance(raw, SigningKey) else load_pem(raw, kid="qseal")
    if key.certificate is None or key.private_key is None:
        raise ConfigurationError(
            "credentials 'qseal' needs the QSealC private key and its certificate",
            bank_id=config.bank_id,
        )
    return key


def _choice(config: BankConfig, name: str, default: str, allowed: frozenset[str]) -> str:
    value = str(config.option(name, default))
    if value not in allowed:
        raise ConfigurationError(
            f"option {name!r} must be one of {', '.join(sorted(allowed))}", bank_id=config.bank_id
        )
    return value


def _money(obj: object) -> Money:
    amount = object_of(obj, "an amount")
    return money(field(amount, "amount"), field(amount, "currency"))


def _account_ref(account: AccountId) -> dict[str, str]:
    # IBAN where there is one; BG's "bban" carries any other domestic identification.
    return {"iban": account.value} if isinstance(account, Iban) else {"bban": account.value}


def _account_text(ref: object) -> str | None:
    if not isinstance(ref, Mapping):
        return None
    for scheme in ("iban", "bban", "maskedPan", "msisdn", "other"):
        if isinstance(ref.get(scheme), str):
            return str(ref[scheme])
    return None


def _href(links: object, name: str) -> str | None:
    if not isinstance(links, Mapping):
        return None
    link = links.get(name)
    href = link.get("href") if isinstance(link, Mapping) else link
    return href if isinstance(href, str) and href else None


def _reason(obj: Mapping[str, Any], status: TransferStatus) -> Reason | None:
    """The reason of a rejection: an ISO code if the bank sends one, else ``fundsAvailable``."""
    if status is not TransferStatus.REJECTED:
        return None
    raw = obj.get("statusReasonCode")
    message = str(obj.get("psuMessage") or "")
    if isinstance(raw, str) and raw:
        return Reason(code=map_reason(raw), raw_code=raw, message=message)
    if obj.get("fundsAvailable") is False:
        return Reason(code=ReasonCode.INSUFFICIENT_FUNDS, raw_code=None, message=message)
    return Reason(code=ReasonCode.OTHER, raw_code=None, message=message)


class BerlinGroupAdapter(Adapter):
    """NextGenPSD2 XS2A: QSealC-signed requests, redirect SCA, consent-based AIS.

    Credentials: ``qseal`` (a :class:`SigningKey` with certificate, or PEM text holding the
    key and certificate) and optionally ``consent_id`` (a valid AIS consent). The QWAC for
    mTLS goes in ``BankConfig.client_cert``. Options are listed in ``docs/berlin_group.md``.
    """

    protocol = "berlin_group"
    capabilities = frozenset(
        {Capability.PAYMENTS, Capability.CANCEL, Capability.ACCOUNT_INFORMATION}
    )
    # The ASPSP answers with the X-Request-ID of the request (Implementation Guidelines 4.4).
    request_id_headers = ("X-Request-ID",)

    def __init__(self, config: BankConfig) -> None:
        super().__init__(config)
        key = _qseal_key(config)
        algorithm = str(config.option("signature_algorithm", "rsa-sha256"))
        try:
            resolve_algorithm(algorithm, key)
            self._signer = BerlinGroupSigner(key=key, algorithm=algorithm)
        except SignatureError as exc:
            raise ConfigurationError(
                f"the QSealC cannot sign with {algorithm!r}: {exc.message}", bank_id=config.bank_id
            ) from None
        self._product = _choice(
            config, "payment_product", "sepa-credit-transfers", PAYMENT_PRODUCTS
        )
        self._booking_status = _choice(config, "booking_status", "booked", _BOOKING_STATUSES)
        self._dedupes = bool(config.option("dedupes_end_to_end_id", False))
        self._lookup = bool(config.option("payment_lookup", False))
        consent = config.credentials.get("consent_id")
        self._consent_id: str | None = str(consent) if consent else None
        # IBAN → the bank's account resource id, learnt from GET /v1/accounts.
        self._resource_ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def signer(self) -> RequestSigner:
        return self._signer

    # -- request building -------------------------------------------------------------------

    def _headers(self, **extra: str | None) -> dict[str, str]:
        # One X-Request-ID per logical request: every attempt of it carries the same id, so
        # the bank's logs tie a retry to its first attempt.
        headers = {"Accept": "application/json", "X-Request-ID": str(uuid.uuid4())}
        headers.update({name.replace("_", "-"): v for name, v in extra.items() if v})
        return headers

    def _product_for(self, request: TransferRequest) -> str:
        product = request.metadata.get("payment_product", self._product)
        if product not in PAYMENT_PRODUCTS:
            known = ", ".join(sorted(PAYMENT_PRODUCTS))
            raise ValidationError(f"payment_product {product[:40]!r} is not one of {known}")
        return product

    def _payment_path(self, request: TransferRequest, payment_id: str, suffix: str = "") -> str:
        return f"/v1/payments/{self._product_for(request)}/{quote(payment_id, safe='')}{suffix}"

    def _psu_ip(self, request: TransferRequest) -> str:
        value = request.metadata.get("psu_ip_address") or self.config.option("psu_ip_address")
        if not value:
            raise ValidationError(
                "Berlin Group payments need the PSU's IP address: set "
                "metadata['psu_ip_address'] (or the bank option 'psu_ip_address')"
            )
        return str(value)

    def _payment_body(self, request: TransferRequest, product: str) -> dict[str, Any]:
        creditor = request.creditor
        body: dict[str, Any] = {
            "endToEndIdentification": request.end_to_end_id,
            "instructedAmount": {
                "currency": request.amount.currency,
                "amount": request.amount.to_decimal_string(),
            },
            "debtorAccount": _account_ref(request.debtor_account),
            "creditorName": creditor.name,
            "creditorAccount": _account_ref(creditor.account),
        }
        if creditor.agent is not None:
            body["creditorAgent"] = creditor.agent.value
        if creditor.country is not None and product == "cross-border-credit-transfers":
            body["creditorAddress"] = {"country": creditor.country}
        if request.remittance:
            body["remittanceInformationUnstructured"] = request.remittance
        return body

    # -- payments ---------------------------------------------------------------------------

    def validate(self, request: TransferRequest) -> None:
        """A known payment product, the PSU's IP address, and the payment body (built as a
        dry run): what the payment POST needs, refused before anything is journalled."""
        super().validate(request)
        self._psu_ip(request)
        self._payment_body(request, self._product_for(request))

    def create_transfer(self, request: TransferRequest, transfer_id: str) -> Flow[Transfer]:
        product = self._product_for(request)
        headers = self._headers(
            PSU_IP_Address=self._psu_ip(request),
            TPP_Redirect_URI=request.metadata.get("redirect_uri")
            or self.config.option("redirect_uri"),
        )
        response = yield PreparedRequest.json(
            "POST",
            f"/v1/payments/{product}",
            self._payment_body(request, product),
            headers=headers,
            # Only a bank that folds a repeated endToEndIdentification into the first payment
            # makes a re-send safe; without that, one POST, and lookups after a lost reply.
            idempotent=self._dedupes,
            operation="create_transfer",
        )
        obj = response.json_object()
        return self._transfer(obj, request, transfer_id, str(field(obj, "paymentId")))

    def get_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer]:
        if ref.bank_transfer_id is None:
            found = yield from self.find_transfer(ref, request)
            if found is None:
                raise BankRejectedError(
                    "the bank holds no payment with this end-to-end id",
                    code=ReasonCode.OTHER,
                    raw_code="RESOURCE_UNKNOWN",
                    bank_id=self.config.bank_id,
                )
            return found
        return (yield from self._status(ref, request))

    def _status(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer]:
        assert ref.bank_transfer_id is not None  # callers resolve the id first
        response = yield PreparedRequest(
            method="GET",
            path=self._payment_path(request, ref.bank_transfer_id, "/status"),
            headers=self._headers(),
            idempotent=True,
            operation="get_transfer",
        )
        return self._transfer(
            response.json_object(), request, ref.transfer_id, ref.bank_transfer_id
        )

    def find_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer | None]:
        """Look the payment up by end-to-end id, where the bank offers such a lookup.

        NextGenPSD2 1.3 has no search for payments. Without ``payment_lookup`` this raises
        :class:`UnknownOutcomeError` rather than answer "absent": an absent answer makes the
        client send the payment again, which is only safe if the bank really looked.
        """
        if not self._lookup:
            raise UnknownOutcomeError(
                "this bank offers no payment lookup by end-to-end id: reconcile the account "
                "statement before deciding",
                idempotency_key=ref.idempotency_key or request.idempotency_key,
                bank_id=self.config.bank_id,
            )
        e2e = ref.end_to_end_id or request.end_to_end_id
        response = yield PreparedRequest(
            method="GET",
            path=f"/v1/payments/{self._product_for(request)}",
            params=(("endToEndIdentification", e2e),),
            headers=self._headers(),
            idempotent=True,
            operation="find_transfer",
        )
        payments = field(response.json_object(), "payments")
        if not isinstance(payments, list):
            raise ProtocolError("'payments' must be a list")
        debtor = request.debtor_account.value
        mine = [
            object_of(item, "a payment")
            for item in payments
            if _account_text(object_of(item, "a payment").get("debtorAccount")) in (None, debtor)
        ]
        if len(mine) > 1:
            raise ProtocolError("the bank returned several payments for one end-to-end id")
        if not mine:
            return None
        found = mine[0]
        amount = found.get("instructedAmount")
        check_echo(
            request,
            bank_id=self.config.bank_id,
            end_to_end_id=_text(found.get("endToEndIdentification")),
            amount=None if amount is None else _money(amount),
            debtor_account=_account_text(found.get("debtorAccount")),
            creditor_account=_account_text(found.get("creditorAccount")),
        )
        return self._transfer(found, request, ref.transfer_id, str(field(found, "paymentId")))

    def cancel_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer]:
        if ref.bank_transfer_id is None:
            found = yield from self.get_transfer(ref, request)
            ref = attrs.evolve(ref, bank_transfer_id=found.bank_transfer_id)
        assert ref.bank_transfer_id is not None  # get_transfer always returns a payment id
        response = yield PreparedRequest(
            method="DELETE",
            path=self._payment_path(request, ref.bank_transfer_id),
            headers=self._headers(),
            # A repeated DELETE is harmless: a payment already cancelled is recognised below.
            idempotent=True,
            accept_status=frozenset({405}),
            operation="cancel_transfer",
        )
        if response.status == 405:
            current = yield from self._status(ref, request)
            if current.status is TransferStatus.CANCELLED:
                return current  # an earlier attempt cancelled it and its reply was lost
            raise self._error(response)
        if response.status == 204 or not response.body:
            return (yield from self._status(ref, request))
        obj = response.json_object()
        return self._transfer(obj, request, ref.transfer_id, ref.bank_transfer_id)

    def _transfer(
        self, obj: Mapping[str, Any], request: TransferRequest, transfer_id: str, payment_id: str
    ) -> Transfer:
        raw_status = field(obj, "transactionStatus")
        status = map_status(raw_status)
        redirect = _href(obj.get("_links"), "scaRedirect")
        next_action = None
        if redirect and status in (TransferStatus.PENDING, TransferStatus.REQUIRES_ACTION):
            # RCVD with an scaRedirect: nothing happens until the PSU authorises.
            status = TransferStatus.REQUIRES_ACTION
            next_action = NextAction(
                kind="redirect",
                url=redirect,
                data={"payment_id": payment_id, "payment_product": self._product_for(request)},
            )
        return Transfer(
            id=transfer_id,
            bank_id=self.config.bank_id,
            bank_transfer_id=payment_id,
            end_to_end_id=request.end_to_end_id,
            idempotency_key=request.idempotency_key,
            amount=request.amount,
            status=status,
            reason=_reason(obj, status),
            next_action=next_action,
        )

    # -- consents ---------------------------------------------------------------------------

    def create_consent(
        self,
        accounts: Sequence[AccountId] | None = None,
        *,
        valid_until: date,
        recurring: bool = True,
        frequency_per_day: int = 4,
        psu_ip_address: str | None = None,
        redirect_uri: str | None = None,
    ) -> Flow[Consent]:
        """``POST /v1/consents`` for balances and transactions of ``accounts`` (all the PSU's
        accounts when ``None``). The PSU authorises it at ``next_action.url``; then poll
        :meth:`consent_status` and hand the id to :meth:`use_consent`."""
        if frequency_per_day < 1 or (not recurring and frequency_per_day != 1):
            raise ValidationError("frequency_per_day is at least 1, and exactly 1 for one-off")
        if accounts is None:
            access: dict[str, Any] = {"allPsd2": "allAccounts"}
        else:
            refs = [_account_ref(account) for account in accounts]
            access = {"accounts": refs, "balances": refs, "transactions": refs}
        body = {
            "access": access,
            "recurringIndicator": recurring,
            "validUntil": valid_until.isoformat(),
            "frequencyPerDay": frequency_per_day,
            "combinedServiceIndicator": False,
        }
        response = yield PreparedRequest.json(
            "POST",
            "/v1/consents",
            body,
            headers=self._headers(
                PSU_IP_Address=psu_ip_address,
                TPP_Redirect_URI=redirect_uri or self.config.option("redirect_uri"),
            ),
            # A duplicate consent is harmless (it expires unauthorised): safe to re-send.
            idempotent=True,
            operation="create_consent",
        )
        return self._consent(response.json_object(), None)

    def consent_status(self, consent_id: str) -> Flow[Consent]:
        response = yield PreparedRequest(
            method="GET",
            path=f"/v1/consents/{quote(consent_id, safe='')}/status",
            headers=self._headers(),
            idempotent=True,
            operation="consent_status",
            sensitive=(consent_id,),
        )
        return self._consent(response.json_object(), consent_id)

    def delete_consent(self, consent_id: str) -> Flow[None]:
        yield PreparedRequest(
            method="DELETE",
            path=f"/v1/consents/{quote(consent_id, safe='')}",
            headers=self._headers(),
            idempotent=True,
            operation="delete_consent",
            sensitive=(consent_id,),
        )
        with self._lock:
            if self._consent_id == consent_id:
                self._consent_id = None

    def use_consent(self, consent_id: str) -> None:
        """Read accounts under ``consent_id`` from now on (it must be ``valid`` at the bank)."""
        with self._lock:
            self._consent_id = consent_id
            self._resource_ids.clear()  # resource ids are only known under a consent

    def _consent(self, obj: Mapping[str, Any], consent_id: str | None) -> Consent:
        found = str(obj.get("consentId") or consent_id or "")
        if not found:
            raise ProtocolError("reply lacks the field 'consentId'")
        status = str(field(obj, "consentStatus"))
        redirect = _href(obj.get("_links"), "scaRedirect")
        action = None
        if redirect and status == "received":
            action = NextAction(kind="redirect", url=redirect, data={"consent_id": found})
        return Consent(
            consent_id=found,
            status=status,
            next_action=action,
            valid_until=parse_date(obj.get("validUntil")),
        )

    # -- account information ----------------------------------------------------------------

    def _consent_header(self) -> str:
        with self._lock:
            consent = self._consent_id
        if consent is None:
            raise ConfigurationError(
                "no AIS consent: set credentials 'consent_id' or call use_consent()",
                bank_id=self.config.bank_id,
            )
        return consent

    def _resource_id(self, account: AccountId) -> Flow[str]:
        with self._lock:
            known = self._resource_ids.get(account.value)
        if known is not None:
            return known
        response = yield PreparedRequest(
            method="GET",
            path="/v1/accounts",
            headers=self._headers(Consent_ID=self._consent_header()),
            idempotent=True,
            operation="accounts",
        )
        listed = field(response.json_object(), "accounts")
        if not isinstance(listed, list):
            raise ProtocolError("'accounts' must be a list")
        ids = {
            _account_text(item): item.get("resourceId") for item in listed if isinstance(item, dict)
        }
        resource = ids.get(account.value)
        if not isinstance(resource, str) or not resource:
            raise BankRejectedError(
                f"the consent does not cover account {mask(account.value)}",
                code=ReasonCode.ACCOUNT_UNKNOWN,
                bank_id=self.config.bank_id,
            )
        with self._lock:
            self._resource_ids[account.value] = resource
        return resource

    def balances(self, account: AccountId) -> Flow[list[Balance]]:
        consent = self._consent_header()
        resource = yield from self._resource_id(account)
        response = yield PreparedRequest(
            method="GET",
            path=f"/v1/accounts/{quote(resource, safe='')}/balances",
            headers=self._headers(Consent_ID=consent),
            idempotent=True,
            operation="balances",
            sensitive=(account.value, resource),
        )
        listed = field(response.json_object(), "balances")
        if not isinstance(listed, list):
            raise ProtocolError("'balances' must be a list")
        balances = []
        for item in listed:
            kind = BALANCE_TYPES.get(str(field(object_of(item, "a balance"), "balanceType")))
            if kind is None:
                continue  # a balance type walletlink does not model is not an error
            balances.append(
                Balance(
                    account=account,
                    amount=_money(field(item, "balanceAmount")),
                    type=kind,
                    as_of=parse_date(item.get("referenceDate")),
                )
            )
        return balances

    def transactions_page(
        self, account: AccountId, date_from: date, date_to: date, cursor: str | None
    ) -> Flow[Page[Transaction]]:
        consent = self._consent_header()
        if cursor:
            request = PreparedRequest(
                method="GET", path=cursor, headers=self._headers(Consent_ID=consent)
            )
        else:
            resource = yield from self._resource_id(account)
            request = PreparedRequest(
                method="GET",
                path=f"/v1/accounts/{quote(resource, safe='')}/transactions",
                params=(
                    ("bookingStatus", self._booking_status),
                    ("dateFrom", date_from.isoformat()),
                    ("dateTo", date_to.isoformat()),
                ),
                headers=self._headers(Consent_ID=consent),
            )
        with self._lock:
            resource_id = self._resource_ids.get(account.value, "")
        response = yield attrs.evolve(
            request,
            idempotent=True,
            operation="transactions",
            sensitive=(account.value, resource_id),  # a next link holds the resource id too
        )
        report = object_of(field(response.json_object(), "transactions"), "'transactions'")
        items = [
            self._transaction(object_of(item, "a transaction"), account, status)
            for key, status in (
                ("booked", BookingStatus.BOOKED),
                ("pending", BookingStatus.PENDING),
            )
            for item in _list(report.get(key), key)
        ]
        next_href = _href(report.get("_links"), "next") or _href(
            response.json_object().get("_links"), "next"
        )
        return Page(items=tuple(items), next_cursor=self._absolute(next_href))

    def _absolute(self, href: str | None) -> str | None:
        """A ``next`` link as an absolute URL: BG links are host-relative paths."""
        if href is None or href.startswith(("https://", "http://")):
            return href
        base = urlsplit(self.config.base_url)
        return f"{base.scheme}://{base.netloc}/{href.lstrip('/')}"

    def _transaction(
        self, obj: Mapping[str, Any], account: AccountId, status: BookingStatus
    ) -> Transaction:
        signed = _money(field(obj, "transactionAmount"))
        debit = signed.is_negative()
        # The counterparty of a debit is its creditor, of a credit its debtor.
        side = "creditor" if debit else "debtor"
        remittance = obj.get("remittanceInformationUnstructured")
        return Transaction(
            amount=abs(signed),
            direction=Direction.DEBIT if debit else Direction.CREDIT,
            status=status,
            transaction_id=_text(obj.get("transactionId")),
            account=account,
            booking_date=parse_date(obj.get("bookingDate")),
            value_date=parse_date(obj.get("valueDate")),
            end_to_end_id=_text(obj.get("endToEndId")),
            bank_reference=_text(obj.get("entryReference")),
            counterparty_name=_text(obj.get(f"{side}Name")),
            counterparty_account=_account_text(obj.get(f"{side}Account")),
            remittance=_text(remittance),
            type_code=_text(obj.get("bankTransactionCode")),
        )

    # -- errors -----------------------------------------------------------------------------

    def error_for(self, response: RawResponse) -> Exception | None:
        return self._error(response)

    def _error(self, response: RawResponse) -> WalletLinkError:
        code, text = _tpp_message(response)
        retry_after = response.header("Retry-After")
        context = {
            "bank_id": self.config.bank_id,
            "http_status": response.status,
            "request_id": response.header("X-Request-ID"),
            "retry_after": retry_after_seconds(retry_after),
        }
        return tpp_error(code, text, response.status, context)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _list(value: object, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ProtocolError(f"'transactions.{name}' must be a list")
    return value


def _tpp_message(response: RawResponse) -> tuple[str | None, str]:
    """The first error of a ``tppMessages`` body (or an RFC 7807 one); the status alone
    still classifies a reply whose body cannot be read."""
    try:
        body = response.json()
    except ProtocolError:
        return None, ""
    if not isinstance(body, dict):
        return None, ""
    messages = body.get("tppMessages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict) and message.get("category", "ERROR") == "ERROR":
                return _text(message.get("code")), str(message.get("text") or "")
    if isinstance(body.get("code"), str):  # the RFC 7807 variant of the same codes
        return str(body["code"]), str(body.get("detail") or body.get("title") or "")
    return None, ""
