"""Keyset (seek) pagination for large, hot lists: constant cost at any depth, no COUNT(*).

DRF's CursorPagination keeps one position field plus an *offset* among equal values, and
filters with ``field > value``: on a non-unique column (a price) at depth that is an index
range of half the table followed by an offset walk. Here a page is found by a row
comparison on ``(field, id)``::

    WHERE (price, id) > (19.90, 48213) ORDER BY price, id LIMIT 51

which PostgreSQL answers from an index on ``(price, id)`` by reading 51 index entries,
whatever the depth. The cursor is opaque (base64url JSON: ordering name, last key, direction)
and tied to its ordering: a cursor used with another ordering, or one that does not decode,
is a 400 in the problem shape, and so is one whose values the columns cannot hold
(:mod:`chassis.columns`: a link never makes them).

Works on ``.values()`` querysets (the fast path: no model instances); rows must include the
ordering field and the id field.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param

from chassis.columns import column_value
from chassis.query import positive_int_param

__all__ = ["CURSOR_PARAM", "PAGE_SIZE_PARAM", "KeysetPaginator", "Ordering", "Page"]

CURSOR_PARAM = "cursor"
PAGE_SIZE_PARAM = "page_size"
_INVALID_CURSOR = "Invalid cursor."


@dataclass(frozen=True)
class Ordering:
    """A public ordering name (``price``, ``-price``, ``newest``) and the column it sorts."""

    field: str
    descending: bool = False


@dataclass(frozen=True)
class Page:
    results: list[dict[str, Any]]
    next: str | None
    previous: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"next": self.next, "previous": self.previous, "results": self.results}


class KeysetPaginator:
    """Paginate a ``.values()`` queryset by ``(ordering field, id)``.

    ``orderings`` maps each public ordering name to an :class:`Ordering`; the id breaks ties
    in the same direction, so ``(field, id)`` is unique and one composite index serves both
    directions.
    """

    def __init__(
        self,
        *,
        orderings: dict[str, Ordering],
        page_size: int = 50,
        max_page_size: int = 200,
        id_field: str = "id",
    ) -> None:
        self.orderings = orderings
        self.page_size = page_size
        self.max_page_size = max_page_size
        self.id_field = id_field

    def page_size_from(self, request: Request) -> int:
        return positive_int_param(
            request, PAGE_SIZE_PARAM, default=self.page_size, maximum=self.max_page_size
        )

    def paginate(self, request: Request, queryset: QuerySet[Any], ordering: str) -> Page:
        """One page of ``queryset`` in ``ordering``: one query of ``page_size + 1`` rows."""
        order = self.orderings[ordering]
        size = self.page_size_from(request)
        cursor = self._decode(request.query_params.get(CURSOR_PARAM), ordering, queryset)
        backwards = bool(cursor and cursor["reverse"])
        descending = order.descending != backwards
        if cursor is not None:
            seek = TupleLessThan if descending else TupleGreaterThan
            key = Tuple(F(order.field), F(self.id_field))
            queryset = queryset.filter(seek(key, cursor["key"]))
        prefix = "-" if descending else ""
        rows = list(queryset.order_by(prefix + order.field, prefix + self.id_field)[: size + 1])
        has_more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()
        if not rows:
            return Page(results=[], next=None, previous=None)
        first, last = rows[0], rows[-1]
        more_after = has_more if not backwards else cursor is not None
        more_before = (cursor is not None) if not backwards else has_more
        return Page(
            results=rows,
            next=self._link(request, ordering, order, last, reverse=False) if more_after else None,
            previous=(
                self._link(request, ordering, order, first, reverse=True) if more_before else None
            ),
        )

    def _link(
        self, request: Request, name: str, order: Ordering, row: dict[str, Any], *, reverse: bool
    ) -> str:
        value = row[order.field]
        key = [value.isoformat() if hasattr(value, "isoformat") else str(value)]
        key.append(row[self.id_field])
        payload = json.dumps({"o": name, "k": key, "r": reverse}, separators=(",", ":"))
        token = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        return replace_query_param(request.build_absolute_uri(), CURSOR_PARAM, token)

    def _decode(self, raw: str | None, ordering: str, queryset: QuerySet[Any]) -> Any:
        if raw is None:
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
            if not isinstance(data, dict) or data.get("o") != ordering:
                raise ValueError("cursor of another ordering")
            value, ident = data["k"]
            if not isinstance(value, str) or not isinstance(data.get("r"), bool):
                raise ValueError("a cursor's value is text, its direction a boolean")
            model = queryset.model._meta
            field = model.get_field(self.orderings[ordering].field)
            # What the columns can hold, or PostgreSQL answers the query with an error.
            key = (column_value(field, value), column_value(model.get_field(self.id_field), ident))
            if isinstance(key[0], datetime) and key[0].tzinfo is None:
                raise ValueError("a cursor's time carries its offset, as the links make them")
        except (
            ValueError,
            TypeError,
            KeyError,
            binascii.Error,
            UnicodeDecodeError,
            DjangoValidationError,
        ) as exc:
            raise exceptions.ValidationError(
                {CURSOR_PARAM: [_INVALID_CURSOR]}, code="invalid"
            ) from exc
        return {"key": key, "reverse": data["r"]}
