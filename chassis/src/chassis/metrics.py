"""Prometheus metrics of a service, served at ``/metrics`` on its own port (never routed by
the gateway: no route of kong.yml matches ``/metrics``, so the gateway answers 404).

prometheus_client, not django-prometheus: django-prometheus times queries by replacing the
database ``ENGINE`` and caches by replacing the cache ``BACKEND``, where the chassis chooses
both from the environment (PostgreSQL or the embedded SQLite, chassis.cache.RedisCache or
locmem); its middleware pair labels requests by view name and exports some forty series per
view. Here one middleware, one ``execute_wrapper`` on every connection, two lines in
chassis.cache, and Celery's task signals give the few series the dashboards use.

Several processes per instance (gunicorn's workers, the Celery worker's child, beat):
prometheus_client's multiprocess mode. ``PROMETHEUS_MULTIPROC_DIR`` names a directory per
instance (web, worker and beat of one service share it, so one scrape shows them all),
emptied before the instance starts (the local runner does; in Kubernetes an ``emptyDir``);
a process that exits is marked dead (gunicorn's ``child_exit``, Celery's
``worker_process_shutdown``) so its live gauges go. Without the variable (tests, one
process) the default registry is served.

Series (the service is the scrape target's label, not a metric label):

- ``http_requests_total`` / ``http_request_duration_seconds{route,method,status}``: ``route``
  is the URL pattern (``api/v1/orders/<uuid:pk>``), ``<probe>`` for /healthz and /readyz,
  ``<static>`` for static files, ``<unmatched>`` for a path no pattern matched (a client's
  path never becomes a label);
- ``db_query_duration_seconds{alias}``; ``cache_requests_total{result=hit|miss}``;
- ``celery_tasks_total{task,outcome}`` / ``celery_task_duration_seconds{task}``;
- ``events_consumed_total{type,outcome}``: handled, duplicate, retried, parked, unhandled;
- gauges refreshed by one periodic task (chassis.events.gauges), never on a scrape:
  ``outbox_unsent_events``, ``outbox_oldest_unsent_age_seconds``, ``events_parked``,
  ``events_queue_messages{queue}`` (messages ready in this service's queues: consumer lag).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

__all__ = [
    "CACHE_REQUESTS",
    "DB_QUERY_SECONDS",
    "EVENTS_CONSUMED",
    "HTTP_REQUESTS",
    "HTTP_SECONDS",
    "MetricsMiddleware",
    "event_outcome",
    "instrument_celery",
    "instrument_database",
    "mark_process_dead",
    "metrics_response",
]

METRICS_PATH = "/metrics"
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # a fresh tmpfs in a container: made here
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
_PROBES = frozenset({"/healthz", "/readyz"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
TASK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

HTTP_REQUESTS = Counter("http_requests", "HTTP requests answered", ["route", "method", "status"])
HTTP_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request (inside the service)",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
DB_QUERY_SECONDS = Histogram(
    "db_query_duration_seconds", "Database query time", ["alias"], buckets=QUERY_BUCKETS
)
CACHE_REQUESTS = Counter("cache_requests", "Cache reads by result", ["result"])
TASKS = Counter("celery_tasks", "Celery tasks run, by outcome", ["task", "outcome"])
TASK_SECONDS = Histogram(
    "celery_task_duration_seconds", "Celery task run time", ["task"], buckets=TASK_BUCKETS
)
EVENTS_CONSUMED = Counter(
    "events_consumed", "Events taken from this service's queue, by outcome", ["type", "outcome"]
)
# Set by one process (the periodic task in the worker); "livemostrecent": the latest value
# written by a live process, so a gauge of a worker that died does not linger.
OUTBOX_UNSENT = Gauge(
    "outbox_unsent_events", "Outbox rows not yet published", multiprocess_mode="livemostrecent"
)
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_unsent_age_seconds",
    "Age of the oldest unpublished outbox row (0: none)",
    multiprocess_mode="livemostrecent",
)
EVENTS_PARKED = Gauge(
    "events_parked", "Parked events not redriven", multiprocess_mode="livemostrecent"
)
QUEUE_MESSAGES = Gauge(
    "events_queue_messages",
    "Messages ready in this service's broker queues (consumer lag)",
    ["queue"],
    multiprocess_mode="livemostrecent",
)


def _registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def metrics_response() -> HttpResponse:
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.route or match.view_name or "<unnamed>"
    if request.path in _PROBES:
        return "<probe>"
    if request.path.startswith("/static/"):
        return "<static>"
    return "<unmatched>"


class MetricsMiddleware:
    """First in ``MIDDLEWARE``: answers ``GET /metrics`` (before host checks, as the probes:
    the scraper calls a pod's address) and times every other request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == METRICS_PATH and request.method in ("GET", "HEAD"):
            return metrics_response()
        start = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - start
        labels = (_route(request), _method(request.method), str(response.status_code))
        HTTP_REQUESTS.labels(*labels).inc()
        HTTP_SECONDS.labels(*labels).observe(elapsed)
        return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method(method: str | None) -> str:
    return method if method in _METHODS else "<other>"  # a client's verb is not a label


def _timed_query(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
) -> Any:
    start = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        DB_QUERY_SECONDS.labels(context["connection"].alias).observe(time.perf_counter() - start)


def _on_connection(*, connection: Any, **kwargs: Any) -> None:
    # The wrapper list belongs to the (per-thread) DatabaseWrapper, which outlives each
    # connection it opens: added once.
    if _timed_query not in connection.execute_wrappers:
        connection.execute_wrappers.append(_timed_query)


def instrument_database() -> None:
    """Time every query of every database connection (called by the chassis app's ready)."""
    from django.db.backends.signals import connection_created

    connection_created.connect(_on_connection, dispatch_uid="chassis.metrics")


def cache_read(*, hits: int, misses: int) -> None:
    if hits:
        CACHE_REQUESTS.labels("hit").inc(hits)
    if misses:
        CACHE_REQUESTS.labels("miss").inc(misses)


def event_outcome(event_type: str, outcome: str) -> None:
    from chassis.settings import chassis_settings

    # The type is the sender's word: a label only when it is one this service consumes.
    known = event_type in chassis_settings.EVENTS.CONSUMES
    EVENTS_CONSUMED.labels(event_type if known else "<other>", outcome).inc()


_started: dict[str, float] = {}


def _task_started(*, task_id: str, **kwargs: Any) -> None:
    _started[task_id] = time.perf_counter()


def _task_finished(*, task_id: str, task: Any, state: str | None = None, **kwargs: Any) -> None:
    start = _started.pop(task_id, None)
    name = getattr(task, "name", None) or "<unknown>"
    TASKS.labels(name, (state or "unknown").lower()).inc()
    if start is not None:
        TASK_SECONDS.labels(name).observe(time.perf_counter() - start)


def _process_exit(**kwargs: Any) -> None:
    mark_process_dead(os.getpid())


def _serve_worker_metrics(**kwargs: Any) -> None:
    port = os.environ.get("CELERY_METRICS_PORT")
    if port:  # a worker in a pod of its own: nothing else serves its files
        from prometheus_client import start_http_server

        start_http_server(int(port), registry=_registry())


def instrument_celery() -> None:
    """Count and time every task (outcome: Celery's final state, lower-cased: success,
    failure, retry, ...), mark a pool process dead when it exits and, with
    ``CELERY_METRICS_PORT`` set, serve the worker's metrics on that port."""
    from celery import signals

    signals.worker_init.connect(_serve_worker_metrics, weak=False, dispatch_uid="chassis.metrics")
    signals.task_prerun.connect(_task_started, weak=False, dispatch_uid="chassis.metrics.pre")
    signals.task_postrun.connect(_task_finished, weak=False, dispatch_uid="chassis.metrics.post")
    signals.worker_process_shutdown.connect(
        _process_exit, weak=False, dispatch_uid="chassis.metrics.exit"
    )


def mark_process_dead(pid: int) -> None:
    """Drop a dead process's live gauges (gunicorn ``child_exit``, Celery pool exits)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
