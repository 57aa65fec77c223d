"""OpenTelemetry spans for every bank request: ``pip install 'walletlink[otel]'``.

Nothing is traced until you ask::

    from walletlink.otel import instrument
    instrument(client)  # a Client or an AsyncClient

Each logical request becomes a span ``walletlink <operation>`` (a child of whatever span is
current in the calling code), with one child span ``walletlink attempt`` per HTTP attempt,
retries included. The spans are built from the client's :class:`~walletlink.RequestRecord`
hooks, so they carry only redacted attributes: the bank id, the operation (the adapter's
name for it, or the path with account numbers masked), the HTTP method and status, the
attempt number, the walletlink transfer id and the outcome (an exception's type name).
Never an account number, a key, a token, a header or a body.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Final

import attrs

from walletlink._core import Hooks
from walletlink._observe import RequestRecord
from walletlink.errors import ConfigurationError

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

__all__ = ["SPAN_ATTRIBUTES", "instrument", "span_hooks"]

_INSTALL = "walletlink.otel needs the OpenTelemetry API: pip install 'walletlink[otel]'"

#: The attribute keys a walletlink span may carry (nothing else is ever set).
SPAN_ATTRIBUTES: Final = (
    "walletlink.bank_id",
    "walletlink.operation",
    "http.request.method",
    "http.response.status_code",
    "walletlink.attempt",
    "walletlink.transfer_id",
    "walletlink.outcome",
)


def _tracer(provider: TracerProvider | None) -> Tracer:
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise ConfigurationError(_INSTALL) from exc
    from walletlink import __version__

    return trace.get_tracer("walletlink", __version__, tracer_provider=provider)


def _attributes(record: RequestRecord) -> dict[str, Any]:
    values: dict[str, Any] = {
        "walletlink.bank_id": record.bank_id,
        "walletlink.operation": record.operation,
        "http.request.method": record.method,
        "http.response.status_code": record.status,
        "walletlink.attempt": record.attempt,
        "walletlink.transfer_id": record.transfer_id,
        "walletlink.outcome": record.outcome,
    }
    return {key: value for key, value in values.items() if value is not None}


class _Spans:
    """Turns records into spans: attempts wait for their call, which becomes their parent."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer
        self.pending: dict[int, list[RequestRecord]] = {}
        self.lock = threading.Lock()

    def on_attempt(self, record: RequestRecord) -> None:
        with self.lock:
            self.pending.setdefault(record.call_id, []).append(record)

    def on_call(self, record: RequestRecord) -> None:
        from opentelemetry import trace

        with self.lock:
            attempts = self.pending.pop(record.call_id, [])
        call = self._span(f"walletlink {record.operation}", record, None)
        context = trace.set_span_in_context(call)
        for attempt in attempts:
            self._span("walletlink attempt", attempt, context).end(end_time=attempt.end_ns)
        call.end(end_time=record.end_ns)

    def _span(self, name: str, record: RequestRecord, context: Any) -> Any:
        from opentelemetry.trace import SpanKind, Status, StatusCode

        kind = SpanKind.CLIENT if record.kind == "attempt" else SpanKind.INTERNAL
        span = self.tracer.start_span(
            name,
            context=context,
            kind=kind,
            attributes=_attributes(record),
            start_time=record.start_ns,
        )
        if record.outcome != "ok":
            span.set_status(Status(StatusCode.ERROR, record.outcome))
        return span


def _chain(first: Any, second: Any) -> Any:
    if first is None:
        return second

    def both(record: RequestRecord) -> None:
        first(record)
        second(record)

    return both


def span_hooks(
    hooks: Hooks | None = None, *, tracer_provider: TracerProvider | None = None
) -> Hooks:
    """``hooks`` (or empty ones) with span emission added to ``on_attempt``/``on_call``;
    pass the result as ``Client(hooks=...)``. Existing callbacks still run, first."""
    spans = _Spans(_tracer(tracer_provider))
    hooks = hooks or Hooks()
    return attrs.evolve(
        hooks,
        on_attempt=_chain(hooks.on_attempt, spans.on_attempt),
        on_call=_chain(hooks.on_call, spans.on_call),
    )


def instrument(client: Any, *, tracer_provider: TracerProvider | None = None) -> None:
    """Trace every bank request ``client`` (a Client or an AsyncClient) makes from now on."""
    client.hooks = span_hooks(client.hooks, tracer_provider=tracer_provider)
