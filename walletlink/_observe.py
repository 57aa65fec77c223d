"""Structured records of every bank request: one per HTTP attempt, one per logical request.

Each becomes a ``walletlink`` log record whose ``extra`` fields are a stable contract
(``docs/observability.md``), and is handed to ``Hooks.on_attempt`` / ``Hooks.on_call``
(which :mod:`walletlink.otel` turns into spans). Nothing in a record can hold a secret or
an account number: the operation is the adapter's name for it or the path with its
sensitive parts masked, and an error is named by its type only.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

import attrs

from walletlink._redact import redact_url
from walletlink._transport import logger
from walletlink.http import PreparedRequest

if TYPE_CHECKING:
    from walletlink._core import Call, Hooks

__all__ = ["LOG_FIELDS", "Observer", "RequestRecord"]

#: The ``extra=`` keys of every request log record, in this order.
LOG_FIELDS: Final = (
    "bank_id",
    "operation",
    "method",
    "transfer_id",
    "attempt",
    "status",
    "elapsed",
    "outcome",
)


_CALL_IDS = itertools.count(1)


@attrs.frozen(kw_only=True)
class RequestRecord:
    """One attempt (``kind="attempt"``) or one logical request (``kind="call"``).

    ``attempt`` is the attempt's number from 1, or for a call how many attempts it took;
    ``status`` the HTTP status (``None`` when no reply came); ``elapsed`` seconds on the
    retry policy's clock; ``outcome`` ``"ok"`` or the exception's type name;
    ``start_ns``/``end_ns`` wall-clock nanoseconds (for tracing back ends); ``call_id``
    the same for a call and its attempts, unique within the process.
    """

    kind: str
    call_id: int
    bank_id: str
    operation: str
    method: str
    transfer_id: str | None
    attempt: int
    status: int | None
    elapsed: float
    outcome: str
    start_ns: int
    end_ns: int

    def log_extra(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in LOG_FIELDS}


@attrs.define
class Outcome:
    """What the code inside an observed block learnt (the status of the reply)."""

    status: int | None = None


class Observer:
    """Times and reports one logical request and its attempts."""

    def __init__(
        self,
        bank_id: str,
        request: PreparedRequest,
        transfer_id: str | None,
        call: Call,
        hooks: Hooks,
    ) -> None:
        self.bank_id = bank_id
        self.method = request.method
        self.operation = request.operation or redact_url(request.path, request.sensitive)
        self.transfer_id = transfer_id
        self.clock = call.policy.clock
        self.hooks = hooks
        self.attempts = 0
        self.call_id = next(_CALL_IDS)

    @contextmanager
    def attempt(self) -> Iterator[Outcome]:
        self.attempts += 1
        with self._timed("attempt", self.attempts) as outcome:
            yield outcome

    @contextmanager
    def call(self) -> Iterator[Outcome]:
        with self._timed("call", 0) as outcome:
            yield outcome

    @contextmanager
    def _timed(self, kind: str, attempt: int) -> Iterator[Outcome]:
        start, start_ns = self.clock(), time.time_ns()
        outcome = Outcome()
        result = "ok"
        try:
            yield outcome
        except BaseException as exc:
            result = type(exc).__name__
            raise
        finally:
            record = RequestRecord(
                kind=kind,
                call_id=self.call_id,
                bank_id=self.bank_id,
                operation=self.operation,
                method=self.method,
                transfer_id=self.transfer_id,
                attempt=attempt or self.attempts,
                status=outcome.status,
                elapsed=max(self.clock() - start, 0.0),
                outcome=result,
                start_ns=start_ns,
                end_ns=time.time_ns(),
            )
            self._emit(record)

    def _emit(self, record: RequestRecord) -> None:
        level = logging.INFO if record.kind == "call" else logging.DEBUG
        if logger.isEnabledFor(level):
            logger.log(
                level,
                "%s %s %s at %s: %s (status %s, attempt %d, %.3fs)",
                record.kind,
                record.method,
                record.operation,
                record.bank_id,
                record.outcome,
                record.status,
                record.attempt,
                record.elapsed,
                extra=record.log_extra(),
            )
        hook = self.hooks.on_call if record.kind == "call" else self.hooks.on_attempt
        if hook is not None:
            hook(record)
