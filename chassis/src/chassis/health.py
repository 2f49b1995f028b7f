"""Liveness and readiness probes, answered before any other middleware.

``/healthz``: the process is up (no I/O). ``/readyz``: the database answers, every migration
is applied and the broker accepts a connection; otherwise 503 naming the failing check.

Served by :class:`HealthCheckMiddleware` (first in ``MIDDLEWARE``) so that probes from a pod
IP pass without being in ``ALLOWED_HOSTS``, are never redirected to HTTPS and skip sessions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from kombu import Connection

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


def check_broker() -> None:
    url = getattr(settings, "CELERY_BROKER_URL", None)
    if not url:
        return
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    transport = getattr(settings, "CELERY_BROKER_TRANSPORT", None)  # chassis.conf's choice
    timeout = getattr(settings, "HEALTH_BROKER_TIMEOUT_SECONDS", 2)
    with Connection(
        url, transport=transport, connect_timeout=timeout, transport_options=options
    ) as conn:
        # One attempt, no retry back-off: a probe must answer within its own timeout.
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)


CHECKS: dict[str, Check] = {
    "database": check_database,
    "migrations": check_migrations,
    "broker": check_broker,
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


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    ready, results = run_checks()
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": results},
        status=200 if ready else 503,
    )


PROBES = {"/healthz": healthz, "/readyz": readyz}


class HealthCheckMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info.rstrip("/") or "/")
        if probe is not None and request.method in ("GET", "HEAD"):
            return probe(request)
        return self.get_response(request)
