"""T10: forged and mutated webhooks are never accepted; the published vector still is.

Each forgery starts from a genuine delivery and breaks one thing: one bit of the body or of
a header, the signature of a secret rotated out, a missing header, a timestamp 301 s in the
past or future, a signature cut short. Standard Webhooks and Stripe-style signatures alike.
Only :class:`SignatureError` may come out; an accepted forgery or any other exception fails.
"""

from __future__ import annotations

import base64
import json
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.reliability.conftest import Report, Scale
from walletlink.errors import SignatureError
from walletlink.signing.webhooks import StandardWebhook, StripeWebhook

VECTOR = json.loads(
    (Path(__file__).parents[1] / "vectors" / "standard_webhooks" / "vectors.json").read_text()
)
NOW = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)
CURRENT = "whsec_" + base64.b64encode(b"current secret, 32 bytes long!!!").decode()
RETIRED = "whsec_" + base64.b64encode(b"retired secret, 32 bytes long!!!").decode()

Headers = dict[str, str]
Forgery = tuple[Headers, bytes, datetime]


def flip(data: bytes, rng: random.Random) -> bytes:
    raw = bytearray(data)
    bit = rng.randrange(len(raw) * 8)
    raw[bit // 8] ^= 1 << (bit % 8)
    return bytes(raw)


def standard_forgery(rng: random.Random) -> tuple[str, Forgery]:
    body = rng.randbytes(rng.randrange(1, 300))
    msg_id = f"msg_{rng.randrange(10**12)}"
    headers = StandardWebhook(secrets=[CURRENT]).sign(msg_id, NOW, body)
    kind = rng.choice(["bit_body", "bit_header", "retired", "missing", "skew", "truncated"])
    now = NOW
    if kind == "bit_body":
        body = flip(body, rng)
    elif kind == "bit_header":
        name = rng.choice(sorted(headers))
        headers[name] = flip(headers[name].encode(), rng).decode("latin-1")
    elif kind == "retired":
        headers = StandardWebhook(secrets=[RETIRED]).sign(msg_id, NOW, body)
    elif kind == "missing":
        del headers[rng.choice(sorted(headers))]
    elif kind == "skew":
        now = NOW + timedelta(seconds=rng.choice([301, -301, 10**6, -(10**6)]))
    else:
        signature = headers["webhook-signature"]
        headers["webhook-signature"] = signature[: rng.randrange(len(signature))]
    return f"standard.{kind}", (headers, body, now)


def stripe_forgery(rng: random.Random) -> tuple[str, Forgery]:
    body = rng.randbytes(rng.randrange(1, 300))
    header = StripeWebhook(secrets=[CURRENT]).sign(NOW, body)
    kind = rng.choice(["bit_body", "bit_header", "retired", "missing", "skew", "truncated"])
    now = NOW
    if kind == "bit_body":
        body = flip(body, rng)
    elif kind == "bit_header":
        header = flip(header.encode(), rng).decode("latin-1")
    elif kind == "retired":
        header = StripeWebhook(secrets=[RETIRED]).sign(NOW, body)
    elif kind == "missing":
        header = ""
    elif kind == "skew":
        now = NOW + timedelta(seconds=rng.choice([301, 10**6]))
    else:
        header = header[: rng.randrange(len(header))]
    return f"stripe.{kind}", ({"Stripe-Signature": header}, body, now)


def verifiers() -> dict[str, Callable[[Headers, bytes, datetime], object]]:
    standard = StandardWebhook(secrets=[CURRENT])
    stripe = StripeWebhook(secrets=[CURRENT])
    return {
        "standard": standard.verify,
        "stripe": lambda headers, body, now: stripe.verify(headers["Stripe-Signature"], body, now),
    }


def test_t10_forged_webhooks_are_never_accepted(scale: Scale, report: Report) -> None:
    count = scale.pick(5_000, 100_000)
    rng = random.Random(10)
    verify = verifiers()
    kinds: Counter[str] = Counter()
    accepted = 0
    for n in range(count):
        kind, (headers, body, now) = (standard_forgery if n % 2 else stripe_forgery)(rng)
        kinds[kind] += 1
        try:
            verify[kind.split(".")[0]](headers, body, now)
        except SignatureError:
            continue
        accepted += 1
    vector = {
        "webhook-id": VECTOR["msg_id"],
        "webhook-timestamp": str(VECTOR["timestamp"]),
        "webhook-signature": VECTOR["signature"],
    }
    StandardWebhook(secrets=[VECTOR["secret"]]).verify(
        vector, VECTOR["body"].encode(), datetime.fromtimestamp(VECTOR["timestamp"], tz=UTC)
    )
    report(
        "T10",
        f"{count} forged webhooks ({len(kinds)} kinds, the rarest {min(kinds.values())} "
        f"times): {accepted} accepted; Standard Webhooks vector passes",
    )
    assert accepted == 0
    assert len(kinds) == 12
