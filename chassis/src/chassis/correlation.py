"""The correlation id (``X-Request-ID``): what one is, and the gate in front of django-guid.

A request's id is kept as the gateway or the caller sent it (Kong's correlation-id plugin
does the same), logged on every line and stored with every event the request publishes
(the outbox's ``correlation_id`` column, ``varchar(100)``). An id that is longer than that
column, or carries other characters than an id's (spaces, markup, control characters,
non-ASCII), is not kept: :func:`correlation_id_middleware` drops it, and django-guid gives
the request a fresh one. An event's id (chassis.events.consumer) passes the same check.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

__all__ = ["CORRELATION_ID", "CORRELATION_ID_MAX_LENGTH", "correlation_id_middleware", "safe"]

CORRELATION_ID_MAX_LENGTH = 100  # chassis.events' correlation_id columns
CORRELATION_ID = rf"[A-Za-z0-9._:-]{{1,{CORRELATION_ID_MAX_LENGTH}}}"
_ID = re.compile(CORRELATION_ID)
_HEADER = "HTTP_X_REQUEST_ID"


def safe(value: str | None) -> str | None:
    """``value`` when it is a correlation id (ASCII letters, digits, ``._:-``; at most
    ``CORRELATION_ID_MAX_LENGTH``), else None."""
    return value if value is not None and _ID.fullmatch(value) else None


def correlation_id_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Drops an ``X-Request-ID`` that is not a correlation id, before django-guid reads it
    (it then generates one). In MIDDLEWARE right before ``guid_middleware``."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if _HEADER in request.META and safe(request.META[_HEADER]) is None:
            del request.META[_HEADER]
        return get_response(request)

    return middleware
