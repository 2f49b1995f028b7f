"""OpenTelemetry traces, set up once per process, after the fork, by the chassis's hooks.

On when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (``http://collector:4318``: spans are sent as
OTLP http/protobuf to ``<endpoint>/v1/traces``) and ``OTEL_SDK_DISABLED`` is not ``true``;
the SDK's other ``OTEL_*`` variables apply (``OTEL_SERVICE_NAME``, ``OTEL_TRACES_SAMPLER``,
``OTEL_BSP_SCHEDULE_DELAY``...). Off otherwise, at no cost: no SDK is imported, no tracer
provider exists, nothing is instrumented, and the helpers below return at their first line.

Where it starts (each process's first and only call; a service writes none itself):

- gunicorn workers: ``post_fork`` (chassis.gunicorn_conf), before the worker loads Django;
- Celery: ``worker_process_init`` in each pool process (prefork), ``worker_init`` for the
  solo and thread pools, ``beat_init`` in beat (chassis.celery.make_celery).

A process must not start it before forking: the span processor's thread and the exporter's
connections do not survive a fork.

What is traced: Django requests (their span carries the gateway's correlation id and Kong
request id), PostgreSQL queries (psycopg), Redis, outgoing ``urllib`` calls (JWKS, single
sign-on), Celery tasks and their messages, and events (chassis.events.tracing). Log lines
carry ``trace_id`` and ``span_id`` (:class:`TraceIds`, in chassis.logs's configuration).
"""

from __future__ import annotations

import logging
import os
from typing import Any

__all__ = ["TraceIds", "flush_tracing", "is_active", "setup_tracing", "tracing_configured"]

logger = logging.getLogger(__name__)

# Probes and the scrape are not requests anyone follows; they would be most of the spans.
EXCLUDED_URLS = "healthz,readyz,metrics"
_active = False


def tracing_configured() -> bool:
    """Whether the environment asks for traces (an OTLP endpoint, the SDK not disabled)."""
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")) and (
        os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() != "true"
    )


def is_active() -> bool:
    """Whether this process exports traces (set up by :func:`setup_tracing`)."""
    return _active


def setup_tracing(service: str) -> bool:
    """Install the tracer provider, the OTLP exporter and the instrumentations, once per
    process, when :func:`tracing_configured`; returns whether tracing is on."""
    global _active
    if _active or not tracing_configured():
        return _active
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win over the service's own name.
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _instrument()
    _active = True
    logger.info("tracing.started", extra={"endpoint": os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"]})
    return True


def flush_tracing(**kwargs: Any) -> None:
    """Send the spans still buffered (a Celery pool process leaves with ``os._exit``)."""
    if _active:
        from opentelemetry import trace

        provider: Any = trace.get_tracer_provider()
        provider.force_flush(timeout_millis=5000)


def _instrument() -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.urllib import URLLibInstrumentor

    DjangoInstrumentor().instrument(
        excluded_urls=os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", EXCLUDED_URLS),
        response_hook=_request_ids,
    )
    PsycopgInstrumentor().instrument(skip_dep_check=True)
    CeleryInstrumentor().instrument()
    RedisInstrumentor().instrument()
    URLLibInstrumentor().instrument()


def _request_ids(span: Any, request: Any, response: Any) -> None:
    """The ids that relate the request's span to the gateway's log line: the correlation id
    the service answered with (the gateway's, when it was a safe one) and Kong's own."""
    if not span.is_recording():
        return
    correlation_id = response.get("X-Request-ID") if response is not None else None
    if correlation_id:
        span.set_attribute("correlation_id", correlation_id)
    kong_request_id = request.headers.get("X-Kong-Request-Id")
    if kong_request_id:
        span.set_attribute("kong.request_id", kong_request_id[:64])


class TraceIds(logging.Filter):
    """Puts the current span's ``trace_id`` and ``span_id`` (hex) on every log record; empty
    strings when tracing is off or no span is current, so every line has the same fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id = record.span_id = ""
        if _active:
            from opentelemetry import trace

            context = trace.get_current_span().get_span_context()
            if context.is_valid:
                record.trace_id = format(context.trace_id, "032x")
                record.span_id = format(context.span_id, "016x")
        return True
