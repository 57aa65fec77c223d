"""The ``openbanking_uk`` adapter: UK Open Banking Read/Write API v3.1.x (PISP and AISP).

A payment is three resources at the bank, driven by two flows of this adapter:

1. ``create_transfer`` gets a client-credentials token and POSTs a
   ``domestic-payment-consent``; the transfer is ``REQUIRES_ACTION`` with a redirect
   :class:`~walletlink.models.NextAction` for the account holder (the PSU).
2. Once the PSU has authorised it, ``get_transfer`` sees the consent ``Authorised`` and POSTs
   the ``domestic-payment`` (same initiation, the consent id, a key derived from the
   transfer's idempotency key), then follows it with ``GET /domestic-payments/{id}``.

Every request body carries ``x-jws-signature``; every reply's signature is verified with the
bank's key before it is parsed. Details, the status and error tables are in
``docs/openbanking_uk.md``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Final
from urllib.parse import quote, urlencode

from walletlink._crosscheck import check_echo
from walletlink.accounts import AccountId
from walletlink.adapters._wire import field, mapped_status, object_of, parse_date, parse_time
from walletlink.adapters.base import (
    Adapter,
    Flow,
    Page,
    RequestSigner,
    ResponseVerifier,
    TransferRef,
)
from walletlink.config import BankConfig
from walletlink.errors import (
    AuthenticationError,
    BankRejectedError,
    ConfigurationError,
    ProtocolError,
    WalletLinkError,
)
from walletlink.http import PreparedRequest, RawResponse
from walletlink.models import (
    Balance,
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
from walletlink.protocols.openbanking_uk._auth import TOKEN_OPERATION, ObRequestSigner, TokenCache
from walletlink.protocols.openbanking_uk._auth import request_object as build_request_object
from walletlink.protocols.openbanking_uk._wire import (
    BALANCE_TYPES,
    CONSENT_STATUS,
    PAYMENT_STATUS,
    BankRef,
    booking_status,
    error_for,
    initiation,
    matches_account,
    money,
    payment_reason,
    signed_direction,
)
from walletlink.signing.jws import JwsVerifyingKey, OBJwsSigner, OBJwsVerifier, OBVersion
from walletlink.signing.keys import KeyRing, SigningKey, load_pem

__all__ = ["OpenBankingUkAdapter"]

DEFAULT_VERSION: Final = "3.1.11"
#: What an account-access consent asks for: enough for balances and the statement lines.
AIS_PERMISSIONS: Final = (
    "ReadAccountsDetail",
    "ReadBalances",
    "ReadTransactionsBasic",
    "ReadTransactionsCredits",
    "ReadTransactionsDebits",
    "ReadTransactionsDetail",
)
_MAX_KEY: Final = 40  # x-idempotency-key is at most 40 characters (profile §Idempotency)
#: A year: far beyond any real access token, far inside what a datetime can add.
_MAX_TOKEN_LIFETIME: Final = 366 * 24 * 3600
_TLS_CLIENT_AUTH: Final = "tls_client_auth"
_AUTH_METHODS: Final = frozenset({"private_key_jwt", _TLS_CLIENT_AUTH})


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _idempotency_key(purpose: str, key: str) -> str:
    """The ``x-idempotency-key`` of one endpoint, derived from the transfer's own key.

    The consent uses the key itself when it fits (so it shows up in the bank's logs); the
    payment gets a digest of purpose and key, distinct from the consent's, so a bank that
    scopes keys per TPP rather than per endpoint never sees one key with two bodies.
    """
    if purpose == "consent" and len(key) <= _MAX_KEY and key.isascii() and key.isprintable():
        return key
    return hashlib.sha256(f"{purpose}:{key}".encode()).hexdigest()[:_MAX_KEY]


def _text_option(config: BankConfig, name: str, default: str | None = None) -> str:
    value = config.option(name, default)
    if not isinstance(value, str) or not value:
        raise ConfigurationError(
            f"options need {name!r} (a non-empty string)", bank_id=config.bank_id
        )
    return value


def _signing_key(config: BankConfig) -> SigningKey:
    raw = config.credentials.require("signing_key", config.bank_id)
    if isinstance(raw, str | bytes):
        kid = config.credentials.require("signing_kid", config.bank_id)
        raw = load_pem(raw, kid=str(kid))
    if not isinstance(raw, SigningKey) or raw.private_key is None:
        raise ConfigurationError(
            "signing_key must be a SigningKey (or PEM) holding the private PS256 key",
            bank_id=config.bank_id,
        )
    return raw


def _bank_keys(config: BankConfig) -> Mapping[str, JwsVerifyingKey] | KeyRing:
    raw = config.credentials.require("bank_signing_keys", config.bank_id)
    if isinstance(raw, SigningKey):
        return {raw.kid: raw}
    if isinstance(raw, KeyRing | Mapping) and len(raw) > 0:
        return raw
    raise ConfigurationError(
        "bank_signing_keys must be a SigningKey, a KeyRing or a kid → key mapping",
        bank_id=config.bank_id,
    )


def _identification(account: object) -> str | None:
    """An echoed ``OBCashAccount``'s ``Identification``, ``None`` when the reply has none."""
    if not isinstance(account, Mapping):
        return None
    value = account.get("Identification")
    return value if isinstance(value, str) else None


def _endpoint(config: BankConfig, name: str, default_path: str) -> str:
    """An absolute URL for the token/authorisation endpoints (relative to ``base_url``)."""
    value = _text_option(config, name, default_path)
    return config.base_url + value if value.startswith("/") else value


class OpenBankingUkAdapter(Adapter):
    """UK Open Banking v3.1.x: domestic payments with PSU authorisation, and account reads."""

    protocol = "openbanking_uk"
    capabilities = frozenset({Capability.PAYMENTS, Capability.ACCOUNT_INFORMATION})
    # The bank echoes the interaction id of each request (FAPI part 1, section 6.2.1).
    request_id_headers = ("x-fapi-interaction-id",)

    def __init__(self, config: BankConfig) -> None:
        super().__init__(config)
        bank_id = config.bank_id
        client_id = config.credentials.require("client_id", bank_id)
        if not isinstance(client_id, str) or not client_id:
            raise ConfigurationError("client_id must be a non-empty string", bank_id=bank_id)
        self.client_id = client_id
        self._key = _signing_key(config)
        self.version = OBVersion.for_spec(_text_option(config, "obie_version", DEFAULT_VERSION))
        self._financial_id = _text_option(config, "financial_id")
        self._prefix = _text_option(config, "api_prefix", "/open-banking/v3.1").rstrip("/")
        self.token_url = _endpoint(config, "token_url", "/token")
        if not self.token_url.startswith(config.base_url + "/"):
            # The transport follows absolute URLs only under base_url, so credentials never
            # leak to another host; a token endpoint elsewhere needs that rule widened.
            raise ConfigurationError("token_url must be under base_url", bank_id=bank_id)
        self._authorize_url = _endpoint(config, "authorization_endpoint", "/authorize")
        self._issuer = _text_option(config, "issuer", config.base_url)
        self._redirect_uri = _text_option(config, "redirect_uri")
        auth_method = _text_option(config, "token_auth", "private_key_jwt")
        if auth_method not in _AUTH_METHODS:
            raise ConfigurationError(
                f"token_auth must be one of {sorted(_AUTH_METHODS)}", bank_id=bank_id
            )
        if auth_method == _TLS_CLIENT_AUTH and config.client_cert is None:
            raise ConfigurationError("tls_client_auth needs client_cert", bank_id=bank_id)
        self._private_key_jwt = auth_method != _TLS_CLIENT_AUTH
        tan = _text_option(config, "jws_tan", "openbanking.org.uk")
        self._signer = ObRequestSigner(
            jws=OBJwsSigner(
                key=self._key,
                kid=self._key.kid,
                iss=_text_option(config, "jws_iss"),
                tan=tan,
                version=self.version,
            ),
            client_id=client_id,
            token_url=self.token_url,
            key=self._key,
            kid=self._key.kid,
            private_key_jwt=self._private_key_jwt,
        )
        self._verifier = OBJwsVerifier(
            keys=_bank_keys(config),
            iss=_text_option(config, "bank_jws_iss", self._financial_id),
            tan=tan,
            version=self.version,
        )
        configured = config.option("account_access_consent_id")
        self._ais_consent_id: str | None = str(configured) if configured else None
        self._ais_ready = False
        self._account_ids: dict[str, str] = {}
        self._tokens = TokenCache()
        self._clock: Callable[[], datetime] = _utcnow

    # -- hooks ------------------------------------------------------------------------------

    def validate(self, request: TransferRequest) -> None:
        """The ``OBDomestic2`` initiation, built as a dry run: the accounts must be sort code
        accounts, IBANs or a ``UK.OBIE.*`` scheme. Keys longer than the 40 characters of
        ``x-idempotency-key`` are fine: the header then carries a digest of the key."""
        super().validate(request)
        initiation(request)

    def bind_clock(self, clock: Callable[[], datetime]) -> None:
        """Read time from ``clock`` (the client passes its own): token expiry, assertions."""
        self._clock = clock

    def signer(self) -> RequestSigner:
        return self._signer

    def response_verifier(self) -> ResponseVerifier:
        verifier = self._verifier

        def verify(response: RawResponse, now: datetime) -> None:
            # The token endpoint is an OAuth2 server: its replies are not JWS-signed.
            if response.request is not None and response.request.operation == TOKEN_OPERATION:
                return
            verifier(response, now)

        return verify

    def error_for(self, response: RawResponse) -> Exception | None:
        if response.status == 401:
            # The bank no longer honours our token (revoked, or its clock runs ahead of
            # ours): forget it, so the next call starts with a fresh one.
            self._tokens.clear()
        try:
            body: object = response.json()
        except ProtocolError:
            body = None  # the status alone still classifies the failure
        context: dict[str, Any] = {
            "bank_id": self.config.bank_id,
            "http_status": response.status,
            "request_id": response.header("x-fapi-interaction-id"),
        }
        return error_for(
            response.status, body, retry_after=response.header("Retry-After"), context=context
        )

    @property
    def account_access_consent_id(self) -> str | None:
        """The account-access consent the account reads use (configured or created)."""
        return self._ais_consent_id

    def authorisation_url(
        self, consent_id: str, *, scope: str = "payments", state: str = ""
    ) -> str:
        """Where to send the PSU to authorise ``consent_id`` (the OB hybrid flow)."""
        signed = build_request_object(
            client_id=self.client_id,
            audience=self._issuer,
            redirect_uri=self._redirect_uri,
            scope=scope,
            consent_id=consent_id,
            state=state,
            key=self._key,
            kid=self._key.kid,
            now=self._clock(),
        )
        query = {
            "client_id": self.client_id,
            "response_type": "code id_token",
            "scope": f"openid {scope}",
            "redirect_uri": self._redirect_uri,
            "state": state,
            "request": signed,
        }
        return f"{self._authorize_url}?{urlencode(query, quote_via=quote)}"

    # -- plumbing ---------------------------------------------------------------------------

    def _token(self, scope: str) -> Flow[str]:
        """A cached access token, or the token request that fetches a new one."""
        cached = self._tokens.get(scope, self._clock())
        if cached is not None:
            return cached
        form = {"grant_type": "client_credentials", "scope": scope}
        if not self._private_key_jwt:
            form["client_id"] = self.client_id
        response = yield PreparedRequest(
            method="POST",
            path=self.token_url,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            body=urlencode(form).encode("ascii"),
            # Safe to resend: each attempt gets a fresh assertion, and a second token is
            # harmless.
            idempotent=True,
            operation=TOKEN_OPERATION,
            # Threads that all miss the empty cache at once share one token request.
            shared=f"token:{scope}",
        )
        body = response.json_object()
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token:
            raise ProtocolError("the token endpoint returned no access_token")
        if str(body.get("token_type", "")).lower() != "bearer":
            raise ProtocolError("the token endpoint returned a non-Bearer token")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
            raise ProtocolError("the token endpoint returned no numeric expires_in")
        if not 0 <= expires_in <= _MAX_TOKEN_LIFETIME:
            # A huge (or NaN) lifetime would overflow the expiry datetime; a negative one is
            # a token that is already dead.
            raise ProtocolError("the token endpoint returned an out-of-range expires_in")
        self._tokens.put(scope, token, float(expires_in), self._clock())
        return token

    def _headers(self, token: str, *, idempotency_key: str | None = None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "x-fapi-financial-id": self._financial_id,
            "x-fapi-interaction-id": str(uuid.uuid4()),
        }
        if idempotency_key is not None:
            headers["x-idempotency-key"] = idempotency_key
        return headers

    def _get(self, token: str, path: str, operation: str, **options: Any) -> PreparedRequest:
        return PreparedRequest(
            method="GET",
            path=path,
            headers=self._headers(token),
            idempotent=True,
            operation=operation,
            **options,
        )

    @staticmethod
    def _data(response: RawResponse) -> Mapping[str, Any]:
        data = field(response.json_object(), "Data")
        if not isinstance(data, Mapping):
            raise ProtocolError("'Data' must be an object")
        return data

    # -- payments ---------------------------------------------------------------------------

    def _pisp(self, resource: str, resource_id: str | None = None) -> str:
        path = f"{self._prefix}/pisp/{resource}"
        return path if resource_id is None else f"{path}/{quote(resource_id, safe='')}"

    def create_transfer(self, request: TransferRequest, transfer_id: str) -> Flow[Transfer]:
        """POST the consent (also how a lost reply is recovered: the same key replays it)."""
        data = yield from self._post_pisp(
            "domestic-payment-consents",
            {"Initiation": initiation(request)},
            _idempotency_key("consent", request.idempotency_key),
            "create_consent",
        )
        transfer = yield from self._advance_consent(data, request, transfer_id)
        return transfer

    def get_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer]:
        if ref.bank_transfer_id is None:
            found = yield from self.find_transfer(ref, request)
            assert found is not None  # find_transfer always ends with the bank's answer
            return found
        bank_ref = BankRef.decode(ref.bank_transfer_id)
        token = yield from self._token("payments")
        if bank_ref.payment_id is not None:
            path = self._pisp("domestic-payments", bank_ref.payment_id)
            response = yield self._get(token, path, "get_payment")
            return self._payment_transfer(self._data(response), request, ref.transfer_id)
        assert bank_ref.consent_id is not None
        path = self._pisp("domestic-payment-consents", bank_ref.consent_id)
        response = yield self._get(token, path, "get_consent")
        transfer = yield from self._advance_consent(self._data(response), request, ref.transfer_id)
        return transfer

    def find_transfer(self, ref: TransferRef, request: TransferRequest) -> Flow[Transfer | None]:
        """Resolve an unknown outcome without ever making a second payment.

        With a bank id, a GET says everything. Without one (the consent POST's reply was
        lost), re-sending the same POST under the same ``x-idempotency-key`` is the spec's
        way to get it: within 24 hours the bank returns the existing consent and creates
        nothing. Payments themselves are only ever posted under their own derived key.
        """
        if ref.bank_transfer_id is not None:
            found = yield from self.get_transfer(ref, request)
            return found
        replayed = yield from self.create_transfer(request, ref.transfer_id)
        return replayed

    def _advance_consent(
        self, data: Mapping[str, Any], request: TransferRequest, transfer_id: str
    ) -> Flow[Transfer]:
        """A consent's state as a transfer; an authorised consent gets its payment."""
        consent_id = str(field(data, "ConsentId", "consent"))
        self._check_initiation(data, request)
        status = str(field(data, "Status", "consent"))
        if status in ("Authorised", "Consumed"):
            # Consumed without a payment id means our payment POST's reply was lost: the
            # replay under the same key returns that payment, it cannot create another.
            transfer = yield from self._submit_payment(consent_id, request, transfer_id)
            return transfer
        return self._consent_transfer(data, consent_id, status, request, transfer_id)

    def _submit_payment(
        self, consent_id: str, request: TransferRequest, transfer_id: str
    ) -> Flow[Transfer]:
        data = yield from self._post_pisp(
            "domestic-payments",
            {"ConsentId": consent_id, "Initiation": initiation(request)},
            _idempotency_key("payment", request.idempotency_key),
            "create_payment",
        )
        return self._payment_transfer(data, request, transfer_id)

    def _post_pisp(
        self, resource: str, data: Mapping[str, Any], idempotency_key: str, operation: str
    ) -> Flow[Mapping[str, Any]]:
        """POST one PISP resource under its derived ``x-idempotency-key``; its ``Data``."""
        token = yield from self._token("payments")
        response = yield PreparedRequest.json(
            "POST",
            self._pisp(resource),
            {"Data": data, "Risk": {}},
            headers=self._headers(token, idempotency_key=idempotency_key),
            idempotent=True,
            operation=operation,
        )
        return self._data(response)

    def _consent_transfer(
        self,
        data: Mapping[str, Any],
        consent_id: str,
        status_code: str,
        request: TransferRequest,
        transfer_id: str,
    ) -> Transfer:
        status = mapped_status(CONSENT_STATUS, status_code)
        next_action = reason = None
        if status is TransferStatus.REQUIRES_ACTION:
            url = self.authorisation_url(consent_id, state=transfer_id)
            next_action = NextAction(kind="redirect", url=url, data={"consent_id": consent_id})
        elif status is TransferStatus.REJECTED:
            reason = Reason(
                code=ReasonCode.AUTHORISATION_FAILED,
                raw_code=status_code,
                message="the account holder did not authorise the payment",
            )
        return Transfer(
            id=transfer_id,
            bank_id=self.config.bank_id,
            bank_transfer_id=BankRef(consent_id=consent_id).encode(),
            end_to_end_id=request.end_to_end_id,
            idempotency_key=request.idempotency_key,
            amount=request.amount,
            status=status,
            reason=reason,
            next_action=next_action,
            created_at=parse_time(data.get("CreationDateTime")),
            updated_at=parse_time(data.get("StatusUpdateDateTime")),
        )

    def _payment_transfer(
        self, data: Mapping[str, Any], request: TransferRequest, transfer_id: str
    ) -> Transfer:
        payment_id = str(field(data, "DomesticPaymentId", "payment"))
        self._check_initiation(data, request)
        status = mapped_status(PAYMENT_STATUS, field(data, "Status", "payment"))
        return Transfer(
            id=transfer_id,
            bank_id=self.config.bank_id,
            bank_transfer_id=BankRef(payment_id=payment_id).encode(),
            end_to_end_id=request.end_to_end_id,
            idempotency_key=request.idempotency_key,
            amount=request.amount,
            status=status,
            reason=payment_reason(data, status),
            created_at=parse_time(data.get("CreationDateTime")),
            updated_at=parse_time(data.get("StatusUpdateDateTime")),
        )

    def _check_initiation(self, data: Mapping[str, Any], request: TransferRequest) -> None:
        """A reply about another payment (amount, end-to-end id, accounts) is not trusted."""
        echoed = field(data, "Initiation", "reply")
        if not isinstance(echoed, Mapping):
            raise ProtocolError("'Data.Initiation' must be an object")
        check_echo(
            request,
            bank_id=self.config.bank_id,
            end_to_end_id=str(field(echoed, "EndToEndIdentification", "Data.Initiation")),
            amount=money(echoed.get("InstructedAmount"), "Data.Initiation.InstructedAmount"),
            debtor_account=_identification(echoed.get("DebtorAccount")),
            creditor_account=_identification(echoed.get("CreditorAccount")),
        )

    # -- account information ----------------------------------------------------------------

    def _aisp(self, *parts: str) -> str:
        return "/".join((f"{self._prefix}/aisp", *(quote(p, safe="") for p in parts)))

    def _ais_token(self) -> Flow[str]:
        """An accounts token, once the account-access consent is known to be authorised."""
        token = yield from self._token("accounts")
        if self._ais_ready:
            return token
        if self._ais_consent_id is None:
            payload = {"Data": {"Permissions": list(AIS_PERMISSIONS)}, "Risk": {}}
            response = yield PreparedRequest.json(
                "POST",
                self._aisp("account-access-consents"),
                payload,
                headers=self._headers(token),
                operation="create_account_access_consent",
                # Threads making the first account read at once create one consent.
                shared="account-access-consent",
            )
        else:
            path = self._aisp("account-access-consents", self._ais_consent_id)
            response = yield self._get(
                token, path, "get_account_access_consent", sensitive=(self._ais_consent_id,)
            )
        data = self._data(response)
        consent_id = str(field(data, "ConsentId", "consent"))
        status = str(field(data, "Status", "consent"))
        self._ais_consent_id = consent_id
        if status == "Authorised":
            self._ais_ready = True
            return token
        if status != "AwaitingAuthorisation":
            self._ais_consent_id = self.config.option("account_access_consent_id")
        raise AuthenticationError(
            f"account-access consent {consent_id} is {status}: the account holder must "
            "authorise it (see authorisation_url(consent_id, scope='accounts'))",
            bank_id=self.config.bank_id,
        )

    def _account_id(self, token: str, account: AccountId) -> Flow[str]:
        """The bank's ``AccountId`` for a sort code account or IBAN, from ``GET /accounts``."""
        cache_key = f"{type(account).__name__}:{account.value}"
        if cache_key in self._account_ids:
            return self._account_ids[cache_key]
        response = yield self._get(token, self._aisp("accounts"), "accounts")
        entries = self._data(response).get("Account") or []
        if not isinstance(entries, list):
            raise ProtocolError("'Data.Account' must be a list")
        for entry in entries:
            if isinstance(entry, Mapping) and matches_account(entry, account):
                account_id = str(field(entry, "AccountId", "account"))
                self._account_ids[cache_key] = account_id
                return account_id
        raise BankRejectedError(
            f"the account-access consent does not cover account {account.masked}",
            code=ReasonCode.ACCOUNT_UNKNOWN,
            bank_id=self.config.bank_id,
        )

    def balances(self, account: AccountId) -> Flow[list[Balance]]:
        token = yield from self._ais_token()
        account_id = yield from self._account_id(token, account)
        response = yield self._get(
            token,
            self._aisp("accounts", account_id, "balances"),
            "balances",
            sensitive=(account_id, account.value),
        )
        entries = self._data(response).get("Balance") or []
        if not isinstance(entries, list):
            raise ProtocolError("'Data.Balance' must be a list")
        balances = []
        for entry in entries:
            kind = BALANCE_TYPES.get(str(field(entry, "Type", "balance")))
            if kind is None:
                continue  # a balance type we do not model is not an error
            amount = money(field(entry, "Amount", "balance"), "Balance.Amount")
            if signed_direction(entry, "balance") is Direction.DEBIT:
                amount = -amount
            balances.append(
                Balance(
                    account=account,
                    amount=amount,
                    type=kind,
                    as_of=parse_time(entry.get("DateTime")),
                )
            )
        return balances

    def transactions_page(
        self, account: AccountId, date_from: date, date_to: date, cursor: str | None
    ) -> Flow[Page[Transaction]]:
        """One page; the cursor is the bank's ``Links.Next`` URL, followed as given."""
        token = yield from self._ais_token()
        # The bank's AccountId is in the path and in every Links.Next it sends.
        account_id = yield from self._account_id(token, account)
        sensitive = (account_id, account.value)
        if cursor is not None:
            request = self._get(token, cursor, "transactions", sensitive=sensitive)
        else:
            window = (
                ("fromBookingDateTime", f"{date_from.isoformat()}T00:00:00"),
                ("toBookingDateTime", f"{date_to.isoformat()}T23:59:59"),
            )
            path = self._aisp("accounts", account_id, "transactions")
            request = self._get(token, path, "transactions", params=window, sensitive=sensitive)
        response = yield request
        body = response.json_object()
        entries = object_of(field(body, "Data"), "'Data'").get("Transaction") or []
        if not isinstance(entries, list):
            raise ProtocolError("'Data.Transaction' must be a list")
        items = tuple(self._transaction(entry, account) for entry in entries)
        links = body.get("Links")
        next_link = links.get("Next") if isinstance(links, Mapping) else None
        return Page(items=items, next_cursor=str(next_link) if next_link else None)

    @staticmethod
    def _transaction(entry: Mapping[str, Any], account: AccountId) -> Transaction:
        direction = signed_direction(entry, "transaction")
        # The counterparty is the creditor of a debit and the debtor of a credit.
        other = entry.get("CreditorAccount" if direction is Direction.DEBIT else "DebtorAccount")
        other = other if isinstance(other, Mapping) else {}
        try:
            return Transaction(
                transaction_id=entry.get("TransactionId"),
                account=account,
                amount=money(field(entry, "Amount", "transaction"), "Transaction.Amount"),
                direction=direction,
                status=booking_status(entry.get("Status")),
                booking_date=parse_date(entry.get("BookingDateTime")),
                value_date=parse_date(entry.get("ValueDateTime")),
                # UK banks report the payment's EndToEndIdentification here (the mock
                # bank does), which is what reconciliation matches on.
                end_to_end_id=entry.get("TransactionReference"),
                bank_reference=entry.get("TransactionId"),
                counterparty_name=other.get("Name"),
                counterparty_account=other.get("Identification"),
                remittance=entry.get("TransactionInformation"),
            )
        except WalletLinkError as exc:
            raise ProtocolError(f"malformed transaction: {exc.message}") from None
