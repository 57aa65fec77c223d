"""A wallet's payout tests, written against walletlink's pytest plugin (docs/testing.md)."""

import pytest

from walletlink import TransferRequest, TransferStatus, UnknownOutcomeError
from walletlink.testing import FaultKind, FaultPlan


def payout(accounts, amount, payout_id, debtor=None):
    """What the wallet builds for one payout (your code would do this)."""
    return TransferRequest(
        amount=accounts.money(amount),
        debtor_account=debtor or accounts.debtor,
        creditor=accounts.creditor,
        remittance=f"Payout {payout_id}",
        payout_id=payout_id,
    )


PROTOCOLS = ["generic_rest", "openbanking_uk", "berlin_group", "iso20022_h2h", "cn_openapi"]


@pytest.mark.parametrize("walletlink_protocol", PROTOCOLS, indirect=True)
def test_a_payout_settles(
    walletlink_client, walletlink_bank, walletlink_accounts, walletlink_approve
):
    transfer = walletlink_client.transfer("mockbank", payout(walletlink_accounts, "25.00", "p-1"))
    transfer = walletlink_approve(transfer)  # SCA protocols: the person approves at the bank
    walletlink_bank.advance(61)  # the bank settles a minute later
    settled = walletlink_client.get_transfer(transfer.id)
    assert settled.status == TransferStatus.SETTLED
    assert walletlink_accounts.money("975.00") == walletlink_bank.balance(
        walletlink_accounts.debtor
    )


def test_a_rejection_is_a_value(walletlink_client, walletlink_bank, walletlink_accounts):
    # 500.00 from the account holding 1.00
    request = payout(walletlink_accounts, "500.00", "p-2", debtor=walletlink_accounts.poor)
    transfer = walletlink_client.transfer("mockbank", request)
    walletlink_bank.advance(61)
    rejected = walletlink_client.get_transfer(transfer.id)
    assert rejected.status == TransferStatus.REJECTED
    assert rejected.reason.code.value == "insufficient_funds"


def test_an_unknown_outcome_is_resolved_not_resent(
    walletlink_client, walletlink_bank, walletlink_accounts
):
    request = payout(walletlink_accounts, "25.00", "p-3")
    # The bank executes the payment, then the reply is lost.
    walletlink_bank.set_faults(
        FaultPlan.of(FaultKind.DROP_RESPONSE_AFTER_COMMIT, only_methods={"POST"})
    )
    with pytest.raises(UnknownOutcomeError):
        walletlink_client.transfer("mockbank", request)
    walletlink_bank.set_faults(FaultPlan.none())
    resolved = walletlink_client.resolve_unknown("mockbank")
    assert [request.idempotency_key] == [transfer.idempotency_key for transfer in resolved]
    assert walletlink_bank.duplicates_at_bank == 0


def test_the_banks_webhook_reaches_our_handler(
    walletlink_client, walletlink_bank, walletlink_accounts, walletlink_webhooks
):
    seen = []

    def on_bank_webhook(headers, body):  # your web framework's view would call this
        event = walletlink_client.handle_notification("mockbank", headers, body)
        seen.append(event.status)
        return 200

    walletlink_client.transfer("mockbank", payout(walletlink_accounts, "25.00", "p-4"))
    walletlink_bank.advance(61)  # the bank signs and sends its webhooks
    assert walletlink_webhooks.deliver(on_bank_webhook) == [200, 200]
    assert seen == [TransferStatus.PROCESSING, TransferStatus.SETTLED]
