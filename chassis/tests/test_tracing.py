"""chassis.tracing and chassis.events.tracing: off at no cost; on, an event's trace context is
written with its outbox row and continued by every send and delivery."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import transaction
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chassis import tracing
from chassis.events.consumer import handle
from chassis.events.envelope import Envelope, InvalidEvent
from chassis.events.models import OutboxEvent
from chassis.events.outbox import publish, relay_pending
from tests.test_events import broker, drain  # noqa: F401 - broker: the fixture, used below

ROOT = Path(__file__).resolve().parents[1]
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
_exporter = InMemorySpanExporter()


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on in this process, spans kept in memory (the provider is set once: the
    OpenTelemetry API allows one per process)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_exporter))
        trace.set_tracer_provider(provider)
    monkeypatch.setattr(tracing, "_active", True)
    _exporter.clear()
    yield _exporter
    _exporter.clear()


def by_name(exporter: InMemorySpanExporter) -> dict[str, object]:
    return {span.name: span for span in exporter.get_finished_spans()}


def hexes(span_context) -> tuple[str, str]:
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


# --- off -----------------------------------------------------------------------------------


def test_off_without_an_endpoint_nothing_of_opentelemetry_is_imported():
    code = (
        "import django, sys; django.setup()\n"
        "from chassis import tracing; from chassis.events import outbox, consumer, tasks\n"
        "from chassis import celery, gunicorn_conf\n"
        "print(tracing.setup_tracing('chassis'), tracing.is_active(),"
        " sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(DJANGO_SETTINGS_MODULE="tests.settings", PYTHONPATH=f"{ROOT}:{ROOT / 'src'}")
    for extra in (
        {},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "true"},
    ):
        result = subprocess.run(  # noqa: S603 - a fixed command line
            [sys.executable, "-c", code],
            env={**env, **extra},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        assert result.stdout.strip() == "False False []", result.stderr


# --- the envelope --------------------------------------------------------------------------


def test_an_envelope_with_a_trace_context_survives_a_round_trip():
    envelope = Envelope(
        type="test.happened",
        payload={"n": 1},
        producer="chassis",
        traceparent=TRACEPARENT,
        tracestate="vendor=abc",
    )

    data = envelope.to_dict()

    assert (data["traceparent"], data["tracestate"]) == (TRACEPARENT, "vendor=abc")
    assert Envelope.from_dict(data) == envelope


def test_an_envelope_without_a_trace_context_is_as_it_always_was():
    envelope = Envelope(type="test.happened", payload={"n": 1}, producer="chassis")
    data = envelope.to_dict()

    assert sorted(data) == [
        "correlation_id",
        "id",
        "occurred_at",
        "payload",
        "producer",
        "type",
        "version",
    ]
    assert Envelope.from_dict(data) == envelope


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"traceparent": "00-xyz"}, "malformed envelope field(s): traceparent"),
        ({"traceparent": TRACEPARENT.upper()}, "malformed envelope field(s): traceparent"),
        ({"traceparent": 1}, "malformed envelope field(s): traceparent"),
        ({"traceparent": TRACEPARENT, "tracestate": "a\nb"}, "field(s): tracestate"),
        ({"traceparent": TRACEPARENT, "tracestate": "x" * 513}, "field(s): tracestate"),
        ({"traceparent": TRACEPARENT, "baggage": "x"}, "envelope keys must be exactly"),
    ],
)
def test_a_malformed_trace_context_is_refused(change, message):
    data = {**Envelope(type="t.x", payload={}, producer="chassis").to_dict(), **change}

    with pytest.raises(InvalidEvent, match=message.replace("(", r"\(").replace(")", r"\)")):
        Envelope.from_dict(data)


# --- on ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_row_keeps_the_writers_context_and_the_sweep_and_consumer_continue_it(
    spans,
    broker,  # noqa: F811
):
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("POST /orders") as request_span, transaction.atomic():
        row = publish("test.happened", {"n": 1})
        trace_id, _ = hexes(request_span.get_span_context())
    OutboxEvent.objects.filter(id=row.id).update(published_at=None)  # as if the broker was down
    drain(broker)

    with tracer.start_as_current_span("sweep run") as sweep_span:
        assert relay_pending() == 1
    [message] = drain(broker)
    handle(Envelope.from_dict(message))  # a delivery outside any trace

    named = by_name(spans)
    create, publish_span, process = (
        named["test.happened create"],
        named["test.happened publish"],
        named["test.happened process"],
    )
    flags = f"{int(create.context.trace_flags):02x}"  # sampled (and random trace id: 03)
    assert row.traceparent == f"00-{trace_id}-{hexes(create.context)[1]}-{flags}"
    assert message["traceparent"] == row.traceparent
    assert create.parent.span_id == request_span.get_span_context().span_id
    assert publish_span.context.trace_id == process.context.trace_id == create.context.trace_id
    assert publish_span.parent.span_id == process.parent.span_id == create.context.span_id
    assert [link.context.span_id for link in publish_span.links] == [
        sweep_span.get_span_context().span_id
    ]
    assert process.kind == trace.SpanKind.CONSUMER
    assert process.attributes["messaging.message.id"] == str(row.id)


@pytest.mark.django_db(transaction=True)
def test_a_delivery_in_another_trace_is_linked_and_one_in_the_events_trace_nested(spans):
    envelope = Envelope(
        type="test.happened", payload={"n": 2}, producer="chassis", traceparent=TRACEPARENT
    )
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("admin redrive") as redrive_span:
        handle(envelope)
    event_trace = int(TRACEPARENT.split("-")[1], 16)

    process = by_name(spans)["test.happened process"]
    assert process.context.trace_id == event_trace
    assert process.parent.span_id == int(TRACEPARENT.split("-")[2], 16)
    assert [link.context.span_id for link in process.links] == [
        redrive_span.get_span_context().span_id
    ]


def test_log_records_carry_the_current_trace_and_span_ids(spans):
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    with trace.get_tracer("test").start_as_current_span("s") as span:
        tracing.TraceIds().filter(record)

    assert (record.trace_id, record.span_id) == hexes(span.get_span_context())
