"""``walletlink mockbank serve``: a mock bank on loopback, for trying a client by hand.

The bank's clock follows real time here (it is advanced every 200 ms), so transfers settle
``--settle-after`` real seconds after they are created. ``--seed`` makes the API key, the
webhook secret and the fault sequence the same on every start.
"""

from __future__ import annotations

import argparse
import base64
import random
import sys
import threading
import time
from datetime import UTC, datetime
from typing import TextIO

from walletlink.testing.clock import FakeClock
from walletlink.testing.faults import FaultPlan
from walletlink.testing.mockbank import MockBank, protocol_servers

__all__ = ["DEMO_ACCOUNTS", "add_arguments", "run"]

#: Accounts every served bank opens, so that a client has something to pay from and to.
DEMO_ACCOUNTS = (
    ("DE89370400440532013000", "10000.00", "Wallet operating account"),
    ("GB33BUKB20201555555555", "0.00", "Bob Example"),
    ("FR1420041010050500013M02606", "0.00", "Claire Exemple"),
)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_TICK = 0.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` options to ``parser``."""
    parser.add_argument("--protocol", default="generic_rest", choices=protocol_servers())
    parser.add_argument("--host", default="127.0.0.1", help="loopback only (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument(
        "--seed", type=int, default=None, help="fixed keys and fault sequence from this seed"
    )
    parser.add_argument("--settle-after", type=float, default=60.0, metavar="SECONDS")
    parser.add_argument("--processing-after", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--webhook-url", default=None, help="POST signed webhooks here")
    parser.add_argument("--bank-id", default="mockbank")


def _seeded_secrets(seed: int) -> tuple[str, str]:
    # Not secret at all, by design: a seeded test bank hands out the same keys every run.
    rng = random.Random(f"walletlink-mockbank:{seed}")
    api_key = "sk_test_" + rng.randbytes(18).hex()
    webhook_secret = "whsec_" + base64.b64encode(rng.randbytes(32)).decode()
    return api_key, webhook_secret


def run(
    args: argparse.Namespace,
    *,
    stop: threading.Event | None = None,
    out: TextIO | None = None,
) -> int:
    """Serve until Ctrl-C (or until ``stop`` is set, for tests); returns the exit status."""
    out = out or sys.stdout
    if args.host not in _LOOPBACK:
        # The mock speaks plain HTTP with a printed API key: never on a real interface.
        print(f"error: --host must be a loopback address, not {args.host!r}", file=sys.stderr)
        return 2
    api_key, webhook_secret = _seeded_secrets(args.seed) if args.seed is not None else (None, None)
    clock = FakeClock(datetime.now(UTC))
    bank = MockBank(
        args.protocol,
        bank_id=args.bank_id,
        clock=clock,
        faults=FaultPlan(seed=args.seed or 0),
        api_key=api_key,
        webhook_secret=webhook_secret,
        webhook_target=args.webhook_url,
        processing_after=args.processing_after,
        settle_after=args.settle_after,
    )
    for iban, balance, name in DEMO_ACCOUNTS:
        bank.open_account(iban, balance, "EUR", name=name)
    stop = stop or threading.Event()
    with bank.serve(args.host, args.port) as served:
        print(f"mock bank {bank.bank_id!r} ({bank.protocol}) at {served.url}", file=out)
        print(f"api key:        {bank.api_key}", file=out)
        print(f"webhook secret: {bank.webhook_secret}", file=out)
        for iban, balance, name in DEMO_ACCOUNTS:
            print(f"account:        {iban}  {balance} EUR  {name}", file=out)
        print("Ctrl-C to stop", file=out, flush=True)
        last = time.monotonic()
        try:
            while not stop.wait(_TICK):
                now = time.monotonic()
                bank.advance(now - last)
                last = now
        except KeyboardInterrupt:
            pass
    return 0
