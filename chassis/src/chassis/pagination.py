"""Cursor pagination for every list endpoint: stable under writes, no COUNT(*).

Bad paging input is bad input: a malformed ``cursor`` or a ``page_size`` that is not a
positive integer is a 400 in the problem shape (DRF answers 404 / silently uses the default),
and so is a cursor whose position the ordering's column cannot hold (:mod:`chassis.columns`:
DRF puts it in the query as it comes, and PostgreSQL, or Django, fails with a 500).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, pagination
from rest_framework.request import Request

from chassis.columns import column_value
from chassis.query import positive_int_param

__all__ = ["CursorPagination"]


class CursorPagination(pagination.CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering: str | tuple[str, ...] = "-created_at"
    invalid_cursor_message = "Invalid cursor."

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        self._model = queryset.model  # decode_cursor checks the position against its field
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request: Request) -> Any:
        try:
            cursor = super().decode_cursor(request)
            if cursor is None or cursor.position is None:
                return cursor
            field = self._model._meta.get_field(self.ordering[0].lstrip("-"))
            position = column_value(field, cursor.position)
            if isinstance(position, datetime):
                if position.tzinfo is None:
                    raise ValueError("a cursor's time carries its offset, as the links make them")
                # DRF's stubs say the position is an int: it is the ordering field's text.
                return cursor._replace(position=position.isoformat())  # type: ignore[arg-type]
            return cursor
        except (exceptions.NotFound, ValueError, DjangoValidationError) as exc:
            raise exceptions.ValidationError(
                {self.cursor_query_param: [self.invalid_cursor_message]}, code="invalid"
            ) from exc

    def get_page_size(self, request: Request) -> int:
        return positive_int_param(
            request, self.page_size_query_param, default=self.page_size, maximum=self.max_page_size
        )
