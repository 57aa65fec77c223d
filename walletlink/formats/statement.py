"""The statement model shared by every statement format (camt.053, camt.054, MT940).

A parser yields a flat stream of items, so a 1 GB statement never has to fit in memory::

    StatementHeader, Balance, Balance, Transaction, Transaction, …, StatementEnd

(a file may hold several statements: the sequence repeats). :func:`collect_statements` folds
the stream into :class:`Statement` values for files that fit in memory; streaming callers
consume the items directly and still get a balance check from :meth:`StatementEnd.check_balance`,
which the parsers fill with running totals.

Sign convention: ``Transaction.direction`` is always the *effective* movement of the booked
balance; ``reversal`` only marks a storno. See ``docs/formats.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final, TypeAlias

import attrs

from walletlink.accounts import AccountId
from walletlink.errors import CurrencyMismatchError, ParseError, StatementBalanceError
from walletlink.models import Balance, BalanceType, BookingStatus, Direction, Transaction
from walletlink.money import Money

__all__ = [
    "Statement",
    "StatementEnd",
    "StatementHeader",
    "StatementItem",
    "collect_statements",
]

_OPENING_TYPES = (BalanceType.OPENING_BOOKED, BalanceType.PREVIOUSLY_CLOSED_BOOKED)


@attrs.frozen(kw_only=True)
class StatementHeader:
    """What a statement says about itself before its balances and entries.

    ``format`` is ``"camt.053"``, ``"camt.054"`` or ``"mt940"``; ``currency`` is ``None`` only
    when the header does not name it (camt without ``Acct/Ccy``: the balances will).
    """

    format: str
    statement_id: str
    account: AccountId | None = None
    currency: str | None = None
    message_id: str | None = None
    created_at: datetime | None = None
    sequence_number: str | None = None
    from_date: date | datetime | None = None
    to_date: date | datetime | None = None
    related_reference: str | None = None


def _balance_error(statement_id: str, opening: Money, net: Money, closing: Money) -> None:
    try:
        expected = opening + net
        closing - expected  # raises CurrencyMismatchError across currencies
    except CurrencyMismatchError as exc:  # the parsers refuse this; a hand-built one may not
        raise ParseError(
            f"statement {statement_id!r} mixes currencies: {exc.message}", position="balances"
        ) from exc
    if expected != closing:
        delta = closing - expected
        raise StatementBalanceError(
            f"statement {statement_id!r}: opening {opening} + entries {net} = {expected}, "
            f"but closing is {closing} (difference {delta})"
        )


def _opening(balances: Iterable[Balance]) -> Balance | None:
    for wanted in _OPENING_TYPES:
        for balance in balances:
            if balance.type is wanted:
                return balance
    return None


def _closing(balances: Iterable[Balance]) -> Balance | None:
    found = None
    for balance in balances:
        if balance.type is BalanceType.CLOSING_BOOKED:
            found = balance
    return found


@attrs.frozen(kw_only=True)
class StatementEnd:
    """The end of one statement in a stream, with the running totals of its entries.

    ``booked_net`` is the signed sum of the booked entries (pending and info entries do not
    move the booked balance); ``None`` when the statement had no entries and no currency.
    """

    header: StatementHeader
    balances: tuple[Balance, ...]
    entry_count: int
    booked_net: Money | None

    @property
    def opening_balance(self) -> Balance | None:
        return _opening(self.balances)

    @property
    def closing_balance(self) -> Balance | None:
        return _closing(self.balances)

    def check_balance(self) -> None:
        """Raise :class:`StatementBalanceError` unless opening + booked entries = closing."""
        opening, closing = self.opening_balance, self.closing_balance
        if opening is None or closing is None:
            raise StatementBalanceError(
                f"statement {self.header.statement_id!r} has no opening and closing booked "
                "balance to check"
            )
        net = (
            self.booked_net if self.booked_net is not None else Money.zero(opening.amount.currency)
        )
        _balance_error(self.header.statement_id, opening.amount, net, closing.amount)


@attrs.frozen(kw_only=True)
class Statement:
    """One account statement (or camt.054 notification), fully in memory.

    ``balances`` holds every balance the file gave (OPBD, CLBD, ITBD, PRCD, CLAV…), in
    file order; ``opening_balance`` and ``closing_balance`` pick the booked ones.
    """

    header: StatementHeader
    balances: tuple[Balance, ...] = ()
    entries: tuple[Transaction, ...] = ()

    @property
    def statement_id(self) -> str:
        return self.header.statement_id

    @property
    def account(self) -> AccountId | None:
        return self.header.account

    @property
    def currency(self) -> str | None:
        """The header's currency, else the first balance's, else the first entry's."""
        if self.header.currency is not None:
            return self.header.currency
        for money in (*(b.amount for b in self.balances), *(e.amount for e in self.entries)):
            return money.currency
        return None

    @property
    def created_at(self) -> datetime | None:
        return self.header.created_at

    @property
    def sequence_number(self) -> str | None:
        return self.header.sequence_number

    @property
    def opening_balance(self) -> Balance | None:
        return _opening(self.balances)

    @property
    def closing_balance(self) -> Balance | None:
        return _closing(self.balances)

    def booked_net(self) -> Money | None:
        """The signed sum of booked entries, in the statement's currency."""
        currency = self.currency
        if currency is None:
            return None
        total = Money.zero(currency)
        for entry in self.entries:
            if entry.status is BookingStatus.BOOKED:
                total += entry.signed_amount
        return total

    def check_balance(self) -> None:
        """Raise :class:`StatementBalanceError` unless opening + booked entries = closing.

        The message reports the difference, so a missing or doubled entry shows its size.
        """
        StatementEnd(
            header=self.header,
            balances=self.balances,
            entry_count=len(self.entries),
            booked_net=self.booked_net(),
        ).check_balance()


#: What a streaming parser yields.
StatementItem: TypeAlias = StatementHeader | Balance | Transaction | StatementEnd


class RunningTotal:
    """Counts entries and sums the booked ones as they stream past (for ``StatementEnd``)."""

    __slots__ = ("count", "currency", "net")

    def __init__(self) -> None:
        self.count = 0
        self.net = Decimal(0)
        self.currency: str | None = None

    def add(self, entry: Transaction) -> None:
        self.count += 1
        if self.currency is None:
            self.currency = entry.amount.currency
        if entry.status is BookingStatus.BOOKED:
            amount = entry.amount.amount
            self.net += amount if entry.direction is Direction.CREDIT else -amount

    def money(self, fallback_currency: str | None) -> Money | None:
        currency = self.currency or fallback_currency
        return None if currency is None else Money(self.net, currency)


# --- building entries without re-validation (the MT940 hot path) -------------------------
# attrs' frozen __init__ sets 20 slots through object.__setattr__ and then validates (2 µs). A
# parser whose regex already guarantees an unsigned amount builds the entry as an instance
# of a subclass that adds nothing but plain attribute setting (so CPython stores each slot
# directly), then makes it a Transaction: same slots, same layout, so __class__ may be
# assigned. About 0.3 µs, and the result is an ordinary, frozen Transaction.
_ENTRY_FIELDS: Final = (
    "amount",
    "direction",
    "status",
    "transaction_id",
    "account",
    "booking_date",
    "value_date",
    "end_to_end_id",
    "instruction_id",
    "bank_reference",
    "customer_reference",
    "counterparty_name",
    "counterparty_account",
    "remittance",
    "reversal",
    "batch_id",
    "batch_count",
    "details",
    "charges",
    "original_amount",
    "type_code",
)
_ENTRY_DEFAULTS: Final = {
    "status": BookingStatus.BOOKED,
    "transaction_id": None,
    "account": None,
    "instruction_id": None,
    "batch_id": None,
    "batch_count": None,
    "details": (),
    "charges": None,
    "original_amount": None,
}


class _Unfrozen(Transaction):
    """Only ever seen inside :func:`_entry_unchecked`, before it becomes a Transaction."""

    __slots__ = ()
    __setattr__ = object.__setattr__
    __delattr__ = object.__delattr__


_new_object: Final = object.__new__
_BOOKED: Final = BookingStatus.BOOKED


def _entry_unchecked(
    amount: Money,
    direction: Direction,
    reversal: bool,
    value_date: date | None,
    booking_date: date | None,
    type_code: str | None,
    customer_reference: str | None,
    bank_reference: str | None,
    end_to_end_id: str | None,
    counterparty_name: str | None,
    counterparty_account: str | None,
    remittance: str | None,
) -> Transaction:
    # Any: mypy sees the inherited frozen fields; _Unfrozen's slots are writable.
    entry: Any = _new_object(_Unfrozen)
    entry.amount = amount
    entry.direction = direction
    entry.status = _BOOKED
    entry.transaction_id = None
    entry.account = None
    entry.booking_date = booking_date
    entry.value_date = value_date
    entry.end_to_end_id = end_to_end_id
    entry.instruction_id = None
    entry.bank_reference = bank_reference
    entry.customer_reference = customer_reference
    entry.counterparty_name = counterparty_name
    entry.counterparty_account = counterparty_account
    entry.remittance = remittance
    entry.reversal = reversal
    entry.batch_id = None
    entry.batch_count = None
    entry.details = ()
    entry.charges = None
    entry.original_amount = None
    entry.type_code = type_code
    entry.__class__ = Transaction
    return entry  # type: ignore[no-any-return]


def _entry_checked(
    amount: Money,
    direction: Direction,
    reversal: bool,
    value_date: date | None,
    booking_date: date | None,
    type_code: str | None,
    customer_reference: str | None,
    bank_reference: str | None,
    end_to_end_id: str | None,
    counterparty_name: str | None,
    counterparty_account: str | None,
    remittance: str | None,
) -> Transaction:
    return Transaction(
        amount=amount,
        direction=direction,
        reversal=reversal,
        value_date=value_date,
        booking_date=booking_date,
        type_code=type_code,
        customer_reference=customer_reference,
        bank_reference=bank_reference,
        end_to_end_id=end_to_end_id,
        counterparty_name=counterparty_name,
        counterparty_account=counterparty_account,
        remittance=remittance,
    )


def _fields_unchanged() -> bool:
    fields = attrs.fields(Transaction)
    return tuple(f.name for f in fields) == _ENTRY_FIELDS and all(
        getattr(fields, name).default == default for name, default in _ENTRY_DEFAULTS.items()
    )


#: A booked :class:`Transaction` from values the caller has validated: ``amount`` is a Money
#: that is not negative (the parser's regex has no sign), no charges. Equal to
#: ``Transaction(...)`` with the same keywords. Should the model gain or reorder a field or
#: change a default, this falls back to the validated constructor (correct, only slower);
#: ``benchmarks/bench_statements.py`` checks that the fast one is in use.
unchecked_entry: Final = _entry_unchecked if _fields_unchanged() else _entry_checked


def collect_statements(items: Iterable[StatementItem]) -> Iterator[Statement]:
    """Fold a stream of items into one :class:`Statement` per ``StatementEnd``."""
    entries: list[Transaction] = []
    for item in items:
        if isinstance(item, Transaction):
            entries.append(item)
        elif isinstance(item, StatementEnd):
            yield Statement(header=item.header, balances=item.balances, entries=tuple(entries))
            entries = []
        elif isinstance(item, StatementHeader):
            entries = []
    if entries:
        raise ParseError("entries after the last statement end", position="end")
