"""Fault injection: what can go wrong between a wallet and its bank, drawn from a seed.

A :class:`FaultPlan` is a frozen description (probabilities per fault kind); a
:class:`FaultInjector` turns it into decisions with its own seeded ``random.Random``, so the
same seed replays the same sequence of faults. That makes a failing reliability test
reproducible: print the seed, rerun with it.

Each request draws exactly two numbers (one for the fault, one for the latency) whatever it
decides, so the sequence of decisions depends only on the seed and the number of requests,
not on which faults happened to fire.

Where a fault strikes matters for idempotency, so each kind says whether the bank has
executed the request when it fires (:attr:`FaultKind.commits`).
"""

from __future__ import annotations

import enum
import random
import threading
from collections.abc import Sequence
from typing import Any, TypeVar

import attrs

__all__ = ["FaultDecision", "FaultInjector", "FaultKind", "FaultPlan"]

T = TypeVar("T")


class FaultKind(enum.StrEnum):
    """One kind of request fault, in the order the injector considers them."""

    CONNECT_REFUSED = "connect_refused"
    RESET_BEFORE_COMMIT = "reset_before_commit"
    RATE_LIMIT = "rate_limit"
    SERVER_ERROR = "server_error"
    UNAVAILABLE = "unavailable"
    RESET_AFTER_COMMIT = "reset_after_commit"
    DROP_RESPONSE_AFTER_COMMIT = "drop_response_after_commit"
    MALFORMED_BODY = "malformed_body"

    @property
    def commits(self) -> bool:
        """Whether the bank executes the request before this fault hides the answer."""
        return self in _COMMITTING


_COMMITTING = frozenset(
    {
        FaultKind.RESET_AFTER_COMMIT,
        FaultKind.DROP_RESPONSE_AFTER_COMMIT,
        FaultKind.MALFORMED_BODY,
    }
)


def _probability(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} is a probability in [0, 1], got {value!r}")


def _latency(instance: object, attribute: object, value: tuple[float, float]) -> None:
    low, high = value
    if not 0.0 <= low <= high:
        raise ValueError(f"latency is a (low, high) range with 0 <= low <= high, got {value!r}")


def _methods(value: frozenset[str] | set[str] | Sequence[str] | None) -> frozenset[str] | None:
    return None if value is None else frozenset(m.upper() for m in value)


@attrs.frozen(kw_only=True)
class FaultPlan:
    """Probabilities of each fault, per request (or per webhook for the webhook faults).

    Request faults are exclusive: at most one fires per request, so their probabilities must
    sum to at most 1. ``latency`` is drawn uniformly from its range for every request.
    """

    seed: int = 0
    latency: tuple[float, float] = attrs.field(default=(0.0, 0.0), validator=_latency)
    connect_refused: float = attrs.field(default=0.0, validator=_probability)
    reset_before_commit: float = attrs.field(default=0.0, validator=_probability)
    reset_after_commit: float = attrs.field(default=0.0, validator=_probability)
    drop_response_after_commit: float = attrs.field(default=0.0, validator=_probability)
    rate_limit: float = attrs.field(default=0.0, validator=_probability)
    retry_after: int = attrs.field(default=1, validator=attrs.validators.ge(0))
    server_error: float = attrs.field(default=0.0, validator=_probability)
    unavailable: float = attrs.field(default=0.0, validator=_probability)
    malformed_body: float = attrs.field(default=0.0, validator=_probability)
    duplicate_webhooks: float = attrs.field(default=0.0, validator=_probability)
    out_of_order_webhooks: float = attrs.field(default=0.0, validator=_probability)
    only_methods: frozenset[str] | None = attrs.field(default=None, converter=_methods)

    def __attrs_post_init__(self) -> None:
        total = sum(self.probability(kind) for kind in FaultKind)
        if total > 1.0 + 1e-9:
            raise ValueError(f"request fault probabilities sum to {total:g}, more than 1")

    @classmethod
    def none(cls) -> FaultPlan:
        """No faults at all: the bank answers every request promptly and correctly."""
        return cls()

    @classmethod
    def of(cls, kind: FaultKind, probability: float = 1.0, **others: Any) -> FaultPlan:
        """A plan where ``kind`` strikes with ``probability`` (every request by default)."""
        return cls(**{**others, kind.value: probability})

    def probability(self, kind: FaultKind) -> float:
        """The probability of ``kind`` per request."""
        value: float = getattr(self, kind.value)
        return value

    def applies_to(self, method: str) -> bool:
        return self.only_methods is None or method.upper() in self.only_methods


@attrs.frozen
class FaultDecision:
    """What happens to one request: at most one fault, and a latency in seconds."""

    kind: FaultKind | None = None
    latency: float = 0.0


class FaultInjector:
    """Draws :class:`FaultDecision` values from a plan with a seeded generator; thread-safe."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._random = random.Random(plan.seed)
        # Webhooks draw from their own generator, so that the request fault sequence of a
        # seed does not shift when a test advances the clock a different number of times.
        self._webhook_random = random.Random(f"{plan.seed}:webhooks")
        self._lock = threading.Lock()

    def decide(self, method: str) -> FaultDecision:
        """The fate of the next request."""
        with self._lock:
            draw = self._random.random()
            low, high = self.plan.latency
            latency = self._random.uniform(low, high)
        if not self.plan.applies_to(method):
            return FaultDecision()
        cumulative = 0.0
        for kind in FaultKind:
            cumulative += self.plan.probability(kind)
            if draw < cumulative:
                return FaultDecision(kind, latency)
        return FaultDecision(None, latency)

    def duplicate_webhook(self) -> bool:
        """Whether the next webhook is delivered twice (same id, same bytes)."""
        with self._lock:
            return self._webhook_random.random() < self.plan.duplicate_webhooks

    def reorder(self, batch: list[T]) -> list[T]:
        """The batch, shuffled with probability ``out_of_order_webhooks``."""
        with self._lock:
            roll = self._webhook_random.random()
            if len(batch) > 1 and roll < self.plan.out_of_order_webhooks:
                shuffled = list(batch)
                self._webhook_random.shuffle(shuffled)
                return shuffled
        return list(batch)
