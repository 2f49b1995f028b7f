"""Assertions and helpers shared by the tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from chassis.events.models import InboxEvent, OutboxEvent
from django.db import connections

from orders.models import IdempotencyKey, Order, OrderLine, Product

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_KEYS = {"type", "title", "status", "detail", "errors", "correlation_id"}
ORDERS = "/api/v1/orders/"


def assert_problem(
    response: Any,
    status: int,
    code: str,
    *,
    title: str | None = None,
    detail: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Assert ``response`` is the one error shape with ``status`` and problem type ``code``;
    ``title``, ``detail`` and ``errors``, when given, must be equal. Returns the body."""
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
    if title is not None:
        assert body["title"] == title
    if detail is not None:
        assert body["detail"] == detail
    if errors is not None:
        assert body["errors"] == errors
    assert body["correlation_id"] == response["X-Request-ID"]
    return body


def row_counts() -> dict[str, int]:
    """Rows a request or an event can write: asserted unchanged after a refusal."""
    models = (Order, OrderLine, Product, IdempotencyKey, OutboxEvent, InboxEvent)
    return {model.__name__: model.objects.count() for model in models}


def iso(value: Any) -> str:
    """A datetime as the API renders it (RFC 3339, Z)."""
    return value.isoformat().replace("+00:00", "Z")


def order_json(order: Order) -> dict[str, Any]:
    """The expected API body of ``order``, from its rows."""
    order.refresh_from_db()
    return {
        "id": str(order.id),
        "user_id": order.user_id,
        "status": order.status,
        "currency": order.currency,
        "total": f"{order.total:.2f}",
        "lines": [
            {
                "product_id": line.product_id,
                "sku": line.sku,
                "name": line.name,
                "unit_price": f"{line.unit_price:.2f}",
                "quantity": line.quantity,
                "line_total": f"{line.line_total:.2f}",
            }
            for line in order.lines.order_by("id")
        ],
        "rejection_reasons": order.rejection_reasons,
        "cancel_reason": order.cancel_reason,
        "created_at": iso(order.created_at),
        "updated_at": iso(order.updated_at),
    }


def ids(response: Any) -> list[str]:
    return [item["id"] for item in response.json()["results"]]


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
    assert not any(thread.is_alive() for thread in threads)
    return results
