"""The test kit behind the pytest plugin: per-protocol demo accounts, the person who
approves SCA, a webhook inbox, and the conformance suite in one line.

These work without the plugin too (build a :class:`MockBank` and call them); the plugin
(:mod:`walletlink.testing.pytest_plugin`) only wires them into fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from walletlink.accounts import AccountId, Iban, LocalAccount, SortCodeAccount
from walletlink.models import Party, Transfer, TransferStatus
from walletlink.money import Money
from walletlink.testing.mockbank import MockBank

if TYPE_CHECKING:
    from walletlink.client import Client

__all__ = [
    "DemoAccounts",
    "WebhookInbox",
    "approve",
    "conformance_suite",
    "demo_profile",
    "open_demo_accounts",
]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class DemoAccounts:
    """Accounts opened at a mock bank: a funded debtor, a creditor and a nearly empty one."""

    currency: str
    debtor: AccountId
    creditor: Party
    poor: AccountId

    def money(self, amount: str) -> Money:
        """``amount`` in the accounts' currency."""
        return Money(amount, self.currency)


#: The WeChat Pay mock's merchant id (its DEFAULT_MCHID), spelled here so that importing the
#: kit does not import that protocol.
WECHATPAY_MCHID = "1900009191"

# What each built-in protocol's accounts look like: the currency and the account schemes
# its mock bank accepts (sort codes in the UK, Alipay user ids on the Chinese gateway).
_PROFILES: dict[str, tuple[str, AccountId, AccountId, AccountId]] = {
    "openbanking_uk": (
        "GBP",
        SortCodeAccount("200000", "55555555"),
        SortCodeAccount("400400", "12345678"),
        SortCodeAccount("200000", "11111111"),
    ),
    "cn_openapi": (
        "CNY",
        LocalAccount("2088101117955611"),
        LocalAccount("2088102177958114"),
        LocalAccount("2088103300000009"),
    ),
    # WeChat Pay pays from the merchant's own balance (the mchid) to a user's openid.
    "wechatpay_v3": (
        "CNY",
        LocalAccount(WECHATPAY_MCHID),
        LocalAccount("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", scheme="wechat_openid"),
        LocalAccount("oUpF8uPoorUserOpenId0000000", scheme="wechat_openid"),
    ),
    # Chinese bank account numbers (8 to 32 digits).
    "cn_bank_sm": (
        "CNY",
        LocalAccount("6222021234567890123"),
        LocalAccount("6217001234567890"),
        LocalAccount("6222029999999999"),
    ),
}
_SEPA = (
    "EUR",
    Iban("DE89370400440532013000"),
    Iban("GB33BUKB20201555555555"),
    Iban("DE02120300000000202051"),
)


def demo_profile(protocol: str) -> tuple[str, AccountId, AccountId, AccountId]:
    """(currency, debtor, creditor, poor account) of the demo accounts for ``protocol``:
    sort codes in GBP for openbanking_uk; CNY for the Chinese protocols (Alipay ids, the
    WeChat Pay merchant and an openid, bank account numbers); else IBANs in EUR."""
    return _PROFILES.get(protocol, _SEPA)


def open_demo_accounts(bank: MockBank, balance: str = "1000.00") -> DemoAccounts:
    """Open the debtor (``balance``), the creditor (0) and the poor account (1.00) of
    :func:`demo_profile` at ``bank``."""
    currency, debtor, creditor, poor = demo_profile(bank.protocol)
    bank.open_account(debtor, Money(balance, currency), name="Wallet Ltd")
    bank.open_account(creditor, Money("0.00", currency), name="Ada Lovelace")
    bank.open_account(poor, Money("1.00", currency), name="Poor")
    return DemoAccounts(
        currency=currency,
        debtor=debtor,
        creditor=Party(name="Ada Lovelace", account=creditor),
        poor=poor,
    )


def approve(bank: MockBank, client: Client, transfer: Transfer) -> Transfer:
    """Play the person: approve a ``REQUIRES_ACTION`` transfer at the mock bank (SCA), then
    look it up again. Transfers in any other status come back unchanged."""
    if transfer.status is not TransferStatus.REQUIRES_ACTION or transfer.next_action is None:
        return transfer
    data = transfer.next_action.data
    server: Any = bank.server
    if "consent_id" in data and callable(getattr(server, "authorise", None)):
        server.authorise(data["consent_id"])
    elif "payment_id" in data and callable(getattr(server, "approve_payment", None)):
        server.approve_payment(data["payment_id"])
    elif "package_info" in data and callable(getattr(server, "confirm_receipt", None)):
        server.confirm_receipt(data["package_info"])  # the user confirms in WeChat
    else:
        raise LookupError(f"the {bank.protocol} mock bank has no approval step for {data}")
    return client.get_transfer(transfer.id)


class WebhookInbox:
    """Catches the signed webhooks a mock bank sends, to deliver them into your handler.

    Give it to the bank as its ``webhook_target`` (the plugin does); each webhook is the
    bank's real notification, headers and bytes as they would arrive over HTTP.
    """

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self._delivered = 0

    def __call__(self, headers: Mapping[str, str], body: bytes) -> None:
        self.received.append((dict(headers), body))

    def pending(self) -> list[tuple[dict[str, str], bytes]]:
        """The webhooks not yet delivered to a handler, oldest first."""
        return self.received[self._delivered :]

    def deliver(self, handler: Callable[[Mapping[str, str], bytes], T]) -> list[T]:
        """Call ``handler(headers, body)`` for each pending webhook, in order; returns what
        it returned. A webhook whose handler raises stays pending."""
        results: list[T] = []
        for headers, body in self.pending():
            results.append(handler(headers, body))
            self._delivered += 1
        return results


def conformance_suite(protocol: str, **attributes: Any) -> type:
    """The conformance suite for ``protocol`` as a test class, in one line::

        TestAcmeConformance = conformance_suite("acme", payment_path="/v2/payments")

    ``attributes`` set the suite's class attributes and hooks (``currency``,
    ``payment_path``, ``request_id_header``, ``make_bank``, ``accounts``, ...). Unless
    given, the accounts are the protocol's demo accounts and SCA is approved with
    :func:`approve`.
    """
    from walletlink.testing.conformance import AdapterConformance

    def accounts(self: AdapterConformance, bank: MockBank) -> tuple[AccountId, Party]:
        opened = open_demo_accounts(bank)
        return opened.debtor, opened.creditor

    def poor_account(self: AdapterConformance, bank: MockBank) -> AccountId:
        self._accounts(bank)  # the demo accounts open together, the poor one among them
        return demo_profile(bank.protocol)[3]

    def complete_action(
        self: AdapterConformance, bank: MockBank, client: Client, transfer: Transfer
    ) -> Transfer:
        return approve(bank, client, transfer)

    namespace: dict[str, Any] = {
        "protocol": protocol,
        "currency": demo_profile(protocol)[0],
        "accounts": accounts,
        "poor_account": poor_account,
        "complete_action": complete_action,
    }
    namespace.update(attributes)
    name = "Test" + "".join(part.title() for part in protocol.split("_")) + "Conformance"
    return type(name, (AdapterConformance,), namespace)
