"""The test kit and its pytest plugin: markers, entry point, lazy imports, the one-line
conformance suite, the webhook inbox."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from importlib.metadata import entry_points

import pytest

from walletlink.testing import MockBank
from walletlink.testing.kit import WebhookInbox, conformance_suite, open_demo_accounts

pytest_plugins = ["pytester"]

# The UK suite needs SCA and sort codes: the kit's profile and approve() supply both.
TestUkOpenBankingInOneLine = conformance_suite(
    "openbanking_uk",
    payment_path="/domestic-payment-consents",
    request_id_header="x-fapi-interaction-id",
)


def test_the_plugin_is_a_pytest11_entry_point() -> None:
    plugins = {entry.name: entry.value for entry in entry_points(group="pytest11")}
    assert plugins.get("walletlink") == "walletlink.testing.pytest_plugin"


def test_loading_the_plugin_imports_nothing_else_of_walletlink() -> None:
    """pytest loads the plugin in every session: it must not pull in the client, requests
    or cryptography for projects whose tests never ask for a fixture."""
    code = (
        "import sys, walletlink.testing.pytest_plugin\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('walletlink', 'requests', 'cryptography')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == str(
        ["walletlink", "walletlink.testing", "walletlink.testing.pytest_plugin"]
    )


def test_markers_choose_the_protocol_and_the_fault_plan(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_default(walletlink_bank, walletlink_faults):
            assert walletlink_bank.protocol == "generic_rest"
            assert walletlink_faults.unavailable == 0

        @pytest.mark.walletlink_protocol("cn_openapi")
        @pytest.mark.walletlink_faults(seed=7, unavailable=0.25)
        def test_marked(walletlink_bank, walletlink_accounts):
            assert walletlink_bank.protocol == "cn_openapi"
            assert walletlink_bank.faults.seed == 7
            assert walletlink_bank.faults.unavailable == 0.25
            assert walletlink_accounts.currency == "CNY"
        """
    )
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_the_conformance_suite_runs_from_a_third_partys_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from walletlink.testing.kit import conformance_suite

        TestAcmeConformance = conformance_suite(
            "generic_rest", payment_path="/v1/transfers", request_id_header="Request-Id"
        )
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert (outcomes.get("failed", 0), outcomes.get("errors", 0)) == (0, 0)
    assert outcomes["passed"] >= 10


def test_the_inbox_keeps_a_webhook_whose_handler_raised() -> None:
    inbox = WebhookInbox()
    inbox({"webhook-id": "evt_1"}, b"{}")
    inbox({"webhook-id": "evt_2"}, b"{}")
    calls: list[str] = []

    def fails_on_the_second(headers: Mapping[str, str], body: bytes) -> str:
        calls.append(headers["webhook-id"])
        if headers["webhook-id"] == "evt_2":
            raise RuntimeError("our database is down")
        return headers["webhook-id"]

    with pytest.raises(RuntimeError):
        inbox.deliver(fails_on_the_second)
    assert [headers["webhook-id"] for headers, _ in inbox.pending()] == ["evt_2"]
    assert inbox.deliver(lambda headers, body: headers["webhook-id"]) == ["evt_2"]
    assert (calls, inbox.pending()) == (["evt_1", "evt_2"], [])


@pytest.mark.parametrize(
    ("protocol", "currency"),
    [("generic_rest", "EUR"), ("openbanking_uk", "GBP"), ("cn_openapi", "CNY")],
)
def test_demo_accounts_are_open_and_funded(protocol: str, currency: str) -> None:
    with MockBank(protocol) as bank:
        accounts = open_demo_accounts(bank, balance="50.00")
        assert (accounts.currency, bank.balance(accounts.debtor)) == (
            currency,
            accounts.money("50.00"),
        )
        assert bank.balance(accounts.creditor.account) == accounts.money("0")
        assert bank.balance(accounts.poor) == accounts.money("1.00")


def test_the_kits_wechat_merchant_is_the_mocks() -> None:
    from walletlink.protocols.wechatpay_v3.mock import DEFAULT_MCHID
    from walletlink.testing.kit import WECHATPAY_MCHID

    assert DEFAULT_MCHID == WECHATPAY_MCHID
