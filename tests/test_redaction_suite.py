"""Everything walletlink logs at DEBUG, across every protocol, holds no secret and no full
account number: the demo (generic_rest, ISO 20022 host-to-host, CN open-API gateway) and the
Open Banking and Berlin Group examples run here with the ``walletlink`` logger at DEBUG."""

from __future__ import annotations

import importlib.util
import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest

from tests.protocols.berlin_group import test_adapter as bg
from tests.protocols.cn_bank_sm import test_adapter as cn_sm
from tests.protocols.cn_openapi import test_adapter as cn
from tests.protocols.iso20022_h2h import test_mock as h2h
from tests.protocols.openbanking_uk import test_adapter as ob
from walletlink import Client
from walletlink._demo import _SCENARIOS, _accounts, simulate
from walletlink.accounts import AccountId, LocalAccount, SortCodeAccount
from walletlink.journal import MemoryJournal
from walletlink.models import Capability
from walletlink.money import Money
from walletlink.testing import FakeClock, FaultPlan
from walletlink.testing.conformance import AdapterConformance

EXAMPLES = Path(__file__).parent.parent / "examples"
IBAN = re.compile(r"\b[A-Z]{2}\d{2}[A-Z0-9]{11,30}\b")
SECRET_MARKERS = ("sk_test_", "whsec_", "whsk_", "PRIVATE KEY", "Bearer ey", "Bearer sk")


def assert_clean(text: str) -> None:
    assert text, "nothing was logged: the test would prove nothing"
    assert IBAN.findall(text) == []
    for marker in SECRET_MARKERS:
        assert marker not in text


def test_demo_logs_at_debug_hold_no_secret(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    with caplog.at_level(logging.DEBUG, logger="walletlink"):
        simulate(transfers=30, seed=4, journal_path=tmp_path / "j.sqlite3")
    assert_clean(caplog.text)
    for scenario in _SCENARIOS:
        for entry in _accounts(scenario):
            assert entry.account.value not in caplog.text


@pytest.mark.parametrize("name", ["openbanking_uk_payment", "berlin_group_payment"])
def test_open_banking_examples_log_no_secret(
    name: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with caplog.at_level(logging.DEBUG, logger="walletlink"):
        module.main()
    capsys.readouterr()
    assert_clean(caplog.text)


# -- account information, by what the adapter knows is an account ----------------------------


class _GenericRestSuite(AdapterConformance):
    protocol = "generic_rest"


#: Per protocol: the conformance suite (its mock bank and config) and short local account
#: numbers no pattern recognises: an 8-digit UK account number, a CN card number and user id.
_AIS_CASES: dict[str, tuple[type[AdapterConformance], tuple[AccountId, ...]]] = {
    "generic_rest": (_GenericRestSuite, (LocalAccount("31926819"),)),
    "iso20022_h2h": (h2h.TestIso20022H2HConformance, (LocalAccount("31926819", scheme="bban"),)),
    "berlin_group": (bg.TestBerlinGroupConformance, (LocalAccount("31926819", scheme="bban"),)),
    "openbanking_uk": (ob.TestUkOpenBankingConformance, (SortCodeAccount("401276", "31926819"),)),
    "cn_bank_sm": (cn_sm.TestCnBankSmConformance, (LocalAccount("62220212345678"),)),
    "cn_openapi": (
        cn.TestCnOpenApiConformance,
        (LocalAccount("6222021234567890123"), LocalAccount("20881011")),
    ),
}


#: Protocols that put the account number itself in the URL (the others use the bank's
#: resource id for the account, or a POST body).
_NUMBER_IN_URL = frozenset({"generic_rest", "iso20022_h2h"})


@pytest.mark.parametrize("protocol", sorted(_AIS_CASES))
def test_account_information_logs_hold_no_full_account_number(
    protocol: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Balances, every transactions page and statements, logged at DEBUG: the account
    numbers in paths and queries show their last four only, however short they are."""
    suite_class, accounts = _AIS_CASES[protocol]
    suite = suite_class()
    suite.files = tmp_path  # type: ignore[attr-defined]  # Berlin Group's QWAC files
    clock = FakeClock()
    bank = suite.make_bank(clock, FaultPlan.none())
    client = Client([suite.make_config(bank)], journal=MemoryJournal(), clock=clock.now)
    bank.mount(client.session)
    today = clock.now().date()
    try:
        with caplog.at_level(logging.DEBUG, logger="walletlink"):
            for account in accounts:
                bank.open_account(account, Money("100.00", suite.currency), name="Wallet")
                assert client.balances(bank.bank_id, account)
                list(client.transactions(bank.bank_id, account, today, today + timedelta(days=2)))
                if Capability.STATEMENTS in client.adapter(bank.bank_id).capabilities:
                    assert client.statement(bank.bank_id, account, today)
    finally:
        client.close()
        bank.close()
    assert_clean(caplog.text)
    for account in accounts:
        number = account.account_number if isinstance(account, SortCodeAccount) else account.value
        assert number not in caplog.text
        if protocol in _NUMBER_IN_URL:
            assert "…" + number[-4:] in caplog.text  # the URL was logged, masked
