"""The cn_openapi adapter: signing, raw-substring verification, mapping tables, notifications,
and the shared conformance suite against its mock gateway."""

from __future__ import annotations

from walletlink.accounts import AccountId, LocalAccount
from walletlink.models import Party
from walletlink.money import Money
from walletlink.testing.conformance import AdapterConformance
from walletlink.testing.mockbank import MockBank

PAYER = "2088101117955611"
PAYEE = "2088102177958114"
POOR = "2088103300000009"


class TestCnOpenApiConformance(AdapterConformance):
    protocol = "cn_openapi"
    currency = "CNY"

    def accounts(self, bank: MockBank) -> tuple[AccountId, Party]:
        debtor = bank.open_account(LocalAccount(PAYER), Money("1000.00", "CNY"))
        creditor = bank.open_account(LocalAccount(PAYEE), Money("0.00", "CNY"))
        return debtor, Party(name="Li Lei", account=creditor)

    def poor_account(self, bank: MockBank) -> AccountId:
        return bank.open_account(LocalAccount(POOR), Money("1.00", "CNY"))
