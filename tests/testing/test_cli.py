from __future__ import annotations

import argparse
import io
import re
import threading
import time

import requests

from walletlink.testing.cli import DEMO_ACCOUNTS, add_arguments, run


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
