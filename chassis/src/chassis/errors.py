"""One error shape for every service, and the handlers that produce it.

Every 4xx/5xx body is a problem document (RFC 9457 style)::

    {"type": "urn:problem-type:validation-error", "title": "Invalid input.",
     "status": 400, "detail": "The request body did not pass validation.",
     "errors": [{"field": "email", "code": "invalid", "message": "Enter a valid email."}],
     "correlation_id": "4c2a..."}

DRF exceptions go through :func:`exception_handler`; Django-level failures (unknown URL,
bad Host, CSRF, crashes) go through :func:`handler400` & co, wired in each service's urls.py.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, JsonResponse
from django_guid import get_guid
from rest_framework import exceptions, status
from rest_framework.response import Response

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "Conflict",
    "DomainError",
    "PayloadTooLarge",
    "csrf_failure",
    "exception_handler",
    "flatten_errors",
    "handler400",
    "handler403",
    "handler404",
    "handler500",
    "problem",
]

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"


class DomainError(Exception):
    """Base for business-rule failures raised by services; rendered as a problem document.

    Subclasses set ``status``, ``code`` and ``title``; ``detail`` is per instance.
    """

    status: int = status.HTTP_400_BAD_REQUEST
    code: str = "domain-error"
    title: str = "The request could not be completed."

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class Conflict(DomainError):
    status = status.HTTP_409_CONFLICT
    code = "conflict"
    title = "The request conflicts with the current state."


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body exceeds the size limit."
    default_code = "payload-too-large"


_TITLES = {
    400: "Invalid input.",
    401: "Authentication required.",
    403: "Permission denied.",
    404: "Not found.",
    405: "Method not allowed.",
    406: "Not acceptable.",
    409: "Conflict.",
    413: "Payload too large.",
    415: "Unsupported media type.",
    422: "Unprocessable request.",
    429: "Too many requests.",
    500: "Internal server error.",
    503: "Service unavailable.",
}


def problem(
    status_code: int,
    *,
    code: str,
    detail: str,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Build the problem document body for ``status_code``."""
    return {
        "type": f"urn:problem-type:{code.replace('_', '-')}",
        "title": title or _TITLES.get(status_code, "Error."),
        "status": status_code,
        "detail": detail,
        "errors": errors or [],
        "correlation_id": get_guid(),
    }


def flatten_errors(detail: Any, field: str | None = None) -> list[dict[str, Any]]:
    """Turn DRF's nested ``ErrorDetail`` structures into ``[{field, code, message}]``.

    Nested fields are dotted (``lines.0.quantity``); non-field errors have ``field: null``.
    """
    if isinstance(detail, dict):
        out: list[dict[str, Any]] = []
        for key, value in detail.items():
            key = str(key)
            name = None if key in ("non_field_errors", "__all__", "detail") else key
            out.extend(
                flatten_errors(value, f"{field}.{name}" if field and name else name or field)
            )
        return out
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [_error_item(item, field) for item in detail]
        out = []
        for index, item in enumerate(detail):
            if item:  # DRF reports list children without errors as {} / []
                out.extend(flatten_errors(item, f"{field}.{index}" if field else str(index)))
        return out
    return [_error_item(detail, field)]


def _error_item(detail: Any, field: str | None) -> dict[str, Any]:
    return {"field": field, "code": getattr(detail, "code", "invalid"), "message": str(detail)}


def _describe(exc: exceptions.APIException) -> tuple[str, str, list[dict[str, Any]]]:
    """Return (code, detail, errors) for a DRF exception."""
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        return "validation-error", "The request did not pass validation.", errors
    detail = exc.detail
    if isinstance(detail, dict):
        # simplejwt's InvalidToken: {"detail": ..., "code": ..., "messages": [...]}
        code = str(detail.get("code") or exc.default_code)
        message = str(detail.get("detail") or exc.default_detail)
        return code, message, []
    if isinstance(detail, list):
        return exc.default_code, str(exc.default_detail), flatten_errors(detail)
    return str(getattr(detail, "code", exc.default_code)), str(detail), []


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF ``EXCEPTION_HANDLER``: every handled error leaves in the one problem shape."""
    if isinstance(exc, DomainError):
        body = problem(
            exc.status, code=exc.code, title=exc.title, detail=exc.detail, errors=exc.errors
        )
        return Response(body, status=exc.status, content_type=PROBLEM_CONTENT_TYPE)
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(str(exc) or "Suspicious request.")
    # Imported here: rest_framework.views reads the API settings, which import this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unhandled: Django's handler500 answers (and logs) it
    if isinstance(exc, exceptions.APIException):
        code, detail, errors = _describe(exc)
    elif isinstance(exc, Http404):
        code, detail, errors = "not-found", "No resource matches the request.", []
    elif isinstance(exc, PermissionDenied):
        code, detail, errors = "permission-denied", "You may not perform this action.", []
    else:  # pragma: no cover - DRF handles only the types above
        code, detail, errors = "error", str(exc), []
    response.data = problem(response.status_code, code=code, detail=detail, errors=errors)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _json_problem(status_code: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse(
        problem(status_code, code=code, detail=detail),
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def handler400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    if isinstance(exception, RequestDataTooBig):
        return _json_problem(413, "payload-too-large", "Request body exceeds the size limit.")
    return _json_problem(400, "bad-request", "The request could not be understood.")


def handler403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_problem(403, "permission-denied", "You may not perform this action.")


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_problem(404, "not-found", "No resource matches the request.")


def handler500(request: HttpRequest) -> JsonResponse:
    return _json_problem(500, "internal-error", "An unexpected error occurred.")


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    """``CSRF_FAILURE_VIEW``: CSRF only guards session (admin) forms."""
    return _json_problem(403, "csrf-failed", f"CSRF verification failed: {reason}")
