"""Assertions and helpers shared by the tests."""

from __future__ import annotations

from typing import Any

from chassis.testing import PROBLEM_CONTENT_TYPE, assert_problem, in_threads
from django.db.models import Sum

from catalog.models import Category, Product, StockMovement

API = "/api/v1/catalog"
PRODUCTS = f"{API}/products/"
CATEGORIES = f"{API}/categories/"


def row_counts() -> dict[str, int]:
    """Rows the write endpoints can touch: asserted unchanged after bad input."""
    return {model.__name__: model.objects.count() for model in (Category, Product, StockMovement)}


def iso(value: Any) -> str:
    """A datetime as the API renders it (RFC 3339, Z)."""
    return value.isoformat().replace("+00:00", "Z")


def product_json(product: Product, *, detail: bool = False) -> dict[str, Any]:
    """The expected list item (or detail) body of ``product``."""
    product.refresh_from_db()
    category = product.category
    data: dict[str, Any] = {
        "id": product.pk,
        "sku": product.sku,
        "name": product.name,
        "slug": product.slug,
        "price": f"{product.price:.2f}",
        "currency": product.currency,
        "stock": product.stock,
        "in_stock": product.stock > 0,
        "category": (
            {"id": category.pk, "slug": category.slug, "name": category.name} if category else None
        ),
        "created_at": iso(product.created_at),
        "updated_at": iso(product.updated_at),
    }
    if detail:
        data["description"] = product.description
        data["is_active"] = product.is_active
    return data


def ids(response: Any) -> list[int]:
    return [item["id"] for item in response.json()["results"]]


def assert_ledger_consistent() -> None:
    """For every product: stock == sum of its movements, and each movement's stock_after is
    the running sum in write (id) order."""
    for product in Product.objects.all():
        movements = list(product.movements.order_by("id"))
        total = product.movements.aggregate(total=Sum("delta"))["total"] or 0
        assert product.stock == total, product
        running = 0
        for movement in movements:
            running += movement.delta
            assert movement.stock_after == running, movement


__all__ = ["PROBLEM_CONTENT_TYPE", "assert_problem", "in_threads"]
