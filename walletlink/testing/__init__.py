"""Mock banks for tests: in process or on loopback, with a fake clock and fault injection.

A :class:`MockBank` holds accounts and a ledger, settles transfers on a :class:`FakeClock`,
keeps idempotency keys like a real bank, signs and sends webhooks, and injects the faults of
a seeded :class:`FaultPlan`. It speaks a protocol through a registered protocol server
(``generic_rest`` today)::

    bank = MockBank("generic_rest")
    bank.open_account("DE89370400440532013000", "100.00", "EUR")
    session = requests.Session()
    bank.mount(session)            # or: with bank.serve() as served: ... served.url
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from walletlink.testing._http import MockRequest, MockResponse, ServerTLS
    from walletlink.testing.clock import FakeClock
    from walletlink.testing.faults import FaultKind, FaultPlan
    from walletlink.testing.idempotency import IdempotencyStore
    from walletlink.testing.ledger import BankTransferView, Ledger, LedgerEntry
    from walletlink.testing.mockbank import (
        MockBank,
        OutgoingWebhook,
        ProtocolServer,
        ServedBank,
        protocol_servers,
        register_protocol_server,
    )

__all__ = [
    "BankTransferView",
    "FakeClock",
    "FaultKind",
    "FaultPlan",
    "IdempotencyStore",
    "Ledger",
    "LedgerEntry",
    "MockBank",
    "MockRequest",
    "MockResponse",
    "OutgoingWebhook",
    "ProtocolServer",
    "ServedBank",
    "ServerTLS",
    "protocol_servers",
    "register_protocol_server",
]

# Loaded on first use, like the ``walletlink`` package itself: the pytest plugin imports this
# package in every test session, including those that never use a mock bank.
_HOMES = {
    "BankTransferView": "walletlink.testing.ledger",
    "FakeClock": "walletlink.testing.clock",
    "FaultKind": "walletlink.testing.faults",
    "FaultPlan": "walletlink.testing.faults",
    "IdempotencyStore": "walletlink.testing.idempotency",
    "Ledger": "walletlink.testing.ledger",
    "LedgerEntry": "walletlink.testing.ledger",
    "MockBank": "walletlink.testing.mockbank",
    "MockRequest": "walletlink.testing._http",
    "MockResponse": "walletlink.testing._http",
    "OutgoingWebhook": "walletlink.testing.mockbank",
    "ProtocolServer": "walletlink.testing.mockbank",
    "ServedBank": "walletlink.testing.mockbank",
    "ServerTLS": "walletlink.testing._http",
    "protocol_servers": "walletlink.testing.mockbank",
    "register_protocol_server": "walletlink.testing.mockbank",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'walletlink.testing' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
