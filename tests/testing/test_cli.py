from __future__ import annotations

import argparse
import io
import re
import threading
import time
from pathlib import Path

import pytest
import requests

from walletlink import Client, MemoryJournal, Money, Party, TransferRequest, TransferStatus
from walletlink.testing import MockBank, protocol_servers
from walletlink.testing.cli import DEMO_ACCOUNTS, add_arguments, load_config_file, run
from walletlink.testing.kit import demo_profile


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults() -> None:
    args = parse()
    assert (args.protocol, args.host, args.port, args.seed, args.settle_after) == (
        "generic_rest",
        "127.0.0.1",
        8000,
        None,
        60.0,
    )


def test_serves_prints_credentials_and_stops() -> None:
    out = io.StringIO()
    stop = threading.Event()
    codes: list[int] = []
    args = parse("--port", "0", "--seed", "3", "--settle-after", "1")
    thread = threading.Thread(target=lambda: codes.append(run(args, stop=stop, out=out)))
    thread.start()
    try:
        for _ in range(200):  # the server starts in well under a second
            if "Ctrl-C" in out.getvalue():
                break
            time.sleep(0.01)
        text = out.getvalue()
        url = re.search(r"at (http://127\.0\.0\.1:\d+)", text)
        key = re.search(r"api key:\s+(\S+)", text)
        assert url is not None
        assert key is not None
        with requests.Session() as session:
            response = session.get(
                f"{url[1]}/v1/accounts/{DEMO_ACCOUNTS[0][0]}/balances",
                headers={"Authorization": f"Bearer {key[1]}"},
                timeout=5,
            )
        assert response.json()["data"][0]["amount"] == "10000.00"
    finally:
        stop.set()
        thread.join(timeout=5)
    assert codes == [0]
    assert "whsec_" in text


def test_seed_fixes_the_keys() -> None:
    outputs = []
    for _ in range(2):
        out, stop = io.StringIO(), threading.Event()
        stop.set()  # serve, print, and stop at once
        run(parse("--port", "0", "--seed", "9"), stop=stop, out=out)
        outputs.append(re.findall(r"(?:api key|webhook secret):\s+(\S+)", out.getvalue()))
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) == 2


def test_refuses_a_non_loopback_host() -> None:
    assert run(parse("--host", "0.0.0.0"), out=io.StringIO()) == 2  # noqa: S104


def serve_briefly(*argv: str) -> str:
    """Start the server, let it print, stop it; returns what it printed."""
    out, stop = io.StringIO(), threading.Event()
    stop.set()  # serve, print, and stop at once
    assert run(parse("--port", "0", *argv), stop=stop, out=out) == 0
    return out.getvalue()


@pytest.mark.parametrize("protocol", protocol_servers())
def test_prints_the_protocols_own_credentials(protocol: str) -> None:
    text = serve_briefly("--protocol", protocol)
    config = MockBank(protocol).config()
    # Values drawn at random per bank (API keys, SM4 keys) differ from this bank's own.
    fixed = MockBank(protocol).config().credentials
    for name, value in config.credentials.items():
        if name != "webhook_secrets":
            assert f"{name.replace('_', ' ')}:" in text
        if isinstance(value, str) and "BEGIN" not in value and fixed.get(name) == value:
            assert value in text
    for name, value in config.options.items():
        assert re.search(rf"option {name}: +{re.escape(str(value))}\n", text), name
    assert "PRIVATE KEY" not in text


@pytest.mark.parametrize("protocol", protocol_servers())
def test_config_out_gives_a_client_that_pays(protocol: str, tmp_path: Path) -> None:
    """--config-out writes what served.config() holds; a client built from the file alone
    pays from the first demo account to the second."""
    out, stop, codes = io.StringIO(), threading.Event(), []
    target = tmp_path / "bank.json"
    args = parse("--port", "0", "--protocol", protocol, "--config-out", str(target))
    thread = threading.Thread(target=lambda: codes.append(run(args, stop=stop, out=out)))
    thread.start()
    try:
        for _ in range(500):  # the server starts in well under a second
            if "Ctrl-C" in out.getvalue():
                break
            time.sleep(0.01)
        config = load_config_file(target)
        assert f"config:         {target}" in out.getvalue()
        assert config.base_url in out.getvalue()
        currency, debtor, creditor, _ = demo_profile(protocol)
        request = TransferRequest(
            amount=Money("10.00", currency),
            debtor_account=debtor,
            creditor=Party(name="Bob Example", account=creditor),
            remittance="cli",
        )
        with Client([config], journal=MemoryJournal()) as client:
            transfer = client.transfer(config.bank_id, request)
        assert transfer.status in set(TransferStatus) - {TransferStatus.UNKNOWN}
    finally:
        stop.set()
        thread.join(timeout=5)
    assert codes == [0]
    pems = sorted(path.name for path in tmp_path.glob("*.pem"))
    keys = [
        name
        for name, value in MockBank(protocol).config().credentials.items()
        if not isinstance(value, str | list) or "BEGIN" in value
    ]
    assert pems == sorted(f"bank.{name}.pem" for name in keys)
    assert {oct(path.stat().st_mode & 0o777) for path in tmp_path.iterdir()} == {"0o600"}
