"""factory_boy factories for orders-service's models.

Orders are created as rows in a given status (the status machine is tested through the
services); ``order_with_lines`` keeps an order's total equal to the sum of its lines.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import factory
from chassis.pytest_plugin import USER_ID
from factory.django import DjangoModelFactory

from orders.models import IdempotencyKey, Order, OrderLine, Product, Status

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


class ProductFactory(DjangoModelFactory):
    """A product as orders last heard of it from catalog (product.changed)."""

    class Meta:
        model = Product

    id = factory.Sequence(lambda n: 1000 + n)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"product {n:05d}")
    price = Decimal("10.00")
    currency = "EUR"
    is_active = True
    changed_at = EPOCH


class OrderFactory(DjangoModelFactory):
    class Meta:
        model = Order

    user_id = USER_ID
    user_email = "buyer@example.com"
    status = Status.PENDING
    currency = "EUR"
    total = Decimal("0.00")
    # One minute apart in creation order, so "newest first" is deterministic.
    created_at = factory.Sequence(lambda n: EPOCH + timedelta(minutes=n))


class OrderLineFactory(DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    product_id = factory.Sequence(lambda n: 1000 + n)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"product {n:05d}")
    unit_price = Decimal("10.00")
    quantity = 1
    line_total = factory.LazyAttribute(lambda line: line.unit_price * line.quantity)


class IdempotencyKeyFactory(DjangoModelFactory):
    class Meta:
        model = IdempotencyKey

    user_id = USER_ID
    key = factory.Sequence(lambda n: f"key-{n:05d}")
    request_hash = "0" * 64
    response_status = 201
    response_body = factory.LazyFunction(dict)


def order_with_lines(*lines: tuple[Product, int], **fields: Any) -> Order:
    """An order for ``(product, quantity)`` lines at the products' prices, total included."""
    order = OrderFactory(**fields)
    for product, quantity in lines:
        OrderLineFactory(
            order=order,
            product_id=product.pk,
            sku=product.sku,
            name=product.name,
            unit_price=product.price,
            quantity=quantity,
        )
    order.total = sum((line.line_total for line in order.lines.all()), Decimal(0))
    order.save(update_fields=["total"])
    return order
