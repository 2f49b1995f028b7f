"""OpenAPI glue: every operation documents the error responses it can really return.

:class:`AutoSchema` adds the problem-document responses derived from the view itself:
400 and 413 where there is a request body, 400 where the query string is checked
(:mod:`chassis.query`) or paginated, 401 where authentication is possible, 403 where a
permission beyond "authenticated" applies (naming the roles it needs, chassis.roles),
404 where the path has parameters, 429 where the view is throttled.
An ``@extend_schema(responses=...)`` entry for a code wins.
"""

from __future__ import annotations

from typing import Any, Literal

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions

from chassis.query import KnownQueryParameters
from chassis.serializers import InputSerializer, ProblemSerializer

__all__ = ["AutoSchema", "BearerJWTScheme", "problem_response"]

_Direction = Literal["request", "response"]

_DESCRIPTIONS = {
    "400": "Invalid input (malformed JSON, wrong types, failed validation).",
    "401": "Missing, invalid or expired credentials.",
    "403": "Authenticated but not allowed.",
    "404": "No such resource.",
    "413": "Request body too large.",
    "429": "Rate limit exceeded; see Retry-After.",
}


def problem_response(status: int, description: str) -> dict[Any, OpenApiResponse]:
    """An error response the view raises itself (a domain error, a 409), for
    ``@extend_schema(responses={..., **problem_response(409, "...")})``."""
    return {
        (status, "application/problem+json"): OpenApiResponse(
            ProblemSerializer, description=description
        )
    }


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer: Any, direction: _Direction) -> str:
        """Name nested serializers after their view: ``RegisterApi.InputSerializer`` ->
        ``RegisterInput``, so the HackSoft-style nested classes never collide.

        The whole path counts (``OrderPlaceApi.InputSerializer.LineSerializer`` ->
        ``OrderPlaceInputLine``); a class defined in a function is named from that scope."""
        qualname = type(serializer).__qualname__.split("<locals>.")[-1]
        if "." in qualname:
            outer, *inner = qualname.split(".")
            return outer.removesuffix("Api") + "".join(n.removesuffix("Serializer") for n in inner)
        return super().get_serializer_name(serializer, direction)

    def _get_response_bodies(self, direction: _Direction = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code not in responses:
                response = self._get_response_for_code(
                    ProblemSerializer, code, ["application/problem+json"], direction
                )
                response["description"] = self._describe(code)
                responses[code] = response
        return responses

    def _map_basic_serializer(self, serializer: Any, direction: _Direction) -> dict[str, Any]:
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(serializer, InputSerializer):
            schema["additionalProperties"] = False  # InputSerializer refuses unknown fields
        return schema

    def _describe(self, code: str) -> str:
        """The code's description; a 403 names the roles the view's permissions need
        (chassis.roles.HasRole.describe)."""
        roles = [p.describe() for p in self.view.get_permissions() if hasattr(p, "describe")]
        if code == "403" and roles:
            return f"{_DESCRIPTIONS[code]} {' '.join(roles)}"
        return _DESCRIPTIONS[code]

    def _error_codes(self) -> list[str]:
        codes = []
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["400", "413"]
        elif isinstance(self.view, KnownQueryParameters):
            codes.append("400")  # an unknown query parameter
        elif self._is_list_view() and self._get_paginator() is not None:
            codes.append("400")  # malformed cursor or page_size
        if self.view.get_authenticators():
            codes.append("401")
        if any(not _is_plain(p) for p in self.view.get_permissions()):
            codes.append("403")
        if "{" in self.path:
            codes.append("404")
        if getattr(self.view, "throttle_scope", None) or self.view.get_throttles():
            codes.append("429")
        return codes


def _is_plain(permission: Any) -> bool:
    return isinstance(permission, (permissions.IsAuthenticated, permissions.AllowAny))


class BearerJWTScheme(OpenApiAuthenticationExtension):
    """``Authorization: Bearer <JWT>``; services register subclasses for their own classes."""

    target_class = "chassis.auth.JWKSAuthentication"
    name = "jwtAuth"
    match_subclasses = True

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
