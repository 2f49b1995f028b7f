"""Assertions and helpers shared by the tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.db.models import Sum

from catalog.models import Category, Product, StockMovement

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_KEYS = {"type", "title", "status", "detail", "errors", "correlation_id"}
API = "/api/v1/catalog"
PRODUCTS = f"{API}/products/"
CATEGORIES = f"{API}/categories/"


def assert_problem(
    response: Any,
    status: int,
    code: str,
    *,
    detail: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Assert ``response`` is the one error shape with ``status`` and problem type ``code``.

    ``errors``, when given, must equal the body's errors exactly. Returns the body.
    """
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    body = json.loads(response.content)
    assert set(body) == PROBLEM_KEYS
    assert body["type"] == f"urn:problem-type:{code}"
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    for item in body["errors"]:
        assert set(item) == {"field", "code", "message"}
    if detail is not None:
        assert body["detail"] == detail
    if errors is not None:
        assert body["errors"] == errors
    assert body["correlation_id"] == response["X-Request-ID"]
    return body


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


def in_threads(*calls: Callable[[], Any]) -> list[Any]:
    """Run ``calls`` at once (a barrier), each in its own thread and database connection;
    returns each call's result or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = calls[index]()
        except Exception as exc:  # reported by the assertions of the test
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results
