"""POST /api/v1/orders/: an order from the product read model, PENDING, with order.placed in
the outbox; unknown or inactive products and several currencies are refused (422) and write
nothing (bad input and credentials: test_bad_input.py; the shop's limits: test_limits.py);
placing is rate-limited per account."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from chassis.pytest_plugin import USER_ID
from rest_framework.test import APIClient

from orders.models import IdempotencyKey, Order, OrderLine, Product, Status
from tests.events import outbox
from tests.factories import ProductFactory
from tests.utils import ORDERS, assert_problem, iso, order_json, row_counts

pytestmark = pytest.mark.django_db

KEY = "0b5e4a3c-2d1f-4e6a-9b8c-7d6e5f4a3b2c"
NOTHING = {
    "Order": 0,
    "OrderLine": 0,
    "Product": 2,
    "IdempotencyKey": 0,
    "OutboxEvent": 0,
    "InboxEvent": 0,
}


def place(client: APIClient, body: Any, key: str | None = KEY, **extra: Any) -> Any:
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(ORDERS, body, format="json", **headers, **extra)


def lines(*pairs: tuple[int, int]) -> dict[str, Any]:
    return {"lines": [{"product_id": pid, "quantity": qty} for pid, qty in pairs]}


# --- placing -------------------------------------------------------------------------------


def test_placing_an_order(user_client: APIClient, lamp: Product, kettle: Product):
    response = place(user_client, lines((lamp.pk, 2), (kettle.pk, 1)))

    assert response.status_code == 201, response.content
    order = Order.objects.get()
    assert response.json() == {
        "id": str(order.id),
        "user_id": USER_ID,
        "status": "PENDING",
        "currency": "EUR",
        "total": "64.30",
        "lines": [
            {
                "product_id": 11,
                "sku": "LAMP-1",
                "name": "Desk Lamp",
                "unit_price": "19.90",
                "quantity": 2,
                "line_total": "39.80",
            },
            {
                "product_id": 12,
                "sku": "KETTLE-1",
                "name": "Kettle",
                "unit_price": "24.50",
                "quantity": 1,
                "line_total": "24.50",
            },
        ],
        "rejection_reasons": [],
        "cancel_reason": "",
        "created_at": iso(order.created_at),
        "updated_at": iso(order.updated_at),
    }
    assert response.json() == order_json(order)
    assert response["Location"] == f"/api/v1/orders/{order.id}"
    assert "Idempotent-Replayed" not in response
    assert (order.status, order.user_id, order.user_email, order.total) == (
        Status.PENDING,
        USER_ID,
        "buyer@example.com",
        Decimal("64.30"),
    )
    assert outbox("order.placed") == [
        {
            "order_id": str(order.id),
            "user_id": USER_ID,
            "currency": "EUR",
            "lines": [
                {"product_id": 11, "sku": "LAMP-1", "quantity": 2, "unit_price": "19.90"},
                {"product_id": 12, "sku": "KETTLE-1", "quantity": 1, "unit_price": "24.50"},
            ],
        }
    ]
    key = IdempotencyKey.objects.get()
    assert (key.user_id, key.key, key.order, key.response_status, key.response_body) == (
        USER_ID,
        KEY,
        order,
        201,
        response.json(),
    )


def test_the_order_keeps_the_prices_it_was_placed_at(user_client: APIClient, lamp: Product):
    response = place(user_client, lines((lamp.pk, 3)))
    Product.objects.filter(pk=lamp.pk).update(price=Decimal("99.00"), name="Renamed")

    order = Order.objects.get(pk=response.json()["id"])
    assert order_json(order)["lines"][0] == {
        "product_id": 11,
        "sku": "LAMP-1",
        "name": "Desk Lamp",
        "unit_price": "19.90",
        "quantity": 3,
        "line_total": "59.70",
    }
    assert order.total == Decimal("59.70")


def test_quantity_bounds_are_accepted(
    highest_limits: None, user_client: APIClient, lamp: Product, kettle: Product
):
    response = place(user_client, lines((lamp.pk, 1), (kettle.pk, 1000)))

    assert response.status_code == 201, response.content
    assert response.json()["total"] == "24519.90"
    assert [line["quantity"] for line in response.json()["lines"]] == [1, 1000]


def test_fifty_lines_are_accepted(highest_limits: None, user_client: APIClient):
    products = ProductFactory.create_batch(50, price=Decimal("1.25"))

    response = place(user_client, lines(*((p.pk, 2) for p in products)))

    assert response.status_code == 201, response.content
    assert response.json()["total"] == "125.00"
    assert OrderLine.objects.count() == 50
    assert len(outbox("order.placed")[0]["lines"]) == 50


# --- products that cannot be ordered: 422, nothing written ---------------------------------


def test_an_unknown_product_is_refused(user_client: APIClient, lamp: Product, kettle: Product):
    response = place(user_client, lines((lamp.pk, 1), (999, 1)))

    assert_problem(
        response,
        422,
        "products-unavailable",
        title="Some products cannot be ordered.",
        detail="Some lines cannot be ordered.",
        errors=[
            {
                "field": "lines.1.product_id",
                "code": "unknown-product",
                "message": "Product 999 cannot be ordered.",
            }
        ],
    )
    assert row_counts() == NOTHING


def test_inactive_and_unknown_products_each_have_their_error(
    user_client: APIClient, lamp: Product, kettle: Product
):
    Product.objects.filter(pk=kettle.pk).update(is_active=False)

    response = place(user_client, lines((kettle.pk, 1), (lamp.pk, 1), (998, 2)))

    assert_problem(
        response,
        422,
        "products-unavailable",
        errors=[
            {
                "field": "lines.0.product_id",
                "code": "inactive-product",
                "message": "Product 12 cannot be ordered.",
            },
            {
                "field": "lines.2.product_id",
                "code": "unknown-product",
                "message": "Product 998 cannot be ordered.",
            },
        ],
    )
    assert row_counts() == NOTHING


def test_several_currencies_are_refused(user_client: APIClient, lamp: Product, kettle: Product):
    Product.objects.filter(pk=kettle.pk).update(currency="USD")

    response = place(user_client, lines((lamp.pk, 1), (kettle.pk, 1)))

    assert_problem(
        response,
        422,
        "products-unavailable",
        detail="Some lines cannot be ordered.",
        errors=[{"field": "lines", "code": "mixed-currency", "message": "One currency per order."}],
    )
    assert row_counts() == NOTHING


# --- rate limit ----------------------------------------------------------------------------


def test_placing_is_rate_limited_per_user_but_reading_is_not(
    settings: Any, user_client: APIClient, staff_client: APIClient, lamp: Product
):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"order-place": "2/min"},
    }

    statuses = [place(user_client, lines((lamp.pk, 1)), key=f"k-{n}").status_code for n in range(3)]
    limited = place(user_client, lines((lamp.pk, 1)), key="k-9")

    assert statuses == [201, 201, 429]
    body = assert_problem(limited, 429, "throttled")
    assert body["detail"].startswith("Request was throttled.")
    assert int(limited["Retry-After"]) > 0
    assert place(staff_client, lines((lamp.pk, 1))).status_code == 201  # another user
    assert [user_client.get(ORDERS).status_code for _ in range(5)] == [200] * 5
    assert Order.objects.count() == 3
