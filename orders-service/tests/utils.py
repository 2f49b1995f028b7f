"""Assertions and helpers shared by the tests."""

from __future__ import annotations

from typing import Any

from chassis.events.models import InboxEvent, OutboxEvent
from chassis.testing import PROBLEM_CONTENT_TYPE, assert_problem, in_threads

from orders.models import IdempotencyKey, Order, OrderLine, Product

ORDERS = "/api/v1/orders/"


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


__all__ = ["PROBLEM_CONTENT_TYPE", "assert_problem", "in_threads"]
