"""The floor: what the product list and detail cost with plain Django and nothing else.

Hand-written on purpose (no DRF, no serializer, nothing imported from catalog's selectors or
APIs): the same ``.values()`` query as catalog-service builds (same filters in the same order,
the same sub-category CTE, the same ``(field, id)`` keyset seek, ORDER BY and LIMIT), the same
cursor format, and the same JSON rendered with orjson. Only what a request must do is here;
invalid input is a bare 400. The benchmark checks that both return byte-identical results.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from catalog.models import Category, Product
from django.contrib.postgres.search import SearchQuery
from django.db.models import F
from django.db.models.expressions import RawSQL
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest

ORDERINGS = {  # public name -> (column, descending)
    "name": ("name", False),
    "-name": ("name", True),
    "price": ("price", False),
    "-price": ("price", True),
    "newest": ("created_at", True),
    "oldest": ("created_at", False),
}
FIELDS = (
    "id",
    "sku",
    "name",
    "slug",
    "price",
    "currency",
    "stock",
    "category_id",
    "category__slug",
    "category__name",
    "created_at",
    "updated_at",
)
DETAIL_FIELDS = (*FIELDS, "description", "is_active")
SUBTREE_SQL = (
    "WITH RECURSIVE subtree(id) AS ("
    " SELECT id FROM catalog_category WHERE id = %s"
    " UNION SELECT c.id FROM catalog_category c JOIN subtree s ON c.parent_id = s.id"
    ") SELECT id FROM subtree"
)


def _item(row: dict[str, Any]) -> dict[str, Any]:
    category_id = row["category_id"]
    return {
        "id": row["id"],
        "sku": row["sku"],
        "name": row["name"],
        "slug": row["slug"],
        "price": str(row["price"]),
        "currency": row["currency"],
        "stock": row["stock"],
        "in_stock": row["stock"] > 0,
        "category": (
            {"id": category_id, "slug": row["category__slug"], "name": row["category__name"]}
            if category_id is not None
            else None
        ),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _json(data: Any) -> HttpResponse:
    body = orjson.dumps(data, option=orjson.OPT_UTC_Z)
    return HttpResponse(body, content_type="application/json")


def _link(request: HttpRequest, name: str, field: str, row: dict[str, Any], back: bool) -> str:
    value = row[field]
    key = [value.isoformat() if hasattr(value, "isoformat") else str(value), row["id"]]
    payload = json.dumps({"o": name, "k": key, "r": back}, separators=(",", ":"))
    token = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    scheme, netloc, path, query, fragment = urlsplit(request.build_absolute_uri())
    params = dict(parse_qsl(query, keep_blank_values=True))
    params["cursor"] = token
    return urlunsplit((scheme, netloc, path, urlencode(sorted(params.items())), fragment))


def product_list(request: HttpRequest) -> HttpResponse:
    params = request.GET
    ordering = params.get("ordering", "name")
    if ordering not in ORDERINGS:
        return HttpResponseBadRequest()
    field, descending = ORDERINGS[ordering]
    try:
        size = min(int(params.get("page_size", "20")), 100)
        queryset = Product.objects.filter(is_active=True)
        if slug := params.get("category"):
            found = Category.objects.filter(slug=slug).values_list("id", flat=True).first()
            if found is None:
                return HttpResponseBadRequest()
            queryset = queryset.filter(category_id__in=RawSQL(SUBTREE_SQL, (found,)))  # noqa: S611
        if "min_price" in params:
            queryset = queryset.filter(price__gte=Decimal(params["min_price"]))
        if "max_price" in params:
            queryset = queryset.filter(price__lte=Decimal(params["max_price"]))
        if params.get("in_stock") == "true":
            queryset = queryset.filter(stock__gt=0)
        elif params.get("in_stock") == "false":
            queryset = queryset.filter(stock=0)
        if text := params.get("q"):
            query = SearchQuery(text, config="english", search_type="websearch")
            queryset = queryset.filter(search_document=query)
        queryset = queryset.values(*FIELDS).order_by()
        back = False
        if raw := params.get("cursor"):
            data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
            if data["o"] != ordering:
                return HttpResponseBadRequest()
            back = data["r"] is True
            key = (Product._meta.get_field(field).to_python(data["k"][0]), int(data["k"][1]))
            seek = TupleLessThan if descending != back else TupleGreaterThan
            queryset = queryset.filter(seek(Tuple(F(field), F("id")), key))
    except (ValueError, KeyError, TypeError, ArithmeticError):
        return HttpResponseBadRequest()
    prefix = "-" if descending != back else ""
    rows = list(queryset.order_by(prefix + field, prefix + "id")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if back:
        rows.reverse()
    if not rows:
        return _json({"next": None, "previous": None, "results": []})
    after = more if not back else raw is not None
    before = raw is not None if not back else more
    return _json(
        {
            "next": _link(request, ordering, field, rows[-1], False) if after else None,
            "previous": _link(request, ordering, field, rows[0], True) if before else None,
            "results": [_item(row) for row in rows],
        }
    )


def product_detail(request: HttpRequest, product_id: int) -> HttpResponse:
    row = Product.objects.filter(id=product_id).values(*DETAIL_FIELDS).first()
    if row is None or not row["is_active"]:
        raise Http404
    data = _item(row)
    data["description"] = row["description"]
    data["is_active"] = row["is_active"]
    return _json(data)
