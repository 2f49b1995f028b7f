"""Reads: the public product list and detail (the hot path), categories and the ledger.

The list is built for a million products: ``.values()`` rows (no model instances), one
query per page with keyset pagination on an index of every offered ordering, a generated
and GIN-indexed search column, and sub-category filtering inside that same query (a
recursive CTE). It never counts the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chassis.keyset import Ordering
from django.contrib.postgres.search import SearchQuery
from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from catalog.models import SEARCH_CONFIG, Category, Product, StockMovement

# Public ordering names -> the indexed column they sort on (ties broken by id).
PRODUCT_ORDERINGS = {
    "name": Ordering("name"),
    "-name": Ordering("name", descending=True),
    "price": Ordering("price"),
    "-price": Ordering("price", descending=True),
    "newest": Ordering("created_at", descending=True),
    "oldest": Ordering("created_at"),
}
CATEGORY_ORDERINGS = {"name": Ordering("name")}

PRODUCT_LIST_FIELDS = (
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
PRODUCT_DETAIL_FIELDS = (*PRODUCT_LIST_FIELDS, "description", "is_active")

# The category and all its descendants; UNION (not UNION ALL) ends even on a cycle.
SUBTREE_SQL = (
    "WITH RECURSIVE subtree(id) AS ("
    " SELECT id FROM catalog_category WHERE id = %s"
    " UNION SELECT c.id FROM catalog_category c JOIN subtree s ON c.parent_id = s.id"
    ") SELECT id FROM subtree"
)


@dataclass(frozen=True)
class ProductFilters:
    q: str = ""
    category_id: int | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None


def category_id_by_slug(*, slug: str) -> int | None:
    return Category.objects.filter(slug=slug).values_list("id", flat=True).first()


def product_search(queryset: QuerySet[Any], text: str) -> QuerySet[Any]:
    """Full-text match on PostgreSQL (web-search syntax: words, "phrases", -not, or);
    every word as a substring elsewhere (the embedded SQLite fallback)."""
    if connection.vendor == "postgresql":
        query = SearchQuery(text, config=SEARCH_CONFIG, search_type="websearch")
        return queryset.filter(search_document=query)
    for word in text.lower().split():
        queryset = queryset.filter(search_document__contains=word)
    return queryset


def product_list(*, filters: ProductFilters) -> QuerySet[Any]:
    """Active products matching ``filters``, as ``.values()`` rows (unordered: the
    paginator orders and seeks)."""
    queryset = Product.objects.filter(is_active=True)
    if filters.category_id is not None:
        subtree = RawSQL(SUBTREE_SQL, (filters.category_id,))  # noqa: S611 - a bound parameter
        queryset = queryset.filter(category_id__in=subtree)
    if filters.min_price is not None:
        queryset = queryset.filter(price__gte=filters.min_price)
    if filters.max_price is not None:
        queryset = queryset.filter(price__lte=filters.max_price)
    if filters.in_stock is True:
        queryset = queryset.filter(stock__gt=0)
    elif filters.in_stock is False:
        queryset = queryset.filter(stock=0)
    if filters.q:
        queryset = product_search(queryset, filters.q)
    return queryset.values(*PRODUCT_LIST_FIELDS).order_by()


def product_detail(*, include_inactive: bool = False, **lookup: Any) -> dict[str, Any] | None:
    """One product row by ``id=`` or ``slug=`` (active only unless ``include_inactive``)."""
    queryset = Product.objects.filter(**lookup)
    if not include_inactive:
        queryset = queryset.filter(is_active=True)
    return queryset.values(*PRODUCT_DETAIL_FIELDS).first()


def product_get(*, product_id: int) -> Product | None:
    return Product.objects.select_related("category").filter(pk=product_id).first()


def category_get(*, category_id: int) -> Category | None:
    return Category.objects.select_related("parent").filter(pk=category_id).first()


def category_list() -> QuerySet[Any]:
    return Category.objects.values("id", "name", "slug", "parent_id", "parent__slug").order_by()


def category_tree() -> list[dict[str, Any]]:
    """Every category, nested under its parent, siblings by name: one query."""
    rows = list(Category.objects.values("id", "name", "slug", "parent_id").order_by("name", "id"))
    nodes: dict[int, dict[str, Any]] = {row["id"]: {**row, "children": []} for row in rows}
    roots: list[dict[str, Any]] = []
    for row in rows:
        node = nodes[row["id"]]
        parent = nodes.get(row["parent_id"]) if row["parent_id"] is not None else None
        (parent["children"] if parent is not None else roots).append(node)
    for node in nodes.values():
        del node["parent_id"]
    return roots


def stock_movements(*, product_id: int) -> QuerySet[StockMovement]:
    return StockMovement.objects.filter(product_id=product_id)
