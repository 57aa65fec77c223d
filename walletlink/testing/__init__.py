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
