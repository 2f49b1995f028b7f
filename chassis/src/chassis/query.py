"""The one rule for query parameters: a parameter a view does not read is a 400.

Why not ignore it, as HTTP frameworks usually do: a misspelt filter (``?stauts=PAID``,
``?min_prise=10``) would silently answer with the unfiltered list, a bug the client never
sees; a parameter sent to a view that reads none (``?expand=lines`` on a detail) promises
something the API does not do. Unknown fields in a JSON body are refused for the same reason
(:class:`chassis.serializers.InputSerializer`), so both kinds of input follow one rule.

Every API view of every service mixes in :class:`KnownQueryParameters` (in front of its DRF
base class). A view knows DRF's format override (``?format=json``) and, on reads (GET,
HEAD, OPTIONS) only, as writes take their input from the body:

* the names in its ``query_parameters`` (what it reads itself: a query serializer's fields,
  the keyset paginator's ``cursor`` and ``page_size``),
* its ``filterset_class``'s filters and its ``pagination_class``'s parameters.

The check runs in ``initial()``, after authentication, permissions and throttling (an
anonymous caller still gets its 401 first), for the methods the view has (another method
gets its 405), and answers in the one error shape::

    {"field": null, "code": "unknown", "message": "Unknown query parameter 'stauts'."}

one error per unknown name, sorted.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework import exceptions, permissions
from rest_framework.request import Request
from rest_framework.settings import api_settings

from chassis.columns import is_ascii_digits

__all__ = [
    "PAGE_PARAMETERS",
    "KnownQueryParameters",
    "positive_int_param",
    "routed_views",
    "unknown_query_parameters",
]

# What chassis.pagination.CursorPagination and chassis.keyset.KeysetPaginator read.
PAGE_PARAMETERS = ("cursor", "page_size")
_PAGINATION_ATTRIBUTES = (
    "cursor_query_param",
    "page_query_param",
    "page_size_query_param",
    "limit_query_param",
    "offset_query_param",
)


class KnownQueryParameters:
    """DRF view mixin: a 400 for any query parameter the view does not know (see module)."""

    query_parameters: tuple[str, ...] = ()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        if not self._handles(request):
            return  # the 405 for a method the view does not have comes first
        unknown = unknown_query_parameters(request, self.known_query_parameters(request))
        if unknown:
            raise exceptions.ValidationError(
                {
                    "__all__": [
                        exceptions.ErrorDetail(f"Unknown query parameter {name!r}.", "unknown")
                        for name in unknown
                    ]
                }
            )

    def _handles(self, request: Request) -> bool:
        method = (request.method or "").lower()
        return method in getattr(self, "http_method_names", ()) and hasattr(self, method)

    def known_query_parameters(self, request: Request) -> set[str]:
        known = {api_settings.URL_FORMAT_OVERRIDE} - {None}
        if request.method not in permissions.SAFE_METHODS:
            return known
        known.update(self.query_parameters)
        filterset_class = getattr(self, "filterset_class", None)
        if filterset_class is not None:
            known.update(filterset_class.base_filters)
        pagination_class = getattr(self, "pagination_class", None)
        if pagination_class is not None:
            for attribute in _PAGINATION_ATTRIBUTES:
                name = getattr(pagination_class, attribute, None)
                if name:
                    known.add(name)
        return known


def positive_int_param(request: Request, name: str, *, default: int, maximum: int) -> int:
    """The query parameter ``name`` as a positive integer of ASCII digits, capped at
    ``maximum`` (``default`` when absent); anything else is a 400. (``str.isdigit()`` alone
    accepts ``"¹"``, which ``int()`` refuses with a 500.)"""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    digits = raw.lstrip("0")
    if not is_ascii_digits(raw) or not digits:
        message = "A positive integer is required."
        raise exceptions.ValidationError({name: [message]}, code="invalid")
    # Above the maximum anyway; int() refuses more than 4300 digits (a 500).
    return maximum if len(digits) > len(str(maximum)) else min(int(digits), maximum)


def unknown_query_parameters(request: Request, known: set[str]) -> list[str]:
    """The names in ``request``'s query string that are not in ``known``, sorted."""
    return sorted(set(request.query_params) - known)


def routed_views(module: str, patterns: list[Any] | None = None) -> list[type]:
    """The class-based views of ``module`` the URLconf routes (once per route), to check
    that the rule covers every one of them (``issubclass(view, KnownQueryParameters)``)."""
    views: list[type] = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            views += routed_views(module, pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            view = getattr(pattern.callback, "cls", None)  # as_view() records its class
            if view is not None and view.__module__ == module:
                views.append(view)
    return views
