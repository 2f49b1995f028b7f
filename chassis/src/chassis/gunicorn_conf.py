"""gunicorn settings shared by every service, overridable through GUNICORN_* variables.

A service's ``gunicorn.conf.py`` is two lines::

    from chassis.gunicorn_conf import gunicorn_settings
    globals().update(gunicorn_settings("catalog"))

Logs: the error log is JSON lines; the access log is one JSON object per request carrying
the correlation id the service returned (:class:`AccessLogger`: written straight from the
request's few fields, not through gunicorn's atoms of every header, a third of the cost of
the format string's line). Connections are reused (keep-alive) and workers are recycled after
``max_requests`` to bound memory growth.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from typing import Any

from chassis.tracing import setup_tracing

__all__ = ["AccessLog", "gunicorn_settings"]


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
        # The same line, written by AccessLog (access_log_format is what gunicorn's own logger
        # would write with it).
        "access_log_format": (
            '{"time":"%(t)s","level":"INFO","logger":"gunicorn.access","service":"'
            + service
            + '","method":"%(m)s","path":"%(U)s","status":%(s)s,"bytes":"%(B)s",'
            '"duration_us":%(D)s,"remote":"%(h)s","correlation_id":"%({x-request-id}o)s"}'
        ),
        "logger_class": _logger_class(service),
    }


def _post_fork(service: str) -> None:
    """In each worker: traces (when configured) and the background outbox relay."""
    from chassis.events import relay

    setup_tracing(service)
    relay.enable()


def _logger_class(service: str) -> Any:
    try:
        from gunicorn.glogging import Logger
    except ImportError:  # not under gunicorn (the chassis's own tests): nothing to log
        return "gunicorn.glogging.Logger"
    return type("AccessLogger", (AccessLog, Logger), {"service": service})


class AccessLog:
    """Mixed into gunicorn's logger: a cheaper access line, one JSON object per request::

        {"time":"[01/Dec/2026:12:00:01 +0000]","level":"INFO","logger":"gunicorn.access",
         "service":"users","method":"GET","path":"/api/v1/users/me","status":200,
         "bytes":"412","duration_us":1234,"remote":"127.0.0.1","correlation_id":"..."}

    gunicorn's own ``access()`` builds a dict of every request and response header and formats
    ``access_log_format`` through a wrapper that looks each key up in Python, on every request;
    this one reads the few values the line has, JSON-encodes them (a path or an id with a quote
    or a backslash stays valid JSON) and logs the line through the same ``gunicorn.access``
    logger (its handlers: ``logconfig_dict``).
    """

    service = ""
    _stamp: tuple[int, str] = (0, "")
    access_log_enabled: bool
    access_log: Any
    exception: Any

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        correlation_id = "-"
        for name, value in resp.headers:
            if name.lower() == "x-request-id":
                correlation_id = value
                break
        sent = getattr(resp, "sent", None)
        line = {
            "time": self._now(),
            "level": "INFO",
            "logger": "gunicorn.access",
            "service": self.service,
            "method": environ.get("REQUEST_METHOD", "-"),
            "path": environ.get("PATH_INFO", "-"),
            "status": int(status),
            "bytes": "-" if sent is None else str(sent),
            "duration_us": request_time.seconds * 1_000_000 + request_time.microseconds,
            "remote": environ.get("REMOTE_ADDR", "-"),
            "correlation_id": correlation_id,
        }
        try:
            self.access_log.info("%s", json.dumps(line, separators=(",", ":")))
        except Exception:  # gunicorn's own access() logs the failure and serves on
            self.exception("access log line failed")

    def _now(self) -> str:
        """The time as gunicorn's ``%(t)s`` writes it, formatted once a second."""
        now = int(time.time())
        if now != self._stamp[0]:
            self._stamp = (now, time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(now)))
        return self._stamp[1]


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
