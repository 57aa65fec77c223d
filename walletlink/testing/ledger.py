"""The mock bank's core book: accounts, reservations, transfers and booked entries.

This is the part of a mock bank that does not care how it is spoken to. Every protocol server
(generic_rest today; Open Banking, Berlin Group, ISO 20022 later) translates its wire format
into the same few calls: :meth:`Ledger.submit`, :meth:`Ledger.cancel`, :meth:`Ledger.run_due`,
and reads balances and entries back.

The rules are the ones a reconciliation test needs to trust:

* a new transfer reserves its amount on the debtor account (available drops, booked does
  not); a transfer that does not fit the available balance is created ``rejected``;
* on the clock, ``processing_after`` seconds after creation it becomes ``processing``, and
  ``settle_after`` seconds after creation ``settled``: the reservation turns into a debit, and
  the creditor is credited when the account is held here;
* money is conserved: the booked balances change only by transfers that leave the bank;
* available balances never go negative.

The ledger is thread-safe: one re-entrant lock guards every method.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import attrs

from walletlink.accounts import AccountId
from walletlink.errors import CurrencyMismatchError
from walletlink.models import Direction, ReasonCode, TransferStatus
from walletlink.money import Money

__all__ = [
    "AccountNotFoundError",
    "AccountView",
    "BankTransferView",
    "Ledger",
    "LedgerEntry",
    "TransferInstruction",
    "TransferNotCancellableError",
    "TransferNotFoundError",
]


#: The "never" of a transfer on hold: no clock reaches it.
_ON_HOLD = datetime.max.replace(tzinfo=UTC)


class AccountNotFoundError(LookupError):
    """No account with that identification is held at this bank."""


class TransferNotFoundError(LookupError):
    """No transfer with that id exists at this bank."""


class TransferNotCancellableError(Exception):
    """Only a ``pending`` transfer can be cancelled."""


def _frozen_dict(value: Mapping[str, str]) -> Mapping[str, str]:
    return dict(value)


@attrs.frozen(kw_only=True)
class AccountView:
    """An account as the bank sees it at one moment."""

    account: AccountId
    currency: str
    name: str
    closed: bool
    booked: Money
    reserved: Money

    @property
    def available(self) -> Money:
        """Booked minus what pending and processing transfers have reserved."""
        return self.booked - self.reserved


@attrs.frozen(kw_only=True)
class TransferInstruction:
    """What a protocol server hands the ledger once it has parsed and validated a request."""

    amount: Money
    debtor_account: AccountId
    creditor_name: str
    creditor_account: AccountId
    creditor_agent: str | None = None
    creditor_country: str | None = None
    remittance: str = ""
    end_to_end_id: str
    idempotency_key: str | None = None
    metadata: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_dict)


@attrs.frozen(kw_only=True)
class BankTransferView:
    """A transfer at the bank: its instruction, its status and when it moves next."""

    id: str
    instruction: TransferInstruction
    status: TransferStatus
    reason: ReasonCode | None = None
    reason_message: str = ""
    created_at: datetime
    updated_at: datetime
    process_at: datetime
    settle_at: datetime

    @property
    def amount(self) -> Money:
        return self.instruction.amount

    @property
    def idempotency_key(self) -> str | None:
        return self.instruction.idempotency_key

    @property
    def end_to_end_id(self) -> str:
        return self.instruction.end_to_end_id

    @property
    def debtor_key(self) -> str:
        """The debtor account's full identification, the ledger's key for it."""
        return self.instruction.debtor_account.value


@attrs.frozen(kw_only=True)
class LedgerEntry:
    """One booked movement on one account; ``amount`` is positive, ``direction`` signs it."""

    id: str
    account: AccountId
    transfer_id: str
    amount: Money
    direction: Direction
    booked_at: datetime
    end_to_end_id: str
    counterparty_name: str | None
    counterparty_account: AccountId | None
    remittance: str

    @property
    def seq(self) -> int:
        """The entry's position in the bank's book; ids are ``txn_<seq>``."""
        return int(self.id.split("_", 1)[1])


@attrs.define
class _Account:
    account: AccountId
    currency: str
    name: str
    closed: bool
    booked: Money
    reserved: Money

    def view(self) -> AccountView:
        return AccountView(
            account=self.account,
            currency=self.currency,
            name=self.name,
            closed=self.closed,
            booked=self.booked,
            reserved=self.reserved,
        )


class Ledger:
    """Accounts, transfers and entries of one mock bank."""

    def __init__(self, *, processing_after: float = 0.0, settle_after: float = 60.0) -> None:
        if not 0 <= processing_after <= settle_after:
            raise ValueError("need 0 <= processing_after <= settle_after")
        self.processing_after = timedelta(seconds=processing_after)
        self.settle_after = timedelta(seconds=settle_after)
        self._accounts: dict[str, _Account] = {}
        self._transfers: dict[str, BankTransferView] = {}
        self._entries: list[LedgerEntry] = []
        self._sent_out: dict[str, Money] = {}
        self._lock = threading.RLock()

    # -- accounts -----------------------------------------------------------------------

    def open_account(
        self, account: AccountId, balance: Money, *, name: str = "", closed: bool = False
    ) -> AccountView:
        with self._lock:
            if account.value in self._accounts:
                raise ValueError(f"account {account!r} is already open")
            opened = _Account(
                account, balance.currency, name, closed, balance, Money.zero(balance.currency)
            )
            self._accounts[account.value] = opened
            return opened.view()

    def close_account(self, value: str) -> AccountView:
        with self._lock:
            held = self._held(value)
            held.closed = True
            return held.view()

    def account(self, value: str) -> AccountView:
        """The account whose full identification is ``value``."""
        with self._lock:
            return self._held(value).view()

    def has_account(self, value: str) -> bool:
        with self._lock:
            return value in self._accounts

    def accounts(self) -> list[AccountView]:
        with self._lock:
            return [held.view() for held in self._accounts.values()]

    def total(self, currency: str) -> Money:
        """The sum of booked balances in ``currency`` across every account held here."""
        with self._lock:
            total = Money.zero(currency)
            for held in self._accounts.values():
                if held.currency == currency:
                    total += held.booked
            return total

    def sent_out(self, currency: str) -> Money:
        """Money settled to creditors held at other banks."""
        with self._lock:
            return self._sent_out.get(currency, Money.zero(currency))

    def _held(self, value: str) -> _Account:
        try:
            return self._accounts[value]
        except KeyError:
            raise AccountNotFoundError(value) from None

    # -- transfers ----------------------------------------------------------------------

    def submit(
        self, instruction: TransferInstruction, now: datetime, *, on_hold: bool = False
    ) -> BankTransferView:
        """Create a transfer: reserve and go ``pending``, or be ``rejected`` with a reason.

        Raises :class:`AccountNotFoundError` for an unknown debtor and
        :class:`CurrencyMismatchError` when the debtor account holds another currency; both
        are answers to the request itself, not business declines. ``on_hold`` keeps the
        transfer ``pending`` until :meth:`release_hold` (a payment awaiting its SCA).
        """
        with self._lock:
            debtor = self._held(instruction.debtor_account.value)
            if instruction.amount.currency != debtor.currency:
                raise CurrencyMismatchError(
                    f"the debtor account holds {debtor.currency}, not {instruction.amount.currency}"
                )
            transfer_id = f"tr_{len(self._transfers) + 1:04d}"
            reason: ReasonCode | None = None
            if debtor.closed:
                reason = ReasonCode.ACCOUNT_CLOSED
            elif debtor.booked - debtor.reserved < instruction.amount:
                reason = ReasonCode.INSUFFICIENT_FUNDS
            else:
                debtor.reserved += instruction.amount
            transfer = BankTransferView(
                id=transfer_id,
                instruction=instruction,
                status=TransferStatus.PENDING if reason is None else TransferStatus.REJECTED,
                reason=reason,
                reason_message=_MESSAGES.get(reason, "") if reason else "",
                created_at=now,
                updated_at=now,
                process_at=_ON_HOLD if on_hold else now + self.processing_after,
                settle_at=_ON_HOLD if on_hold else now + self.settle_after,
            )
            self._transfers[transfer_id] = transfer
            return transfer

    def release_hold(self, transfer_id: str, now: datetime) -> BankTransferView:
        """Start the clock of a transfer submitted ``on_hold``, counting from ``now``; a
        transfer not on hold is returned unchanged."""
        with self._lock:
            transfer = self.transfer(transfer_id)
            if transfer.status is not TransferStatus.PENDING or transfer.process_at != _ON_HOLD:
                return transfer
            released = attrs.evolve(
                transfer,
                process_at=now + self.processing_after,
                settle_at=now + self.settle_after,
            )
            self._transfers[transfer_id] = released
            return released

    def transfer(self, transfer_id: str) -> BankTransferView:
        with self._lock:
            try:
                return self._transfers[transfer_id]
            except KeyError:
                raise TransferNotFoundError(transfer_id) from None

    def transfers(self) -> list[BankTransferView]:
        """Every transfer ever created here, oldest first."""
        with self._lock:
            return list(self._transfers.values())

    def cancel(self, transfer_id: str, now: datetime) -> BankTransferView:
        """Cancel a ``pending`` transfer and release its reservation."""
        with self._lock:
            transfer = self.transfer(transfer_id)
            if transfer.status is not TransferStatus.PENDING:
                raise TransferNotCancellableError(f"transfer {transfer_id} is {transfer.status}")
            self._release(transfer)
            return self._move(transfer, TransferStatus.CANCELLED, now, ReasonCode.CANCELLED_BY_USER)

    def reject(self, transfer_id: str, now: datetime, reason: ReasonCode) -> BankTransferView:
        """Fail a ``pending`` transfer for ``reason`` and release its reservation: a check
        the bank runs after accepting it (a payee name that does not match, say)."""
        with self._lock:
            transfer = self.transfer(transfer_id)
            if transfer.status is not TransferStatus.PENDING:
                raise TransferNotCancellableError(f"transfer {transfer_id} is {transfer.status}")
            self._release(transfer)
            return self._move(transfer, TransferStatus.REJECTED, now, reason)

    def run_due(self, now: datetime) -> list[BankTransferView]:
        """Apply every status change due by ``now``; returns them in the order they happened."""
        changes: list[BankTransferView] = []
        with self._lock:
            for transfer in list(self._transfers.values()):
                if transfer.status is TransferStatus.PENDING and transfer.process_at <= now:
                    transfer = self._start_processing(transfer)
                    changes.append(transfer)
                if transfer.status is TransferStatus.PROCESSING and transfer.settle_at <= now:
                    transfer = self._settle(transfer)
                    changes.append(transfer)
        return changes

    def entries(self, value: str) -> list[LedgerEntry]:
        """The booked entries of one account, in booking order."""
        with self._lock:
            self._held(value)
            return [entry for entry in self._entries if entry.account.value == value]

    def _start_processing(self, transfer: BankTransferView) -> BankTransferView:
        creditor = self._accounts.get(transfer.instruction.creditor_account.value)
        at = transfer.process_at
        if creditor is not None and creditor.closed:
            self._release(transfer)
            return self._move(transfer, TransferStatus.REJECTED, at, ReasonCode.ACCOUNT_CLOSED)
        if creditor is not None and creditor.currency != transfer.amount.currency:
            self._release(transfer)
            return self._move(transfer, TransferStatus.REJECTED, at, ReasonCode.INVALID_ACCOUNT)
        return self._move(transfer, TransferStatus.PROCESSING, at)

    def _settle(self, transfer: BankTransferView) -> BankTransferView:
        instruction = transfer.instruction
        debtor = self._accounts[transfer.debtor_key]
        amount = transfer.amount
        at = transfer.settle_at
        self._release(transfer)
        debtor.booked -= amount
        self._book(transfer, debtor, Direction.DEBIT, at)
        creditor = self._accounts.get(instruction.creditor_account.value)
        if creditor is None:
            self._sent_out[amount.currency] = self.sent_out(amount.currency) + amount
        else:
            creditor.booked += amount
            self._book(transfer, creditor, Direction.CREDIT, at)
        return self._move(transfer, TransferStatus.SETTLED, at)

    def _book(
        self, transfer: BankTransferView, held: _Account, direction: Direction, at: datetime
    ) -> None:
        instruction = transfer.instruction
        if direction is Direction.DEBIT:
            name: str | None = instruction.creditor_name
            other: AccountId | None = instruction.creditor_account
        else:
            other = instruction.debtor_account
            name = self._accounts[other.value].name or None
        self._entries.append(
            LedgerEntry(
                id=f"txn_{len(self._entries) + 1:04d}",
                account=held.account,
                transfer_id=transfer.id,
                amount=transfer.amount,
                direction=direction,
                booked_at=at,
                end_to_end_id=instruction.end_to_end_id,
                counterparty_name=name,
                counterparty_account=other,
                remittance=instruction.remittance,
            )
        )

    def _release(self, transfer: BankTransferView) -> None:
        debtor = self._accounts[transfer.debtor_key]
        debtor.reserved -= transfer.amount

    def _move(
        self,
        transfer: BankTransferView,
        status: TransferStatus,
        at: datetime,
        reason: ReasonCode | None = None,
    ) -> BankTransferView:
        moved = attrs.evolve(
            transfer,
            status=status,
            updated_at=at,
            reason=reason or transfer.reason,
            reason_message=_MESSAGES.get(reason, "") if reason else transfer.reason_message,
        )
        self._transfers[transfer.id] = moved
        return moved


_MESSAGES: dict[ReasonCode | None, str] = {
    ReasonCode.INSUFFICIENT_FUNDS: "the debtor account's available balance is too low",
    ReasonCode.ACCOUNT_CLOSED: "the account is closed",
    ReasonCode.INVALID_ACCOUNT: "the creditor account cannot receive this currency",
    ReasonCode.CANCELLED_BY_USER: "cancelled at the customer's request",
    ReasonCode.INVALID_CREDITOR: "the payee's name does not match the account",
}
