"""gunicorn settings shared by every service, overridable through GUNICORN_* variables.

A service's ``gunicorn.conf.py`` is two lines::

    from chassis.gunicorn_conf import gunicorn_settings
    globals().update(gunicorn_settings("catalog"))

Logs: the error log is JSON lines; the access log is one JSON object per request carrying
the correlation id the service returned. Connections are reused (keep-alive) and workers are
recycled after ``max_requests`` to bound memory growth.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

from chassis.tracing import setup_tracing

__all__ = ["gunicorn_settings"]


def gunicorn_settings(service: str) -> dict[str, Any]:
    return {
        "bind": os.environ.get("GUNICORN_BIND", "0.0.0.0:8000"),
        "workers": int(os.environ.get("GUNICORN_WORKERS", min(4, multiprocessing.cpu_count() * 2))),
        "threads": int(os.environ.get("GUNICORN_THREADS", "4")),
        "timeout": int(os.environ.get("GUNICORN_TIMEOUT", "30")),
        "graceful_timeout": 20,
        "keepalive": 5,
        "max_requests": 2000,
        "max_requests_jitter": 200,
        "limit_request_line": 8190,
        "limit_request_field_size": 8190,
        "forwarded_allow_ips": os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        "control_socket_disable": True,
        "worker_tmp_dir": os.environ.get("GUNICORN_TMP_DIR") or None,
        "accesslog": "-",
        "errorlog": "-",
        "logconfig_dict": _logging(service),
        "child_exit": _child_exit,
        # Traces start in each worker, after the fork (chassis.tracing); off without an endpoint.
        "post_fork": lambda server, worker: _post_fork(service),
        "access_log_format": (
            '{"time":"%(t)s","level":"INFO","logger":"gunicorn.access","service":"'
            + service
            + '","method":"%(m)s","path":"%(U)s","status":%(s)s,"bytes":"%(B)s",'
            '"duration_us":%(D)s,"remote":"%(h)s","correlation_id":"%({x-request-id}o)s"}'
        ),
    }


def _post_fork(service: str) -> None:
    """In each worker: traces (when configured) and the background outbox relay."""
    from chassis.events import relay

    setup_tracing(service)
    relay.enable()


def _child_exit(server: Any, worker: Any) -> None:
    # prometheus_client's multiprocess mode: the worker's live gauges go with it.
    from chassis.metrics import mark_process_dead

    mark_process_dead(worker.pid)


def _logging(service: str) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
                "static_fields": {"service": service},
            },
            "raw": {"format": "%(message)s"},
        },
        "handlers": {
            "error": {"class": "logging.StreamHandler", "formatter": "json"},
            "access": {"class": "logging.StreamHandler", "formatter": "raw"},
        },
        "root": {"handlers": ["error"], "level": "INFO"},
        "loggers": {
            "gunicorn.error": {"handlers": ["error"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }
