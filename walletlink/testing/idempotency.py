"""The bank side of idempotency keys, after Stripe and Brandur Leach.

A request carrying a key first *claims* it, atomically (one lock around check-and-insert,
the in-memory twin of a unique insert). While the claim is held the key is *in flight*: a
second request with it answers ``409`` and may retry. When the first request finishes, its
response is stored and every later request with the same key and the same parameters gets
those exact bytes back; the same key with different parameters is refused (``422``) and
nothing executes. Requests that fail before executing (validation, unknown account,
conflicts) *release* the key without storing anything, so a corrected retry may reuse it,
as Stripe does. Keys expire after 24 hours on the bank's clock.

The store is protocol-neutral: it keeps whatever response type the protocol server uses.
"""

from __future__ import annotations

import enum
import hashlib
import json
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

import attrs

__all__ = ["Claim", "ClaimState", "IdempotencyStore", "request_fingerprint"]

R = TypeVar("R")


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """A hash of what makes two requests "the same" under one key.

    JSON bodies are compared by value (sorted keys, no spaces), so a client that re-encodes
    the same parameters is not refused; any other body is compared byte for byte.
    """
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
        payload = canonical.encode()
    except (ValueError, UnicodeDecodeError):
        payload = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), payload):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


class ClaimState(enum.Enum):
    CLAIMED = "claimed"  # the caller now owns the key: execute, then complete or release
    REPLAY = "replay"  # a finished request with the same parameters: send its response
    IN_FLIGHT = "in_flight"  # another request holds the key right now: 409, retry later
    MISMATCH = "mismatch"  # the key was used with other parameters: 422, nothing executes


@attrs.frozen
class Claim(Generic[R]):
    state: ClaimState
    response: R | None = None


@attrs.define
class _Entry(Generic[R]):
    fingerprint: str
    created_at: datetime
    response: R | None = None  # None while in flight


class IdempotencyStore(Generic[R]):
    """Idempotency keys per scope (one scope per API key or client); thread-safe."""

    def __init__(self, clock: Callable[[], datetime], ttl: timedelta = timedelta(hours=24)) -> None:
        self._clock = clock
        self.ttl = ttl
        self._entries: dict[tuple[str, str], _Entry[R]] = {}
        self._lock = threading.Lock()

    def begin(self, scope: str, key: str, fingerprint: str) -> Claim[R]:
        """Claim ``key`` for a request, or say why not."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get((scope, key))
            if entry is not None and entry.created_at + self.ttl <= now:
                # Expired: the bank has forgotten the key, as a real one would after 24h.
                del self._entries[(scope, key)]
                entry = None
            if entry is None:
                self._entries[(scope, key)] = _Entry(fingerprint, now)
                return Claim(ClaimState.CLAIMED)
            if entry.fingerprint != fingerprint:
                return Claim(ClaimState.MISMATCH)
            if entry.response is None:
                return Claim(ClaimState.IN_FLIGHT)
            return Claim(ClaimState.REPLAY, entry.response)

    def complete(self, scope: str, key: str, response: R) -> None:
        """Store the response of a claimed key; later requests replay it."""
        with self._lock:
            entry = self._entries.get((scope, key))
            if entry is None or entry.response is not None:
                raise RuntimeError("complete() needs a key claimed by begin() and not finished")
            entry.response = response

    def release(self, scope: str, key: str) -> None:
        """Give up a claim without storing anything: the request did not execute."""
        with self._lock:
            entry = self._entries.get((scope, key))
            if entry is not None and entry.response is None:
                del self._entries[(scope, key)]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
