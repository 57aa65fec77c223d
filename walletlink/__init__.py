"""walletlink: one adapter interface from a digital wallet's backend to many banks.

This module is the public surface: everything a wallet backend needs is importable from
``walletlink`` directly. Protocol toolkits live in their own packages
(``walletlink.signing``, ``walletlink.formats``, ``walletlink.reconcile``,
``walletlink.testing``), each with its own public surface.
"""

from walletlink._observe import RequestRecord
from walletlink._options import CallOptions
from walletlink._retry import CircuitBreaker, RetryBudget, RetryEvent, RetryPolicy
from walletlink.accounts import AccountId, Bic, Iban, LocalAccount, SortCodeAccount
from walletlink.adapters.base import Adapter, TransferRef
from walletlink.adapters.registry import available_protocols, register_adapter
from walletlink.aio import AsyncClient
from walletlink.client import Client, Hooks, ResolveReport
from walletlink.config import BankConfig, Credentials, Timeout
from walletlink.errors import (
    AuthenticationError,
    BankRejectedError,
    BankUnavailableError,
    CircuitOpenError,
    ConfigurationError,
    ConnectError,
    CurrencyMismatchError,
    IdempotencyMismatchError,
    ParseError,
    ProtocolError,
    RateLimitedError,
    SignatureError,
    TransportError,
    UnknownOutcomeError,
    UnsupportedOperationError,
    ValidationError,
    WalletLinkError,
)
from walletlink.http import PreparedRequest, RawResponse
from walletlink.journal import Journal, MemoryJournal, SQLiteJournal
from walletlink.models import (
    Balance,
    BalanceType,
    BookingStatus,
    Capability,
    Direction,
    Event,
    NextAction,
    Party,
    Reason,
    ReasonCode,
    Transaction,
    TransactionDetail,
    Transfer,
    TransferRequest,
    TransferStatus,
)
from walletlink.money import Money

__version__ = "0.1.0.dev0"

__all__ = [
    "AccountId",
    "Adapter",
    "AsyncClient",
    "AuthenticationError",
    "Balance",
    "BalanceType",
    "BankConfig",
    "BankRejectedError",
    "BankUnavailableError",
    "Bic",
    "BookingStatus",
    "CallOptions",
    "Capability",
    "CircuitBreaker",
    "CircuitOpenError",
    "Client",
    "ConfigurationError",
    "ConnectError",
    "Credentials",
    "CurrencyMismatchError",
    "Direction",
    "Event",
    "Hooks",
    "Iban",
    "IdempotencyMismatchError",
    "Journal",
    "LocalAccount",
    "MemoryJournal",
    "Money",
    "NextAction",
    "ParseError",
    "Party",
    "PreparedRequest",
    "ProtocolError",
    "RateLimitedError",
    "RawResponse",
    "Reason",
    "ReasonCode",
    "RequestRecord",
    "ResolveReport",
    "RetryBudget",
    "RetryEvent",
    "RetryPolicy",
    "SQLiteJournal",
    "SignatureError",
    "SortCodeAccount",
    "Timeout",
    "Transaction",
    "TransactionDetail",
    "Transfer",
    "TransferRef",
    "TransferRequest",
    "TransferStatus",
    "TransportError",
    "UnknownOutcomeError",
    "UnsupportedOperationError",
    "ValidationError",
    "WalletLinkError",
    "__version__",
    "available_protocols",
    "register_adapter",
]
