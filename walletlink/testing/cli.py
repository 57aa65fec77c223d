"""``walletlink mockbank serve``: a mock bank on loopback, for trying a client by hand.

The bank's clock follows real time here (it is advanced every 200 ms), so transfers settle
``--settle-after`` real seconds after they are created. ``--seed`` makes the API key, the
webhook secret and the fault sequence the same on every start.

What a client needs is what ``served.config()`` holds, and it differs by protocol (an API
key; a client id and signing keys; a QSealC; an app key pair). The command prints every
text credential and option; ``--config-out FILE`` writes the whole :class:`BankConfig` as
JSON, with each key written beside it as a PEM file, and :func:`load_config_file` reads
it back.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import attrs

from walletlink.accounts import AccountId, SortCodeAccount
from walletlink.config import BankConfig, Timeout
from walletlink.errors import ConfigurationError
from walletlink.signing.keys import SigningKey, load_pem
from walletlink.testing.clock import FakeClock
from walletlink.testing.faults import FaultPlan
from walletlink.testing.kit import demo_profile
from walletlink.testing.mockbank import MockBank, protocol_servers

__all__ = ["DEMO_ACCOUNTS", "add_arguments", "load_config_file", "run", "write_config_file"]

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
    parser.add_argument(
        "--config-out",
        default=None,
        metavar="FILE",
        help="write the client's BankConfig here as JSON (keys as PEM files beside it)",
    )


def _demo_accounts(protocol: str) -> list[tuple[AccountId | str, str, str, str]]:
    """The accounts to open: IBANs in EUR, or the protocol's own kind (sort codes in GBP
    for openbanking_uk, Alipay user ids in CNY for cn_openapi)."""
    currency, debtor, creditor, _ = demo_profile(protocol)
    if currency == "EUR":
        return [(iban, balance, "EUR", name) for iban, balance, name in DEMO_ACCOUNTS]
    (_, funds, payer), (_, _, payee) = DEMO_ACCOUNTS[:2]
    return [(debtor, funds, currency, payer), (creditor, "0.00", currency, payee)]


def _describe(account: AccountId | str) -> str:
    if isinstance(account, SortCodeAccount):
        return f"sort code {account.sort_code} account {account.account_number}"
    return account if isinstance(account, str) else account.value


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
    accounts = _demo_accounts(bank.protocol)
    for account, balance, currency, name in accounts:
        bank.open_account(account, balance, currency, name=name)
    stop = stop or threading.Event()
    with bank.serve(args.host, args.port) as served:
        config = served.config()
        print(f"mock bank {bank.bank_id!r} ({bank.protocol}) at {served.url}", file=out)
        _print_config(config, out)
        print(f"webhook secret: {bank.webhook_secret}", file=out)
        if args.config_out:
            print(f"config:         {write_config_file(config, args.config_out)}", file=out)
        for account, balance, currency, name in accounts:
            print(f"account:        {_describe(account)}  {balance} {currency}  {name}", file=out)
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


def _print_config(config: BankConfig, out: TextIO) -> None:
    for name, value in sorted(config.credentials.items()):
        if name == "webhook_secrets":
            continue  # printed as the bank's webhook secret
        if isinstance(value, SigningKey) or _is_pem(value):
            value = "<a key: --config-out writes it as a PEM file>"
        print(f"{name.replace('_', ' ') + ':':<15} {value}", file=out)
    for name, value in sorted(config.options.items()):
        print(f"{'option ' + name + ':':<15} {value}", file=out)


def _is_pem(value: object) -> bool:
    return isinstance(value, str) and value.lstrip().startswith("-----BEGIN ")


def _key_pem(key: SigningKey) -> bytes:
    pem = key.private_key_pem() if key.private_key is not None else key.public_key_pem()
    return pem + (key.certificate_pem() if key.certificate is not None else b"")


def _write_private(path: Path, data: bytes) -> None:
    # Test keys, but keys all the same: readable by their owner only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def _credential_entry(name: str, value: Any, folder: Path, stem: str) -> Any:
    if isinstance(value, SigningKey):
        pem = folder / f"{stem}.{name}.pem"
        _write_private(pem, _key_pem(value))
        return {"pem_file": pem.name, "kid": value.kid, "alg": value.alg}
    if _is_pem(value):
        pem = folder / f"{stem}.{name}.pem"
        _write_private(pem, value.encode())
        return {"pem_file": pem.name}
    if isinstance(value, str | int | float | bool | list | tuple) or value is None:
        return value
    raise ConfigurationError(f"credential {name!r} has no file form ({type(value).__name__})")


def write_config_file(config: BankConfig, path: str | os.PathLike[str]) -> Path:
    """Write ``config`` as JSON at ``path``; every key goes to a PEM file beside it (named
    ``<file stem>.<credential>.pem``, mode 0600), referenced by file name. Returns the
    path written."""
    target = Path(path)
    credentials = {
        name: _credential_entry(name, value, target.parent, target.stem)
        for name, value in config.credentials.items()
    }
    document = {
        "bank_id": config.bank_id,
        "protocol": config.protocol,
        "base_url": config.base_url,
        "credentials": credentials,
        "options": dict(config.options),
        "timeout": attrs.asdict(config.timeout),
    }
    _write_private(target, json.dumps(document, indent=2, sort_keys=True).encode() + b"\n")
    return target


def _read_credential(value: Any, folder: Path) -> Any:
    if not (isinstance(value, Mapping) and "pem_file" in value):
        return value
    pem = (folder / str(value["pem_file"])).read_bytes()
    if "kid" not in value:
        return pem.decode()
    return load_pem(pem, kid=str(value["kid"]), alg=value.get("alg"))


def load_config_file(path: str | os.PathLike[str]) -> BankConfig:
    """The :class:`BankConfig` that :func:`write_config_file` (``--config-out``) wrote."""
    source = Path(path)
    document = json.loads(source.read_text(encoding="utf-8"))
    credentials = {
        name: _read_credential(value, source.parent)
        for name, value in document.pop("credentials", {}).items()
    }
    if isinstance(document.get("timeout"), dict):
        document["timeout"] = Timeout(**document["timeout"])
    return BankConfig(credentials=credentials, **document)
