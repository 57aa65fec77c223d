"""The conformance suite every adapter and its mock bank must pass.

Subclass :class:`AdapterConformance` in a test module, name the protocol, and override the
hooks your protocol needs (SCA approval, mTLS for the loopback run)::

    from walletlink.testing.conformance import AdapterConformance

    class TestAcmeConformance(AdapterConformance):
        protocol = "acme"

Each check drives the real :class:`~walletlink.Client`, and then the real
:class:`~walletlink.AsyncClient` (``client_kind`` is ``"sync"`` or ``"async"``), against the
protocol's :class:`~walletlink.testing.MockBank` on a :class:`~walletlink.testing.FakeClock`,
so the suite runs in well under a second per adapter and never sleeps. The async client is
driven through :class:`BlockingAsyncClient`, so every check (and every hook a subclass
overrides) reads the same for both. Checks for capabilities an
adapter does not declare are skipped; the refusal of an undeclared capability is checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, cast

import attrs
import pytest

from walletlink._retry import RetryEvent, RetryPolicy
from walletlink.accounts import AccountId, Iban
from walletlink.aio import AsyncClient
from walletlink.client import Client, Hooks
from walletlink.config import BankConfig
from walletlink.errors import (
    IdempotencyMismatchError,
    SignatureError,
    UnknownOutcomeError,
    UnsupportedOperationError,
    ValidationError,
    WalletLinkError,
)
from walletlink.journal import SQLiteJournal
from walletlink.models import Capability, Party, Transfer, TransferRequest, TransferStatus
from walletlink.money import Money
from walletlink.testing._http import MockRequest, MockResponse
from walletlink.testing._mutate import mutate_body
from walletlink.testing.clock import FakeClock
from walletlink.testing.faults import FaultKind, FaultPlan
from walletlink.testing.mockbank import MockBank, ServedBank

__all__ = ["AdapterConformance", "BlockingAsyncClient"]

_DEBTOR = "DE89370400440532013000"
_POOR = "DE02120300000000202051"
_CREDITOR = "GB33BUKB20201555555555"
_KNOWN = frozenset(TransferStatus) - {TransferStatus.UNKNOWN}


class BlockingAsyncClient:
    """An :class:`~walletlink.AsyncClient` with blocking methods, each coroutine run to its
    end on the wrapper's own event loop: the conformance checks call it like a
    :class:`~walletlink.Client`. ``transactions`` reads every page before returning."""

    def __init__(self, client: AsyncClient) -> None:
        self.aio = client
        self._runner = asyncio.Runner()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.aio, name)
        if not inspect.iscoroutinefunction(value):
            return value

        def blocking(*args: Any, **kwargs: Any) -> Any:
            return self._runner.run(value(*args, **kwargs))

        return blocking

    def transactions(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        pages: AsyncIterator[Any] = self.aio.transactions(*args, **kwargs)

        async def collect() -> list[Any]:
            return [item async for item in pages]

        return iter(self._runner.run(collect()))

    def close(self) -> None:
        self._runner.run(self.aio.aclose())
        self._runner.close()


class AdapterConformance:
    """What every adapter + mock bank pair must do. Override the hooks, not the checks."""

    protocol: ClassVar[str]
    currency: ClassVar[str] = "EUR"
    #: How long the mock bank takes to settle, in seconds of its clock.
    settle_after: ClassVar[float] = 60
    #: The path (or a part of it) of the write that creates a payment at this bank.
    payment_path: ClassVar[str] = "/"
    #: The reply header that carries the bank's request id (see Adapter.request_id_headers).
    request_id_header: ClassVar[str] = "X-Request-ID"
    #: Rounds of calls against a bank whose replies come back broken half the time.
    broken_reply_rounds: ClassVar[int] = 40

    # -- hooks ------------------------------------------------------------------------------

    def make_bank(self, clock: FakeClock, faults: FaultPlan) -> MockBank:
        return MockBank(self.protocol, clock=clock, faults=faults, settle_after=self.settle_after)

    def make_config(self, bank: MockBank) -> BankConfig:
        return bank.config()

    def accounts(self, bank: MockBank) -> tuple[AccountId, Party]:
        """Open a funded debtor; return it and a creditor."""
        debtor = bank.open_account(Iban(_DEBTOR), Money("1000.00", self.currency))
        creditor = bank.open_account(Iban(_CREDITOR), Money("0.00", self.currency))
        return debtor, Party(name="Ada Lovelace", account=creditor)

    def poor_account(self, bank: MockBank) -> AccountId:
        return bank.open_account(Iban(_POOR), Money("1.00", self.currency))

    def complete_action(self, bank: MockBank, client: Client, transfer: Transfer) -> Transfer:
        """Do what a person would for a REQUIRES_ACTION transfer (SCA); default: nothing."""
        return transfer

    def tamper(self, body: bytes) -> bytes:
        """A copy of a notification body with one byte of content changed."""
        index = max(body.rfind(b"0"), body.rfind(b"1"))
        if index < 0:
            return body + b" "
        return (
            body[:index] + (b"1" if body[index : index + 1] == b"0" else b"0") + body[index + 1 :]
        )

    def serve(self, bank: MockBank) -> tuple[ServedBank, BankConfig]:
        served = bank.serve()
        return served, served.config()

    def refused_requests(self, bank: MockBank) -> list[TransferRequest]:
        """Transfers the adapter's ``validate`` must refuse, though the request models accept
        them (override with the protocol's own: a currency it cannot carry, say)."""
        return []

    # -- fixtures ---------------------------------------------------------------------------

    @pytest.fixture(autouse=True, params=["sync", "async"])
    def client_kind(self, request: pytest.FixtureRequest) -> str:
        """Which client every check of this run drives."""
        kind: str = request.param
        self._kind = kind
        return kind

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def bank(self, clock: FakeClock) -> Iterator[MockBank]:
        bank = self.make_bank(clock, FaultPlan.none())
        yield bank
        bank.close()

    @pytest.fixture
    def client(self, bank: MockBank, clock: FakeClock, tmp_path: Path) -> Iterator[Client]:
        journal = SQLiteJournal(tmp_path / "journal.sqlite3")
        client = self._client(bank, clock, journal, self.make_config(bank))
        self._mount(bank, client)
        yield client
        client.close()
        journal.close()

    def _client(
        self,
        bank: MockBank,
        clock: FakeClock,
        journal: SQLiteJournal,
        config: BankConfig,
        *,
        hooks: Hooks | None = None,
        **retry: Any,
    ) -> Client:
        """The client of this run's kind (the async one behind a blocking wrapper)."""
        policy = RetryPolicy(
            sleep=clock.sleep,
            async_sleep=clock.asleep,
            clock=clock.monotonic,
            rng=random.Random(1),
            **retry,
        )
        options: dict[str, Any] = {"journal": journal, "retry": policy, "clock": clock.now}
        if getattr(self, "_kind", "sync") == "async":
            wrapped = BlockingAsyncClient(AsyncClient([config], hooks=hooks, **options))
            return cast(Client, wrapped)
        return Client([config], hooks=hooks, **options)

    @staticmethod
    def _mount(bank: MockBank, client: Client) -> None:
        if isinstance(client, BlockingAsyncClient):
            bank.mount_async(client.aio)
        else:
            bank.mount(client.session)

    def _accounts(self, bank: MockBank) -> tuple[AccountId, Party]:
        # Each test gets a fresh instance and a fresh bank: open the accounts once per bank.
        opened: dict[int, tuple[AccountId, Party]] = self.__dict__.setdefault("_opened", {})
        if id(bank) not in opened:
            opened[id(bank)] = self.accounts(bank)
        return opened[id(bank)]

    def _request(self, bank: MockBank, **changes: Any) -> TransferRequest:
        debtor, creditor = self._accounts(bank)
        base = TransferRequest(
            amount=Money("12.30", self.currency),
            debtor_account=debtor,
            creditor=creditor,
            remittance="Conformance",
        )
        return attrs.evolve(base, **changes) if changes else base

    def _settle(self, bank: MockBank, client: Client, transfer: Transfer) -> Transfer:
        transfer = self.complete_action(bank, client, transfer)
        bank.advance(self.settle_after + 1)
        return client.get_transfer(transfer.id)

    def _requires(self, client: Client, bank: MockBank, capability: Capability) -> None:
        if capability not in client.adapter(bank.bank_id).capabilities:
            pytest.skip(f"{self.protocol} does not declare {capability.value}")

    # -- payments ---------------------------------------------------------------------------

    def test_transfer_reaches_a_known_status(self, bank: MockBank, client: Client) -> None:
        request = self._request(bank)
        transfer = client.transfer(bank.bank_id, request)
        assert transfer.status in _KNOWN
        assert transfer.amount == request.amount
        assert transfer.idempotency_key == request.idempotency_key

    def test_transfer_settles_on_the_banks_clock(self, bank: MockBank, client: Client) -> None:
        request = self._request(bank)
        transfer = self._settle(bank, client, client.transfer(bank.bank_id, request))
        assert transfer.status is TransferStatus.SETTLED
        assert bank.balance(request.debtor_account) == Money("987.70", self.currency)

    def test_same_request_twice_is_sent_once(self, bank: MockBank, client: Client) -> None:
        request = self._request(bank)
        first = client.transfer(bank.bank_id, request)
        second = client.transfer(bank.bank_id, request)
        assert first.id == second.id
        # SCA protocols put the payment on the ledger only once it is authorised.
        self.complete_action(bank, client, second)
        assert client.transfer(bank.bank_id, request).id == first.id
        assert len(bank.transfers()) == 1

    def test_same_key_with_another_request_sends_nothing(
        self, bank: MockBank, client: Client
    ) -> None:
        request = self._request(bank)
        client.transfer(bank.bank_id, request)
        before = bank.stats.get("requests", 0)
        changed = self._request(bank, amount=Money("99.00", self.currency))
        changed = TransferRequest.from_canonical(changed.canonical(), request.idempotency_key)
        with pytest.raises(IdempotencyMismatchError):
            client.transfer(bank.bank_id, changed)
        assert bank.stats.get("requests", 0) == before

    @pytest.mark.parametrize(
        "fault", ["drop_response_after_commit", "reset_after_commit", "reset_before_commit"]
    )
    def test_lost_replies_are_resolved_without_paying_twice(
        self, bank: MockBank, client: Client, fault: str
    ) -> None:
        request = self._request(bank)
        bank.set_faults(FaultPlan.of(FaultKind(fault), only_methods=frozenset({"POST"})))
        with pytest.raises(UnknownOutcomeError):
            client.transfer(bank.bank_id, request)
        bank.set_faults(FaultPlan.none())
        assert client.journal.unresolved(bank.bank_id)
        resolved = client.resolve_unknown(bank.bank_id)
        assert [t.idempotency_key for t in resolved] == [request.idempotency_key]
        assert not client.journal.unresolved(bank.bank_id)
        assert bank.duplicates_at_bank == 0
        final = self._settle(bank, client, resolved[0])
        assert final.status is TransferStatus.SETTLED
        assert bank.balance(request.debtor_account) == Money("987.70", self.currency)

    def test_server_errors_are_retried(
        self, bank: MockBank, clock: FakeClock, tmp_path: Path
    ) -> None:
        retries: list[RetryEvent] = []
        journal = SQLiteJournal(tmp_path / "retries.sqlite3")
        client = self._client(
            bank,
            clock,
            journal,
            self.make_config(bank),
            hooks=Hooks(on_retry=lambda bank_id, event: retries.append(event)),
            # Ten attempts against a coin-flip bank: the seeded run always gets through.
            max_attempts=10,
            max_elapsed=600,
        )
        self._mount(bank, client)
        try:
            request = self._request(bank)
            bank.set_faults(FaultPlan(seed=3, unavailable=0.3, server_error=0.2))
            transfer = client.transfer(bank.bank_id, request)
            bank.set_faults(FaultPlan.none())
            assert transfer.status in _KNOWN
            assert {event.status for event in retries} & {500, 503}
            assert bank.duplicates_at_bank == 0
        finally:
            client.close()
            journal.close()

    def test_insufficient_funds_is_a_rejection_value(self, bank: MockBank, client: Client) -> None:
        request = self._request(
            bank, debtor_account=self.poor_account(bank), amount=Money("500.00", self.currency)
        )
        transfer = client.transfer(bank.bank_id, request)
        if transfer.status is not TransferStatus.REJECTED:
            transfer = self._settle(bank, client, transfer)
        assert transfer.status is TransferStatus.REJECTED
        assert transfer.reason is not None
        assert transfer.reason.code.value == "insufficient_funds"

    def test_refused_requests_leave_no_journal_row(self, bank: MockBank, client: Client) -> None:
        """A transfer the protocol cannot carry is refused before it is journalled: no row
        that could never be sent, and nothing sent."""
        refused_requests = self.refused_requests(bank)
        if not refused_requests:
            pytest.skip(f"{self.protocol} refuses nothing the request models do not refuse")
        before = bank.stats.get("requests", 0)
        for refused in refused_requests:
            with pytest.raises(ValidationError):
                client.transfer(bank.bank_id, refused)
            assert client.journal.get(refused.idempotency_key) is None
        assert list(client.journal.records()) == []
        assert bank.stats.get("requests", 0) == before

    def test_a_refused_member_keeps_the_whole_batch_out_of_the_journal(
        self, bank: MockBank, client: Client
    ) -> None:
        self._requires(client, bank, Capability.BATCH_PAYMENTS)
        refused_requests = self.refused_requests(bank)
        if not refused_requests:
            pytest.skip(f"{self.protocol} refuses nothing the request models do not refuse")
        before = bank.stats.get("requests", 0)
        for refused in refused_requests:
            with pytest.raises(ValidationError):
                client.transfer_batch(bank.bank_id, [self._request(bank), refused])
        assert list(client.journal.records()) == []
        assert bank.stats.get("requests", 0) == before

    def test_unknown_outcome_keeps_the_banks_request_id(
        self, bank: MockBank, client: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The bank fails the payment write with a 5xx naming its request id: the
        UnknownOutcomeError carries that id, for the bank's support to find the call."""
        answer = bank.handle

        def failing(request: MockRequest) -> MockResponse:
            if request.method == "POST" and self.payment_path in request.path:
                bank.count("requests")
                return MockResponse(status=503, headers={self.request_id_header: "req-4711"})
            return answer(request)

        monkeypatch.setattr(bank, "handle", failing)
        request = self._request(bank)
        with pytest.raises(UnknownOutcomeError) as raised:
            client.transfer(bank.bank_id, request)
        assert ("req-4711", request.idempotency_key) == (
            raised.value.request_id,
            raised.value.idempotency_key,
        )

    def test_undeclared_capabilities_are_refused_before_io(
        self, bank: MockBank, client: Client
    ) -> None:
        declared = client.adapter(bank.bank_id).capabilities
        before = bank.stats.get("requests", 0)
        account = Iban(_DEBTOR)
        calls: dict[Capability, Callable[[], object]] = {
            Capability.ACCOUNT_INFORMATION: lambda: client.balances(bank.bank_id, account),
            Capability.NOTIFICATIONS: lambda: client.handle_notification(bank.bank_id, {}, b""),
        }
        missing = [capability for capability in calls if capability not in declared]
        if not missing:
            pytest.skip(f"{self.protocol} declares every optional capability")
        for capability in missing:
            with pytest.raises(UnsupportedOperationError):
                calls[capability]()
        assert bank.stats.get("requests", 0) == before

    def test_broken_replies_raise_only_walletlink_errors(
        self, bank: MockBank, client: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Half the bank's replies come back broken the way real replies break (a flipped
        byte, a truncated body, a number past any range, a calendar-edge date, a JSON value
        of the wrong type): every call ends in a walletlink error or a result, never a
        crash, and the journal still verifies."""
        rng = random.Random(f"{self.protocol}:broken-replies")
        answer = bank.handle

        def breaking(request: MockRequest) -> MockResponse:
            response = answer(request)
            if rng.random() < 0.5:
                return response
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
            return MockResponse(
                status=response.status, headers=headers, body=mutate_body(rng, response.body)
            )

        monkeypatch.setattr(bank, "handle", breaking)
        # The parsers are under test, not the signatures: a bank may sign a broken reply.
        client._banks[bank.bank_id].verifier = None
        debtor, _ = self._accounts(bank)
        capabilities = client.adapter(bank.bank_id).capabilities
        today = bank.clock.now().date()
        calls: list[Callable[[int], object]] = [
            lambda n: client.transfer(bank.bank_id, self._request(bank, remittance=f"round {n}"))
        ]
        if Capability.ACCOUNT_INFORMATION in capabilities:
            calls.append(lambda n: client.balances(bank.bank_id, debtor))
            calls.append(
                lambda n: list(
                    client.transactions(bank.bank_id, debtor, today, today + timedelta(days=1))
                )
            )
        for round_ in range(self.broken_reply_rounds):
            for call in calls:
                with contextlib.suppress(WalletLinkError):
                    call(round_)
            for record in client.journal.records():
                if record.transfer is not None and record.transfer.bank_transfer_id:
                    with contextlib.suppress(WalletLinkError):
                        client.get_transfer(record.transfer_id)
                    break
        client.resolve_unknown()  # isolates every record's failure: never raises
        client.journal.verify()

    # -- account information ----------------------------------------------------------------

    def test_balances(self, bank: MockBank, client: Client) -> None:
        self._requires(client, bank, Capability.ACCOUNT_INFORMATION)
        debtor, _ = self._accounts(bank)
        balances = client.balances(bank.bank_id, debtor)
        assert Money("1000.00", self.currency) in [b.amount for b in balances]

    def test_transactions_follow_every_page(self, bank: MockBank, client: Client) -> None:
        self._requires(client, bank, Capability.ACCOUNT_INFORMATION)
        start = bank.clock.now().date()
        debtor, creditor = self._accounts(bank)
        count = 0
        for index in range(5):
            request = TransferRequest(
                amount=Money(f"{index + 1}.00", self.currency),
                debtor_account=debtor,
                creditor=creditor,
                remittance=f"page {index}",
            )
            self._settle(bank, client, client.transfer(bank.bank_id, request))
            count += 1
        end = bank.clock.now().date() + timedelta(days=1)
        booked = list(client.transactions(bank.bank_id, debtor, start, end))
        amounts = sorted(t.amount.minor_units for t in booked if t.direction.value == "debit")
        assert amounts == [100 * (i + 1) for i in range(count)]

    # -- notifications ----------------------------------------------------------------------

    def test_notifications_are_verified_and_deduplicated(
        self, clock: FakeClock, tmp_path: Path
    ) -> None:
        inbox: list[tuple[dict[str, str], bytes]] = []
        bank = self.make_bank(clock, FaultPlan.none())

        def receive(headers: Mapping[str, str], body: bytes) -> None:
            inbox.append((dict(headers), body))

        bank.webhook_target = receive
        journal = SQLiteJournal(tmp_path / "events.sqlite3")
        client = self._client(bank, clock, journal, self.make_config(bank))
        self._mount(bank, client)
        try:
            self._requires(client, bank, Capability.NOTIFICATIONS)
            transfer = self.complete_action(
                bank, client, client.transfer(bank.bank_id, self._request(bank))
            )
            bank.advance(self.settle_after + 1)
            assert inbox, "the mock bank sent no notification"
            headers, body = inbox[-1]
            event = client.handle_notification(bank.bank_id, headers, body)
            assert not event.duplicate
            assert client.handle_notification(bank.bank_id, headers, body).duplicate
            record = client.journal.get(transfer.idempotency_key)
            assert record is not None
            assert record.status is TransferStatus.SETTLED
            with pytest.raises(SignatureError):
                client.handle_notification(bank.bank_id, headers, self.tamper(body))
        finally:
            client.close()
            journal.close()
            bank.close()

    # -- loopback ---------------------------------------------------------------------------

    def test_loopback(self, bank: MockBank, clock: FakeClock, tmp_path: Path) -> None:
        served, config = self.serve(bank)
        journal = SQLiteJournal(tmp_path / "loopback.sqlite3")
        client = self._client(bank, clock, journal, config)
        try:
            request = self._request(bank)
            transfer = self._settle(bank, client, client.transfer(bank.bank_id, request))
            assert transfer.status is TransferStatus.SETTLED
        except WalletLinkError:
            raise
        finally:
            client.close()
            journal.close()
            served.close()
