"""orders.services called directly: the largest orders fit their columns, and the services
other services' events call lock and write in their own transaction when no caller opened
one (the saga's steps: tests/test_saga.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from chassis.pytest_plugin import USER_ID
from django.utils import timezone

from orders import accounts, services
from orders.models import Order, Product, Status
from tests.events import outbox
from tests.factories import ProductFactory, order_with_lines

LARGEST_PRICE = Decimal("9999999999.99")  # catalog's price pattern: 10 digits, 2 places


@pytest.mark.django_db
def test_the_largest_possible_order_fits(highest_limits: None):
    products = ProductFactory.create_batch(50, price=LARGEST_PRICE)
    lines = [services.LineRequest(product_id=p.pk, quantity=1000) for p in products]

    order = services.order_place(user_id=USER_ID, user_email="", lines=lines)

    order.refresh_from_db()
    assert order.total == Decimal("499999999999500.00")  # 50 x 9 999 999 999 990.00
    assert {line.line_total for line in order.lines.all()} == {Decimal("9999999999990.00")}
    assert outbox("order.placed")[0]["lines"][0]["unit_price"] == "9999999999.99"


@pytest.mark.django_db
def test_the_largest_order_through_the_api(highest_limits: None, user_client):
    product = ProductFactory(price=LARGEST_PRICE)

    response = user_client.post(
        "/api/v1/orders/",
        {"lines": [{"product_id": product.pk, "quantity": 1000}]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="big-1",
    )

    assert response.status_code == 201, response.content
    assert response.json()["total"] == "9999999999990.00"


def test_request_hash_ignores_key_order_not_line_order():
    a = {"lines": [{"product_id": 1, "quantity": 2}, {"product_id": 3, "quantity": 4}]}
    b = {"lines": [{"quantity": 2, "product_id": 1}, {"quantity": 4, "product_id": 3}]}
    c = {"lines": [{"product_id": 3, "quantity": 4}, {"product_id": 1, "quantity": 2}]}

    assert services.request_hash(a) == services.request_hash(b)
    assert services.request_hash(a) != services.request_hash(c)
    assert len(services.request_hash(a)) == 64


# --- outside a caller's transaction (autocommit: select_for_update needs its own) -----------


@pytest.mark.django_db(transaction=True)
def test_account_status_apply_runs_in_its_own_transaction():
    order_with_lines((ProductFactory(), 1))
    order_with_lines((ProductFactory(), 1), status=Status.CONFIRMED)

    assert accounts.account_status_apply(user_id=USER_ID, active=False, at=timezone.now()) == 2

    assert set(Order.objects.values_list("status", flat=True)) == {Status.CANCELLED}


@pytest.mark.django_db(transaction=True)
def test_product_snapshot_apply_runs_in_its_own_transaction():
    payload = {
        "product_id": 7,
        "sku": "S-7",
        "name": "Seven",
        "price": "7.00",
        "currency": "EUR",
        "is_active": True,
        "updated_at": "2025-01-01T00:00:00Z",
    }

    assert services.product_snapshot_apply(payload=payload) is True
    assert services.product_snapshot_apply(payload={**payload, "price": "8.00"}) is True

    assert Product.objects.get(pk=7).price == Decimal("8.00")


@pytest.mark.django_db
@pytest.mark.parametrize("stamp", ["2025-01-01T00:00:00", "yesterday", "2025-02-30T00:00:00Z"])
def test_a_timestamp_without_an_instant_is_refused(stamp: str):
    payload = {
        "product_id": 7,
        "sku": "S-7",
        "name": "Seven",
        "price": "7.00",
        "currency": "EUR",
        "is_active": True,
        "updated_at": stamp,
    }

    # Django's parser refuses an impossible date itself; the service refuses the rest.
    with pytest.raises(ValueError, match=r"is not a date-time|day is out of range for month"):
        services.product_snapshot_apply(payload=payload)

    assert Product.objects.count() == 0
