"""walletlink: one adapter interface from a digital wallet's backend to many banks.

This module is the public surface: everything a wallet backend needs is importable from
``walletlink`` directly. Protocol toolkits live in their own packages
(``walletlink.signing``, ``walletlink.formats``, ``walletlink.reconcile``,
``walletlink.testing``), each with its own public surface.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from walletlink._api import *  # noqa: F403

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
    "TransferNotFoundError",
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


def __getattr__(name: str) -> Any:
    # The surface loads on first use: pytest imports walletlink.testing.pytest_plugin (and so
    # this package) in every session of every project that has walletlink installed, and
    # that must cost nothing until a test asks for walletlink.
    if name in __all__:
        from walletlink import _api

        value = getattr(_api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'walletlink' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
