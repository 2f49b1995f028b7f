"""Cursor pagination for every list endpoint: stable under writes, no COUNT(*).

Bad paging input is bad input: a malformed ``cursor`` or a ``page_size`` that is not a
positive integer is a 400 in the problem shape (DRF answers 404 / silently uses the default).
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, pagination
from rest_framework.request import Request

__all__ = ["CursorPagination"]


class CursorPagination(pagination.CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering: str | tuple[str, ...] = "-created_at"
    invalid_cursor_message = "Invalid cursor."

    def decode_cursor(self, request: Request) -> Any:
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound as exc:
            raise exceptions.ValidationError(
                {self.cursor_query_param: [self.invalid_cursor_message]}, code="invalid"
            ) from exc

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or int(raw) < 1:
            raise exceptions.ValidationError(
                {self.page_size_query_param: ["A positive integer is required."]}, code="invalid"
            )
        return min(int(raw), self.max_page_size)
