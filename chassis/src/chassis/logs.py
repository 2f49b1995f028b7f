"""Logging every service shares: JSON lines on stdout carrying the request's correlation id
and the current trace's ``trace_id`` and ``span_id`` (empty when tracing is off:
chassis.tracing) (``LOG_FORMAT=console`` for people reading a terminal).
``chassis.conf.common_settings`` sets ``LOGGING`` from it."""

from __future__ import annotations

from typing import Any

__all__ = ["logging_config"]


def logging_config(*, level: str, json: bool, service: str) -> dict[str, Any]:
    """JSON lines on stdout, each carrying the request's correlation id."""
    json_format = (
        "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s %(trace_id)s %(span_id)s"
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "correlation_id": {"()": "django_guid.log_filters.CorrelationId"},
            "trace_ids": {"()": "chassis.tracing.TraceIds"},
        },
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "format": json_format,
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
                "static_fields": {"service": service},
            },
            "console": {
                "format": "%(asctime)s %(levelname)s [%(correlation_id)s] %(name)s: %(message)s"
            },
        },
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "filters": ["correlation_id", "trace_ids"],
                "formatter": "json" if json else "console",
            }
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "django.request": {"level": "ERROR"},  # 4xx are the client's business, not ours
            "django_guid": {"level": "WARNING"},
        },
    }
