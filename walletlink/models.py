"""The domain model: frozen attrs values shared by every adapter, the journal and reconciliation.

Declines are values: a rejected transfer is a :class:`Transfer` with status ``REJECTED`` and a
:class:`Reason` that carries both a standard :class:`ReasonCode` and the bank's raw code.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, Final

import attrs

from walletlink._redact import redact_text
from walletlink.accounts import AccountId, Bic, Iban, LocalAccount, SortCodeAccount, mask
from walletlink.errors import (
    CurrencyMismatchError,
    InvalidAccountError,
    InvalidAmountError,
    InvalidTextError,
    InvalidTransitionError,
    ValidationError,
)
from walletlink.money import Money
from walletlink.text import (
    END_TO_END_ID,
    IDEMPOTENCY_KEY,
    METADATA_ENTRIES,
    METADATA_KEY,
    METADATA_VALUE,
    PARTY_NAME,
    PAYOUT_ID,
    REMITTANCE,
)

__all__ = [
    "Balance",
    "BalanceType",
    "BookingStatus",
    "Capability",
    "Direction",
    "Event",
    "NextAction",
    "Party",
    "Reason",
    "ReasonCode",
    "Transaction",
    "TransactionDetail",
    "Transfer",
    "TransferRequest",
    "TransferStatus",
    "account_to_dict",
    "idempotency_key_for",
    "new_end_to_end_id",
]


class Capability(enum.StrEnum):
    """What an adapter can do. The client checks these before any I/O."""

    PAYMENTS = "payments"
    CANCEL = "cancel"
    ACCOUNT_INFORMATION = "account_information"
    NOTIFICATIONS = "notifications"
    STATEMENTS = "statements"
    BATCH_PAYMENTS = "batch_payments"


class TransferStatus(enum.StrEnum):
    """The lifecycle of a transfer. ``can_become`` says which moves are allowed.

    Unmapped bank statuses become ``UNKNOWN`` or ``PENDING``, never ``REJECTED``: a transfer
    we cannot read must be looked up, not written off.
    """

    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    SETTLED = "settled"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    RETURNED = "returned"
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        """No further change is expected (RETURNED is reachable only from SETTLED)."""
        return self in _FINAL

    def can_become(self, new: TransferStatus) -> bool:
        """Whether a transfer in this status may move to ``new`` (staying put is allowed)."""
        return new is self or new in _TRANSITIONS[self]


_FINAL: Final = frozenset(
    {TransferStatus.REJECTED, TransferStatus.CANCELLED, TransferStatus.RETURNED}
)
_S = TransferStatus
_TRANSITIONS: Final[dict[TransferStatus, frozenset[TransferStatus]]] = {
    _S.PENDING: frozenset(
        {_S.REQUIRES_ACTION, _S.PROCESSING, _S.SETTLED, _S.REJECTED, _S.CANCELLED, _S.UNKNOWN}
    ),
    _S.REQUIRES_ACTION: frozenset(
        {_S.PENDING, _S.PROCESSING, _S.SETTLED, _S.REJECTED, _S.CANCELLED, _S.UNKNOWN}
    ),
    _S.PROCESSING: frozenset({_S.SETTLED, _S.REJECTED, _S.CANCELLED, _S.RETURNED, _S.UNKNOWN}),
    _S.SETTLED: frozenset({_S.RETURNED}),
    _S.REJECTED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.RETURNED: frozenset(),
    # UNKNOWN is "we lost track": the bank's answer, whatever it is, is the truth.
    _S.UNKNOWN: frozenset(
        {
            _S.PENDING,
            _S.REQUIRES_ACTION,
            _S.PROCESSING,
            _S.SETTLED,
            _S.REJECTED,
            _S.CANCELLED,
            _S.RETURNED,
        }
    ),
}


class ReasonCode(enum.StrEnum):
    """Standard reasons for a rejection or return; ``Reason.raw_code`` keeps the bank's."""

    INSUFFICIENT_FUNDS = "insufficient_funds"
    ACCOUNT_UNKNOWN = "account_unknown"
    ACCOUNT_CLOSED = "account_closed"
    ACCOUNT_BLOCKED = "account_blocked"
    INVALID_ACCOUNT = "invalid_account"
    INVALID_AMOUNT = "invalid_amount"
    INVALID_CREDITOR = "invalid_creditor"
    DUPLICATE = "duplicate"
    LIMIT_EXCEEDED = "limit_exceeded"
    AUTHORISATION_FAILED = "authorisation_failed"
    CANCELLED_BY_USER = "cancelled_by_user"
    REGULATORY = "regulatory"
    TECHNICAL = "technical"
    OTHER = "other"


# -- reprs ---------------------------------------------------------------------------------
# Models end up in logs, tracebacks and debuggers. Typed accounts mask themselves; these
# formatters cover the plain-text fields that may hold an account number or wallet id.


def _masked_repr(value: str | None) -> str:
    """An account number held as text: only its last four."""
    return "None" if value is None else repr(mask(value))


def _text_repr(value: object) -> str:
    """Free text from a bank or a user: IBANs and long digit runs masked."""
    return redact_text(repr(value))


def _keys_repr(value: Mapping[str, Any]) -> str:
    """A payload of arbitrary values (ids, accounts, wallet ids): its keys only."""
    return f"<keys: {', '.join(sorted(map(str, value)))}>"


@attrs.frozen
class Reason:
    """Why a transfer was rejected, returned or cancelled."""

    code: ReasonCode = attrs.field(converter=ReasonCode)
    raw_code: str | None = None
    message: str = attrs.field(default="", repr=_text_repr)


def _as_dict(value: Mapping[str, str]) -> dict[str, str]:
    # A private copy, so a caller mutating their dict cannot change a frozen model.
    return {str(k): str(v) for k, v in value.items()}


@attrs.frozen
class NextAction:
    """What a person must do before the bank proceeds, e.g. authorise at a redirect URL.

    It round-trips through ``to_dict``/``from_dict`` so a wallet can store it and resume later.
    """

    kind: str
    url: str | None = attrs.field(default=None, repr=_text_repr)
    data: Mapping[str, str] = attrs.field(factory=dict, converter=_as_dict, repr=_text_repr)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "url": self.url, "data": dict(self.data)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> NextAction:
        return cls(kind=str(raw["kind"]), url=raw.get("url"), data=dict(raw.get("data") or {}))


def new_end_to_end_id() -> str:
    """A 32-character end-to-end id: fits ISO 20022's Max35Text and every bank we know."""
    return uuid.uuid4().hex


class _Unset(str):
    """The default of a field the caller left out: a distinct ``""`` object, so that
    ``__attrs_post_init__`` can tell "not given" (derive it) from an explicit ``""`` (refused)."""

    __slots__ = ()


_UNSET: Final = _Unset()
_KEY_NAMESPACE: Final = b"walletlink.idempotency.v1\x00"
# An end-to-end id the wallet's payout id can be used as verbatim: ISO 20022 Max35Text in the
# characters every scheme we speak accepts (SEPA's set, Alipay's out_biz_no, UK OB).
_PLAIN_E2E: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,34}")


def idempotency_key_for(identity: str) -> str:
    """The idempotency key walletlink derives from the wallet's own identity of a payout.

    ``wlk-`` and 32 hex digits of SHA-256 (36 characters of ``[0-9a-z-]``): the same
    identity always gives the same key, in any process, and it fits every protocol's key
    rules (UK Open Banking at most 40 characters, Alipay's ``out_biz_no`` at most 64 of
    ``[0-9A-Za-z_-]``). The identity itself is not in the key, so no personal data leaks.
    """
    digest = hashlib.sha256(_KEY_NAMESPACE + identity.encode()).hexdigest()
    return f"wlk-{digest[:32]}"


def _end_to_end_id_for(payout_id: str) -> str:
    # The payout id itself when it fits, so it shows up on the bank statement as it is;
    # otherwise a digest of it, still the same on every rebuild of the request.
    if _PLAIN_E2E.fullmatch(payout_id):
        return payout_id
    return hashlib.sha256(b"walletlink.e2e.v1\x00" + payout_id.encode()).hexdigest()[:32]


def account_to_dict(account: AccountId) -> dict[str, str]:
    """The canonical, full (unmasked) dict form of an account, for hashing and the journal."""
    if isinstance(account, Iban):
        return {"scheme": "iban", "value": account.value}
    if isinstance(account, SortCodeAccount):
        return {"scheme": "sort_code", "value": account.value}
    return {"scheme": account.scheme, "value": account.value}


def account_from_dict(raw: Mapping[str, str]) -> AccountId:
    scheme = raw["scheme"]
    if scheme == "iban":
        return Iban(raw["value"])
    if scheme == "sort_code":
        return SortCodeAccount(raw["value"][:6], raw["value"][6:])
    return LocalAccount(raw["value"], scheme=scheme)


_ACCOUNT_TYPES: Final = (Iban, SortCodeAccount, LocalAccount)


def _is_account(what: str) -> Callable[[object, object, Any], None]:
    """An attrs validator: ``value`` is an account object, never a bare string.

    A ``str`` is refused rather than guessed at (an IBAN? a local id?), and the message never
    repeats it: it may be a full account number.
    """

    def check(instance: object, attribute: object, value: Any) -> None:
        if not isinstance(value, _ACCOUNT_TYPES):
            raise InvalidAccountError(
                f"{what} must be an Iban, SortCodeAccount or LocalAccount, got"
                f" {type(value).__name__}: pass Iban('...') (or the matching type)"
            )

    return check


def _is_bic(instance: object, attribute: object, value: Any) -> None:
    if value is not None and not isinstance(value, Bic):
        raise InvalidAccountError(
            f"a party's agent must be a Bic or None, got {type(value).__name__}: pass Bic('...')"
        )


def _is_country(instance: object, attribute: object, value: Any) -> None:
    if value is None:
        return
    if not (
        isinstance(value, str)
        and len(value) == 2
        and value.isascii()
        and value.isalpha()
        and value.isupper()
    ):
        raise ValidationError("a party's country is an ISO 3166 alpha-2 code such as 'DE'")


def _party_name(value: object) -> str:
    return PARTY_NAME.check(value)


@attrs.frozen
class Party:
    """A creditor or debtor: a name, an account and optionally the bank (agent) holding it.

    The name follows :data:`walletlink.text.PARTY_NAME` (1 to 140 characters, NFC).
    """

    name: str = attrs.field(converter=_party_name)
    account: AccountId = attrs.field(validator=_is_account("a party's account"))
    agent: Bic | None = attrs.field(default=None, validator=_is_bic)
    country: str | None = attrs.field(default=None, validator=_is_country)


def _is_money(instance: object, attribute: object, value: Any) -> None:
    if not isinstance(value, Money):
        raise InvalidAmountError(
            f"amount must be a Money, got {type(value).__name__}: pass Money('10.00', 'EUR')"
        )


def _is_party(instance: object, attribute: object, value: Any) -> None:
    if not isinstance(value, Party):
        raise ValidationError(f"creditor must be a Party, got {type(value).__name__}")


def _remittance(value: object) -> str:
    return REMITTANCE.check(value)


def _end_to_end_id(value: object) -> str:
    return value if value is _UNSET else END_TO_END_ID.check(value)


def _idempotency_key(value: object) -> str:
    return value if value is _UNSET else IDEMPOTENCY_KEY.check(value)


def _payout_id(value: object) -> str | None:
    return None if value is None else PAYOUT_ID.check(value)


def _metadata(value: object) -> dict[str, str]:
    """A private, checked copy: keys and values follow their policies, at most 50 entries."""
    if not isinstance(value, Mapping):
        raise InvalidTextError(
            f"metadata must be a mapping, got {type(value).__name__}", field="metadata"
        )
    if len(value) > METADATA_ENTRIES:
        raise InvalidTextError(
            f"metadata has at most {METADATA_ENTRIES} entries, got {len(value)}",
            field="metadata",
        )
    checked: dict[str, str] = {}
    for key, item in value.items():
        name = METADATA_KEY.check(key)
        if name in checked:
            # Two spellings of one key (NFC and not): keeping either would drop the other.
            raise InvalidTextError(f"metadata key {name!r} is given twice", field="metadata key")
        checked[name] = METADATA_VALUE.named(f"metadata[{name!r}]").check(item)
    return checked


@attrs.frozen(kw_only=True)
class TransferRequest:
    """A transfer the wallet asks a bank to make.

    **Give every payout the wallet's own identity**, so that a request rebuilt after a crash
    is the same logical transfer: ``payout_id`` (the wallet's id of the payout, up to 128
    characters) or an explicit ``end_to_end_id``. When ``idempotency_key`` is absent it is
    then *derived* from that identity (:func:`idempotency_key_for`), and with ``payout_id``
    alone the end-to-end id is derived too (the payout id itself when it fits 35 plain
    characters). Building ``TransferRequest(..., payout_id="PAYOUT-981")`` twice, in two
    processes, gives one key and one fingerprint: the journal sends it once.

    Only when the caller gives **no identity at all** (no key, no payout id, no end-to-end
    id) is the key random — then a rebuilt request is a *new* transfer and can pay twice.
    ``Client(require_caller_ids=True)`` refuses such requests; use it in production.

    ``fingerprint()`` hashes everything except the key (and ``payout_id``, which only names
    the key), which is how the same identity with a different request is caught
    (``IdempotencyMismatchError``). An explicit ``idempotency_key`` always wins.
    """

    amount: Money = attrs.field(validator=_is_money)
    debtor_account: AccountId = attrs.field(validator=_is_account("debtor_account"))
    creditor: Party = attrs.field(validator=_is_party)
    # Text fields follow their walletlink.text policies (converted to NFC, checked); a
    # field left out stays _UNSET here and is derived in __attrs_post_init__.
    remittance: str = attrs.field(default="", converter=_remittance)
    end_to_end_id: str = attrs.field(default=_UNSET, converter=_end_to_end_id)
    idempotency_key: str = attrs.field(default=_UNSET, converter=_idempotency_key)
    metadata: Mapping[str, str] = attrs.field(factory=dict, converter=_metadata)
    payout_id: str | None = attrs.field(default=None, converter=_payout_id, eq=False)
    _caller_identity: str | None = attrs.field(
        init=False, default=None, eq=False, repr=False, hash=False
    )
    # The canonical JSON is needed by the journal, the fingerprint and most adapters' bodies
    # for every transfer: computed once, on first use.
    _canonical_json: str | None = attrs.field(
        init=False, default=None, eq=False, repr=False, hash=False
    )

    def __attrs_post_init__(self) -> None:
        self._derive_identity()
        if not self.amount.is_positive():
            raise InvalidAmountError("a transfer amount must be positive")
        if not self.end_to_end_id or not self.idempotency_key:
            raise ValidationError("end-to-end id and idempotency key must not be empty")

    def _derive_identity(self) -> None:
        """Fill the end-to-end id and key the caller left out, from the caller's identity."""
        if self.payout_id is not None and not self.payout_id.strip():
            raise ValidationError("a payout id must not be blank")
        e2e_given = self.end_to_end_id is not _UNSET
        identity = self.payout_id or (self.end_to_end_id if e2e_given else None)
        if not e2e_given:
            e2e = _end_to_end_id_for(self.payout_id) if self.payout_id else new_end_to_end_id()
            object.__setattr__(self, "end_to_end_id", e2e)
        if self.idempotency_key is _UNSET:
            key = idempotency_key_for(identity) if identity else str(uuid.uuid4())
            object.__setattr__(self, "idempotency_key", key)
        else:
            identity = identity or self.idempotency_key
        object.__setattr__(self, "_caller_identity", identity)

    @property
    def has_caller_identity(self) -> bool:
        """Whether the caller named this payout (key, payout id or end-to-end id), so that
        the same payout built again gets the same key; false means the key is random."""
        return self._caller_identity is not None

    def canonical(self) -> dict[str, Any]:
        """Everything that makes this transfer this transfer, as plain JSON-able data."""
        creditor: dict[str, Any] = {
            "name": self.creditor.name,
            "account": account_to_dict(self.creditor.account),
        }
        if self.creditor.agent is not None:
            creditor["agent"] = self.creditor.agent.value
        if self.creditor.country is not None:
            creditor["country"] = self.creditor.country
        return {
            "amount": self.amount.to_decimal_string(),
            "currency": self.amount.currency,
            "debtor_account": account_to_dict(self.debtor_account),
            "creditor": creditor,
            "remittance": self.remittance,
            "end_to_end_id": self.end_to_end_id,
            "metadata": dict(sorted(self.metadata.items())),
        }

    def canonical_json(self) -> str:
        """:meth:`canonical` as JSON with sorted keys and no spaces: the exact text that is
        hashed, journalled and (by JSON adapters) sent, so a retry sends the same bytes."""
        if self._canonical_json is None:
            text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
            object.__setattr__(self, "_canonical_json", text)
            return text
        return self._canonical_json

    def fingerprint(self) -> str:
        """SHA-256 over :meth:`canonical_json`: stable across runs and processes."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @classmethod
    def from_canonical(cls, raw: Mapping[str, Any], idempotency_key: str) -> TransferRequest:
        creditor = raw["creditor"]
        return cls(
            amount=Money(raw["amount"], raw["currency"]),
            debtor_account=account_from_dict(raw["debtor_account"]),
            creditor=Party(
                name=creditor["name"],
                account=account_from_dict(creditor["account"]),
                agent=Bic(creditor["agent"]) if creditor.get("agent") else None,
                country=creditor.get("country"),
            ),
            remittance=raw["remittance"],
            end_to_end_id=raw["end_to_end_id"],
            idempotency_key=idempotency_key,
            metadata=raw.get("metadata") or {},
        )

    def __repr__(self) -> str:
        # Written out rather than per field, so validation changes to the fields stay apart.
        return (
            f"TransferRequest(amount={self.amount!r}, debtor_account={self.debtor_account!r}, "
            f"creditor={self.creditor!r}, remittance={_text_repr(self.remittance)}, "
            f"end_to_end_id={self.end_to_end_id!r}, idempotency_key={self.idempotency_key!r}, "
            f"metadata={_keys_repr(self.metadata)})"
        )


@attrs.frozen(kw_only=True)
class Transfer:
    """What a bank says about a transfer."""

    id: str
    bank_id: str
    bank_transfer_id: str | None
    end_to_end_id: str
    idempotency_key: str
    amount: Money
    status: TransferStatus
    reason: Reason | None = None
    next_action: NextAction | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def moved_to(
        self,
        status: TransferStatus,
        *,
        reason: Reason | None = None,
        at: datetime | None = None,
    ) -> Transfer:
        """A copy in ``status``; raises ``InvalidTransitionError`` for a backward move."""
        if not self.status.can_become(status):
            raise InvalidTransitionError(
                f"transfer {self.id} cannot move from {self.status} to {status}"
            )
        return attrs.evolve(self, status=status, reason=reason or self.reason, updated_at=at)


class Direction(enum.StrEnum):
    CREDIT = "credit"
    DEBIT = "debit"


class BookingStatus(enum.StrEnum):
    BOOKED = "booked"
    PENDING = "pending"
    INFO = "info"


class BalanceType(enum.StrEnum):
    """ISO 20022 balance types (camt.053 ``Bal/Tp/CdOrPrtry/Cd``) and their open-banking kin."""

    OPENING_BOOKED = "OPBD"
    CLOSING_BOOKED = "CLBD"
    INTERIM_BOOKED = "ITBD"
    INTERIM_AVAILABLE = "ITAV"
    CLOSING_AVAILABLE = "CLAV"
    FORWARD_AVAILABLE = "FWAV"
    PREVIOUSLY_CLOSED_BOOKED = "PRCD"
    EXPECTED = "XPCD"


@attrs.frozen(kw_only=True)
class Balance:
    """A balance of an account at a moment. ``amount`` is signed (negative when overdrawn)."""

    account: AccountId | None
    amount: Money
    type: BalanceType
    as_of: datetime | date | None = None


@attrs.frozen(kw_only=True)
class TransactionDetail:
    """One member of a batch entry (camt ``TxDtls``), with its own amount and references."""

    amount: Money | None = None
    end_to_end_id: str | None = None
    instruction_id: str | None = None
    payment_information_id: str | None = None
    #: The account servicer's reference for this member (camt ``TxDtls/Refs/AcctSvcrRef``).
    bank_reference: str | None = None
    counterparty_name: str | None = None
    counterparty_account: str | None = attrs.field(default=None, repr=_masked_repr)
    remittance: str | None = attrs.field(default=None, repr=_text_repr)


@attrs.frozen(kw_only=True)
class Transaction:
    """One statement or account-history entry. ``amount`` is positive; ``direction`` signs it.

    ``reversal`` marks a storno (camt ``RvslInd``, MT940 ``RC``/``RD``); the direction is
    already the effective one, so ``signed_amount`` is what moved the balance.
    """

    amount: Money
    direction: Direction
    status: BookingStatus = BookingStatus.BOOKED
    transaction_id: str | None = None
    account: AccountId | None = None
    booking_date: date | None = None
    value_date: date | None = None
    end_to_end_id: str | None = None
    instruction_id: str | None = None
    bank_reference: str | None = None
    customer_reference: str | None = None
    counterparty_name: str | None = None
    counterparty_account: str | None = attrs.field(default=None, repr=_masked_repr)
    remittance: str | None = attrs.field(default=None, repr=_text_repr)
    reversal: bool = False
    batch_id: str | None = None
    #: How many transactions the bank says the batch holds (camt ``Btch/NbOfTxs``).
    batch_count: int | None = None
    details: tuple[TransactionDetail, ...] = ()
    charges: Money | None = None
    original_amount: Money | None = None
    type_code: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.amount.is_negative():
            raise InvalidAmountError("a transaction amount is positive; direction gives its sign")
        if self.charges is not None and self.charges.currency != self.amount.currency:
            raise CurrencyMismatchError("charges must be in the entry's currency")

    @property
    def signed_amount(self) -> Money:
        return self.amount if self.direction is Direction.CREDIT else -self.amount


@attrs.frozen(kw_only=True)
class Event:
    """A bank notification whose signature has been verified.

    ``id`` is the bank's event id, used to drop duplicates. When the event is about a
    transfer, the adapter fills the bank's references and the new status; the client matches
    them to the journal and fills ``transfer_id``. ``duplicate`` is true when the event id was
    seen before: its effect has already been applied.
    """

    id: str
    bank_id: str
    type: str
    occurred_at: datetime | None = None
    transfer_id: str | None = None
    bank_transfer_id: str | None = None
    idempotency_key: str | None = None
    end_to_end_id: str | None = None
    status: TransferStatus | None = None
    reason: Reason | None = None
    #: The transfer's amount as the notification states it, when it does: the client
    #: refuses an event whose amount or currency contradicts the journalled intent.
    amount: Money | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict, repr=_keys_repr)
    duplicate: bool = False
