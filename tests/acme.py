"""The generic_rest bank "acme" with a funded debtor, shared by the client-level tests of
the async client, per-call options, observability and tracing."""

from __future__ import annotations

from typing import Any

from walletlink import Money, Party, TransferRequest
from walletlink.accounts import Iban
from walletlink.testing import FakeClock, MockBank, MockRequest
from walletlink.testing._http import MockResponse

DEBTOR = Iban("DE89370400440532013000")
CREDITOR = Iban("GB33BUKB20201555555555")


def make_bank(clock: FakeClock) -> MockBank:
    bank = MockBank("generic_rest", bank_id="acme", clock=clock)
    bank.open_account(DEBTOR, Money("1000.00", "EUR"))
    bank.open_account(CREDITOR, Money("0.00", "EUR"))
    return bank


def transfer_request(amount: str = "12.30", **changes: Any) -> TransferRequest:
    fields: dict[str, Any] = {
        "amount": Money(amount, "EUR"),
        "debtor_account": DEBTOR,
        "creditor": Party(name="Ada Lovelace", account=CREDITOR),
        "remittance": "Invoice 42",
    }
    fields.update(changes)
    return TransferRequest(**fields)


def fail_first_post(bank: MockBank) -> None:
    """The bank answers its first POST 503 (nothing executed), then as usual."""
    answer, failed = bank.handle, []

    def handle(request: MockRequest) -> MockResponse:
        if request.method == "POST" and not failed:
            failed.append(request)
            return MockResponse(status=503)
        return answer(request)

    bank.handle = handle  # type: ignore[method-assign]
