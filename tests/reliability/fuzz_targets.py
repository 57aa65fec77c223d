"""T13's fuzz targets: the parsers that read what a bank or the network sends.

Each target takes raw bytes and may raise only its typed error: the statement parsers
:class:`ParseError`, the webhook verifiers :class:`SignatureError`, ``parse_retry_after``
nothing at all. Anything else escaping is a crash.

``python -m tests.reliability.fuzz_atheris NAME RUNS`` fuzzes NAME with atheris
(coverage-guided libFuzzer; wheels for Linux up to Python 3.11) for RUNS executions from
the seed corpus; ``python -m tests.reliability.fuzz_targets NAME RUNS`` runs a seeded
mutation loop instead, for machines without atheris. Both exit 0 when nothing crashed.
"""

from __future__ import annotations

import contextlib
import json
import random
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from walletlink._retry import parse_retry_after
from walletlink.errors import ParseError, SignatureError
from walletlink.formats import parse_camt, parse_mt940, parse_pain002
from walletlink.signing.webhooks import StandardWebhook, StripeWebhook

DATA: Final = Path(__file__).parents[1] / "formats" / "data"
NOW: Final = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)
SECRET: Final = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
_STANDARD = StandardWebhook(secrets=[SECRET])
_STRIPE = StripeWebhook(secrets=[SECRET])


def _webhook(data: bytes) -> None:
    """Three header lines and a body: id, timestamp, signature; then the Stripe header."""
    parts = data.split(b"\n", 4)
    parts += [b""] * (5 - len(parts))
    text = [part.decode("latin-1") for part in parts[:4]]
    headers = {"webhook-id": text[0], "webhook-timestamp": text[1], "webhook-signature": text[2]}
    for name in [n for n, v in zip(list(headers), text, strict=False) if v == "-"]:
        del headers[name]  # "-" stands for a missing header
    with contextlib.suppress(SignatureError):
        _STANDARD.verify(headers, parts[4], NOW)
    _STRIPE.verify(text[3], parts[4], NOW)


def _retry_after(data: bytes) -> None:
    seconds = parse_retry_after(data.decode("latin-1"), now=NOW)
    if seconds is not None and not 0 <= seconds < float("inf"):
        raise AssertionError(f"Retry-After parsed to {seconds!r}")


def _seed_webhooks() -> list[bytes]:
    body = b'{"type":"transfer.settled","id":"evt_1"}'
    headers = _STANDARD.sign("msg_1", NOW, body)
    stripe = _STRIPE.sign(NOW, body)
    lines = [headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"]]
    return ["\n".join([*lines, stripe]).encode() + b"\n" + body]


TARGETS: Final[dict[str, tuple[Callable[[bytes], object], type[Exception] | None]]] = {
    "mt940": (parse_mt940, ParseError),
    "camt": (parse_camt, ParseError),
    "pain002": (parse_pain002, ParseError),
    "webhook": (_webhook, SignatureError),
    "retry_after": (_retry_after, None),
}


def corpus(name: str) -> list[bytes]:
    if name == "mt940":
        return [path.read_bytes() for path in sorted(DATA.glob("mt940_*.sta"))]
    if name == "camt":
        return [path.read_bytes() for path in sorted(DATA.glob("camt05*.xml"))]
    if name == "pain002":
        return [(DATA / "pain002_v10_example.xml").read_bytes()]
    if name == "webhook":
        return _seed_webhooks()
    return [b"120", b"Wed, 21 Oct 2026 07:28:00 GMT", b"3600", b"9999999999"]


def run_one(name: str, data: bytes) -> None:
    """One execution: only the target's typed error may escape, and it is swallowed."""
    target, allowed = TARGETS[name]
    try:
        target(data)
    except Exception as exc:
        if allowed is None or not isinstance(exc, allowed):
            raise


_TOKENS: Final = [b":61:", b":86:", b"\r\n-", b"{4:", b"<", b"</", b"&", b"]]>", b"v1,", b"t="]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random edit: flip, insert, delete, repeat, truncate or splice in a token."""
    raw = bytearray(data)
    edit = rng.randrange(6)
    at = rng.randrange(len(raw) + 1)
    if edit == 0 and raw:
        raw[min(at, len(raw) - 1)] ^= 1 << rng.randrange(8)
    elif edit == 1:
        raw[at:at] = rng.randbytes(rng.randrange(1, 8))
    elif edit == 2:
        del raw[at : at + rng.randrange(1, 32)]
    elif edit == 3:
        raw[at:at] = raw[at : at + rng.randrange(1, 64)] * rng.randrange(1, 4)
    elif edit == 4:
        del raw[at:]
    else:
        raw[at:at] = rng.choice(_TOKENS)
    return bytes(raw)


def mutation_loop(name: str, runs: int, seed: int = 13) -> int:
    """``runs`` executions of seeded mutations (1 to 4 edits) of the corpus."""
    rng = random.Random(f"{seed}:{name}")
    seeds = corpus(name)
    for _ in range(runs):
        data = rng.choice(seeds)
        for _ in range(rng.randrange(1, 5)):
            data = mutate(data, rng)
        run_one(name, data)
    return runs


def atheris_fuzz(name: str, runs: int) -> None:
    import atheris

    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as folder:
        for n, item in enumerate(corpus(name)):
            (Path(folder) / f"seed-{n}").write_bytes(item)
        atheris.Setup(
            [sys.argv[0], f"-runs={runs}", "-seed=13", "-max_len=65536", folder],
            lambda data: run_one(name, data),
        )
        atheris.Fuzz()


def main(name: str, runs: int) -> None:
    """Fuzz with the mutation loop (atheris runs through ``fuzz_atheris``)."""
    mutation_loop(name, runs)
    print(json.dumps({"engine": "mutation loop", "runs": runs}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
