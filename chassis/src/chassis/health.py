"""Liveness and readiness probes, answered before any other middleware.

``/healthz``: the process is up (no I/O), ``{"status": "ok"}``.

``/readyz``: whether this instance can serve. 503 only when one of :data:`CHECKS` fails (the
database answers ``SELECT 1``; every migration is applied), naming the failing check. The
broker is *not* one of them: requests that publish events write them to the outbox and
succeed while the broker is down (the sweep sends them later), so a broker outage must not
take every instance out of the load balancer. Its state is reported beside the checks::

    {"status": "ok" | "unavailable",
     "checks": {"database": "ok", "migrations": "fail: RuntimeError: 1 migration(s) ..."},
     "broker": {"status": "ok" | "unreachable" | "unknown",
                "source": "publish" | "check" | null,
                "observed_at": "2026-01-31T12:00:00.123Z" | null,
                "error": "OperationalError: [Errno 111] Connection refused" | null}}

``broker`` is what this process last observed (:mod:`chassis.events.reachability`): the
outcome of its latest publish (``source: "publish"``) or, when nothing was observed for
``CHASSIS["HEALTH"]["BROKER_CHECK_SECONDS"]`` (default 30; 0 disables), of a background
connection attempt that the probe starts and does not wait for (``source: "check"``, connect
timeout ``BROKER_TIMEOUT_SECONDS``, default 2). So a probe never opens a broker connection
itself, and a process opens at most one per ``BROKER_CHECK_SECONDS`` for this.
``unknown``: nothing observed yet (a fresh process before its first check, no broker
configured). :func:`broker_reachable` gives the same state as 1/0 for a metrics gauge. Both come
from the environment (``HEALTH_BROKER_*``, chassis.conf.common_settings).

Served by :class:`HealthCheckMiddleware` (first in ``MIDDLEWARE``) so that probes from a pod
IP pass without being in ``ALLOWED_HOSTS``, are never redirected to HTTPS and skip sessions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from kombu import Connection

from chassis.events.reachability import broker_state
from chassis.settings import chassis_settings

__all__ = [
    "CHECKS",
    "HealthCheckMiddleware",
    "broker_reachable",
    "broker_report",
    "check_broker",
    "check_database",
    "check_migrations",
    "healthz",
    "readyz",
    "run_checks",
]

logger = logging.getLogger(__name__)

Check = Callable[[], None]

_migrations_applied = False


def check_database() -> None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")


def check_migrations() -> None:
    global _migrations_applied
    if _migrations_applied:  # once applied they stay applied for this process's code
        return
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        raise RuntimeError(f"{len(plan)} migration(s) not applied")
    _migrations_applied = True


# What makes this instance unable to serve: each one failing is a 503.
CHECKS: dict[str, Check] = {
    "database": check_database,
    "migrations": check_migrations,
}


def run_checks(checks: dict[str, Check] | None = None) -> tuple[bool, dict[str, str]]:
    results: dict[str, str] = {}
    for name, check in (checks or CHECKS).items():
        try:
            check()
        except Exception as exc:  # a probe reports failures, it never raises
            logger.warning("readyz.check_failed", extra={"check": name, "error": repr(exc)})
            results[name] = f"fail: {type(exc).__name__}: {exc}"[:200]
        else:
            results[name] = "ok"
    return all(v == "ok" for v in results.values()), results


def check_broker() -> None:
    """One connection attempt to ``CELERY_BROKER_URL`` (raises when it fails): the
    background check, never run on a probe's own thread."""
    url = getattr(settings, "CELERY_BROKER_URL", "")
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    transport = getattr(settings, "CELERY_BROKER_TRANSPORT", None)  # chassis.conf's choice
    timeout = chassis_settings.HEALTH.BROKER_TIMEOUT_SECONDS
    with Connection(
        url, transport=transport, connect_timeout=timeout, transport_options=options
    ) as conn:
        # One attempt, no retry back-off: the answer is due within the timeout.
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)


def broker_report() -> dict[str, Any]:
    """The ``broker`` member of ``/readyz``; starts a background check when the state is
    older than ``CHASSIS["HEALTH"]["BROKER_CHECK_SECONDS"]`` (the report is the state before it)."""
    last = broker_state.last  # read first: a check started below may finish at once
    if getattr(settings, "CELERY_BROKER_URL", None):
        broker_state.refresh_if_stale(chassis_settings.HEALTH.BROKER_CHECK_SECONDS, check_broker)
    if last is None:
        return {"status": "unknown", "source": None, "observed_at": None, "error": None}
    observed_at = datetime.fromtimestamp(last.wall, UTC).isoformat(timespec="milliseconds")
    return {
        "status": "ok" if last.reachable else "unreachable",
        "source": last.source,
        "observed_at": observed_at.replace("+00:00", "Z"),
        "error": last.error or None,
    }


def broker_reachable() -> int:
    """1 when this process's latest broker observation succeeded, else 0 (failed, or nothing
    observed yet): for a Prometheus gauge."""
    last = broker_state.last
    return int(last is not None and last.reachable)


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    ready, results = run_checks()
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": results, "broker": broker_report()},
        status=200 if ready else 503,
    )


_PROBES = {"/healthz": healthz, "/readyz": readyz}


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = _PROBES.get(request.path_info.rstrip("/") or "/")
        if probe is not None and request.method in ("GET", "HEAD"):
            return probe(request)
        return self.get_response(request)
