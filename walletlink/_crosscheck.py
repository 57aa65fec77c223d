"""Cross-checking what a bank says about a transfer against the journalled intent.

A reply is trusted only when it is about *this* transfer: the same idempotency key,
end-to-end id, amount and currency, a positive amount, and the same accounts where the reply
names them. Anything else — a bank that mixed two payments up, a proxy that served another
customer's reply, a status report for another file — is a :class:`ProtocolError` naming the
field that disagrees. The message never carries either value: an account number or another
customer's reference must not reach a log line.

The client checks every :class:`Transfer` and :class:`Event` an adapter hands back before it
touches the journal (:func:`check_transfer`, :func:`check_event`). Adapters call
:func:`check_echo` for what a reply holds but a ``Transfer`` cannot carry (the accounts, the
bank's echo of an amount the adapter does not copy), so every comparison lives here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from walletlink.accounts import AccountId
from walletlink.errors import ProtocolError
from walletlink.models import Event, Transfer, TransferRequest
from walletlink.money import Money

__all__ = ["check_echo", "check_event", "check_moment", "check_transfer", "disagreement"]


def disagreement(what: str, where: str, bank_id: str | None) -> ProtocolError:
    """The error for a reply that disagrees with the journal on ``what`` (a field name)."""
    return ProtocolError(
        f"the bank's {where} disagrees with the journalled transfer on {what}", bank_id=bank_id
    )


def check_moment(moment: datetime | None, what: str, *, bank_id: str | None = None) -> None:
    """A bank timestamp walletlink can store: an aware one must convert to UTC.

    ``9999-12-31T23:59:59-23:59`` parses, but lies past ``datetime.max`` in UTC, so storing
    it would raise ``OverflowError`` deep in the journal.
    """
    if moment is None or moment.tzinfo is None:
        return
    try:
        moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ProtocolError(f"the bank's {what} is out of range", bank_id=bank_id) from None


def _account_chars(value: str) -> str:
    return "".join(ch for ch in value if ch not in " -").upper()


def _same_account(echoed: str, account: AccountId) -> bool:
    # Banks print IBANs in groups of four and sort codes with dashes; compare the characters
    # of both sides, since a local account number may itself be written with dashes.
    return _account_chars(echoed) == _account_chars(account.value)


def _check_amount(amount: Money, expected: Money, where: str, bank_id: str | None) -> None:
    if amount.currency != expected.currency:
        raise disagreement("currency", where, bank_id)
    if not amount.is_positive():
        # A transfer's amount is positive; a negative echo is the other side of the booking.
        raise disagreement("direction (amount sign)", where, bank_id)
    if amount != expected:
        raise disagreement("amount", where, bank_id)


def check_echo(
    request: TransferRequest,
    *,
    where: str = "reply",
    bank_id: str | None = None,
    idempotency_key: str | None = None,
    end_to_end_id: str | None = None,
    amount: Money | None = None,
    debtor_account: str | None = None,
    creditor_account: str | None = None,
) -> None:
    """Check what a reply echoes of ``request``; ``None`` means the reply does not say."""
    if idempotency_key is not None and idempotency_key != request.idempotency_key:
        raise disagreement("idempotency key", where, bank_id)
    if end_to_end_id is not None and end_to_end_id != request.end_to_end_id:
        raise disagreement("end-to-end id", where, bank_id)
    if amount is not None:
        _check_amount(amount, request.amount, where, bank_id)
    if debtor_account is not None and not _same_account(debtor_account, request.debtor_account):
        raise disagreement("debtor account", where, bank_id)
    if creditor_account is not None and not _same_account(
        creditor_account, request.creditor.account
    ):
        raise disagreement("creditor account", where, bank_id)


def check_transfer(
    reply: Transfer, request: TransferRequest, *, transfer_id: str, bank_id: str
) -> None:
    """The adapter's view of a bank reply is about the journalled transfer, or an error."""
    where = "reply"
    if reply.bank_id != bank_id:
        raise disagreement("bank", where, bank_id)
    if reply.id != transfer_id:
        raise disagreement("transfer id", where, bank_id)
    check_echo(
        request,
        where=where,
        bank_id=bank_id,
        idempotency_key=reply.idempotency_key,
        end_to_end_id=reply.end_to_end_id,
        amount=reply.amount,
    )
    check_moment(reply.created_at, "created_at", bank_id=bank_id)
    check_moment(reply.updated_at, "updated_at", bank_id=bank_id)


def check_event(event: Event, request: TransferRequest, *, bank_id: str) -> None:
    """A notification about the journalled transfer says nothing that contradicts it."""
    check_echo(
        request,
        where="notification",
        bank_id=bank_id,
        idempotency_key=event.idempotency_key,
        end_to_end_id=event.end_to_end_id,
        amount=event.amount,
    )
    check_moment(event.occurred_at, "notification time", bank_id=bank_id)
