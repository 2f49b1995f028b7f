"""Events in traces: the trace context travels in the envelope, written with the outbox row.

An event's ``traceparent`` (and ``tracestate``) is taken when :func:`publish` writes the row,
from a ``<type> create`` span (kind PRODUCER) opened in the request or handler that
publishes, and kept in the row; every send of the row, whenever it happens, and every
delivery of the envelope continue that context:

- ``<type> publish`` (PRODUCER), the relay's send after commit or the sweep's minutes later:
  a child of the row's context, linked to the span that runs the relay (the request, or the
  sweep's task in a trace of its own);
- ``<type> process`` (CONSUMER), the consumer's handling: a child of the event's context.
  The Celery task that delivers it is in the same trace when it was sent by the relay or a
  retry (Celery's own message headers); it is not when staff redrive a parked event from
  the admin (that request's trace): the process span is then linked to it.

Parent rather than link for the consumer: each delivery is one event handled on its own,
not a batch (OpenTelemetry's messaging conventions use links for batches, whose spans have
many creation contexts), and a saga step belongs in the order's trace, so one trace follows
an order from the POST through every service. Links keep what would otherwise be lost: the
delivery path (sweep run, admin redrive) when it is a different trace.

With tracing off (chassis.tracing) every function here returns at once: rows and envelopes
carry no context, exactly as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from chassis import tracing

__all__ = ["current_trace_context", "event_span", "producing"]

_TRACER = "chassis.events"


@contextlib.contextmanager
def producing(event_type: str, *, count: int, exchange: str) -> Iterator[tuple[str, str]]:
    """Open the ``<type> create`` span and give the (traceparent, tracestate) its rows keep;
    ("", "") when tracing is off."""
    if not tracing.is_active():
        yield "", ""
        return
    from opentelemetry import trace

    attributes: dict[str, Any] = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "create",
        "messaging.destination.name": exchange,
        "messaging.rabbitmq.destination.routing_key": event_type,
    }
    if count != 1:
        attributes["messaging.batch.message_count"] = count
    tracer = trace.get_tracer(_TRACER)
    with tracer.start_as_current_span(
        f"{event_type} create", kind=trace.SpanKind.PRODUCER, attributes=attributes
    ):
        yield current_trace_context()


def current_trace_context() -> tuple[str, str]:
    """The current span's W3C (traceparent, tracestate); ("", "") when off or none."""
    if not tracing.is_active():
        return "", ""
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent", ""), carrier.get("tracestate", "")


@contextlib.contextmanager
def event_span(
    name: str,
    *,
    traceparent: str,
    tracestate: str = "",
    kind: str,
    attributes: Callable[[], dict[str, Any]],
) -> Iterator[None]:
    """A span continuing an event's trace: a child of the envelope's context (of the
    current span when the event has none, an event written without tracing), linked to the
    current span when that is in another trace. ``kind``: "producer" or "consumer";
    ``attributes`` is called only when tracing is on."""
    if not tracing.is_active():
        yield
        return
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = {"traceparent": traceparent, "tracestate": tracestate} if traceparent else {}
    parent = TraceContextTextMapPropagator().extract(carrier) if carrier else None
    event_context = trace.get_current_span(parent).get_span_context() if parent else None
    current = trace.get_current_span().get_span_context()
    links = []
    if event_context is None or not event_context.is_valid:
        parent = None  # no usable context in the event: continue the current trace
    elif current.is_valid and current.trace_id == event_context.trace_id:
        parent = None  # delivered within the event's trace: nest under the delivery
    elif current.is_valid:
        links.append(trace.Link(current, {"delivery": "other trace"}))
    span_kind = trace.SpanKind.CONSUMER if kind == "consumer" else trace.SpanKind.PRODUCER
    tracer = trace.get_tracer(_TRACER)
    with tracer.start_as_current_span(
        name, context=parent, kind=span_kind, attributes=attributes(), links=links
    ):
        yield
