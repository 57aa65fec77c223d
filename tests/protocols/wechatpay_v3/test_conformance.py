"""The wechatpay_v3 adapter against its mock platform, in each platform-key mode."""

from __future__ import annotations

from typing import ClassVar

from walletlink.accounts import AccountId, LocalAccount
from walletlink.client import Client
from walletlink.models import Party, Transfer, TransferRequest
from walletlink.money import Money
from walletlink.protocols.wechatpay_v3.mock import DEFAULT_MCHID
from walletlink.testing.clock import FakeClock
from walletlink.testing.conformance import AdapterConformance
from walletlink.testing.faults import FaultPlan
from walletlink.testing.kit import approve
from walletlink.testing.ledger import TransferInstruction
from walletlink.testing.mockbank import MockBank

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


class TestWeChatPayCertificateMode(AdapterConformance):
    protocol = "wechatpay_v3"
    currency = "CNY"
    payment_path = "/transfer-bills"
    request_id_header = "Request-ID"
    mode: ClassVar[str] = "certificate"
    user_confirm: ClassVar[bool] = False

    def make_bank(self, clock: FakeClock, faults: FaultPlan) -> MockBank:
        return MockBank(
            self.protocol,
            clock=clock,
            faults=faults,
            settle_after=self.settle_after,
            mode=self.mode,
            user_confirm=self.user_confirm,
        )

    def accounts(self, bank: MockBank) -> tuple[AccountId, Party]:
        """The merchant's operating balance pays; the user is an openid."""
        merchant = bank.open_account(LocalAccount(DEFAULT_MCHID), Money("1000.00", "CNY"))
        user = bank.open_account(LocalAccount(OPENID, scheme="wechat_openid"), Money("0", "CNY"))
        return merchant, Party(name="Li Lei", account=user)

    def poor_account(self, bank: MockBank) -> AccountId:
        """One merchant pays every bill, so "poor" is the merchant with most of its balance
        held by an earlier bill still in flight."""
        merchant, party = self._accounts(bank)
        bank.ledger.submit(
            TransferInstruction(
                amount=Money("999.00", "CNY"),
                debtor_account=merchant,
                creditor_name="hold",
                creditor_account=party.account,
                end_to_end_id="hold",
            ),
            bank.clock.now(),
        )
        return merchant

    def refused_requests(self, bank: MockBank) -> list[TransferRequest]:
        base = self._request(bank)
        merchant, party = self._accounts(bank)
        return [
            TransferRequest(amount=Money("1.00", "EUR"), debtor_account=merchant, creditor=party),
            # From 2,000 CNY the name travels RSA-OAEP encrypted: this one does not fit.
            TransferRequest(
                amount=Money("2000.00", "CNY"),
                debtor_account=merchant,
                creditor=Party(name="李" * 140, account=party.account),
            ),
            TransferRequest(
                amount=base.amount,
                debtor_account=LocalAccount("1900000000"),
                creditor=party,
            ),
            TransferRequest(
                amount=base.amount,
                debtor_account=merchant,
                creditor=party,
                idempotency_key="key_with_underscores",
            ),
            TransferRequest(
                amount=base.amount,
                debtor_account=merchant,
                creditor=Party(name="x", account=LocalAccount("open id!")),
            ),
        ]


class TestWeChatPayPublicKeyMode(TestWeChatPayCertificateMode):
    mode = "public_key"


class TestWeChatPayMigrating(TestWeChatPayCertificateMode):
    mode = "migrating"


class TestWeChatPayUserConfirm(TestWeChatPayCertificateMode):
    """Every bill waits for the user (WAIT_USER_CONFIRM) until the kit confirms it."""

    user_confirm = True

    def complete_action(self, bank: MockBank, client: Client, transfer: Transfer) -> Transfer:
        return approve(bank, client, transfer)
