"""orders.saga called directly: each step locks and writes in its own transaction when no
caller opened one, and an answer for an order that is not PENDING (or not there) changes
nothing. (Through the consumer, with the inbox: tests/test_handlers.py.)"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from orders import saga
from orders.models import Order, Status
from tests.factories import ProductFactory, order_with_lines
from tests.utils import row_counts


@pytest.mark.django_db(transaction=True)
def test_order_confirm_runs_in_its_own_transaction():
    lamp = ProductFactory(price=Decimal("19.90"))
    order = order_with_lines((lamp, 2))

    confirmed = saga.order_confirm(
        order_id=order.pk,
        lines=[{"product_id": lamp.pk, "quantity": 2, "unit_price": "18.00"}],
    )

    order.refresh_from_db()
    assert (confirmed, order.status, order.total) == (True, Status.CONFIRMED, Decimal("36.00"))


@pytest.mark.django_db(transaction=True)
def test_order_reject_runs_in_its_own_transaction():
    order = order_with_lines((ProductFactory(), 1))
    reasons = [{"product_id": 1, "code": "unknown-product", "requested": 1, "available": 0}]

    assert saga.order_reject(order_id=order.pk, reasons=reasons) is True

    order.refresh_from_db()
    assert (order.status, order.rejection_reasons) == (Status.REJECTED, reasons)


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Status.CANCELLED, Status.CONFIRMED, Status.REJECTED])
def test_a_late_answer_changes_nothing(status):
    lamp = ProductFactory(price=Decimal("19.90"))
    order = order_with_lines((lamp, 2), status=status)
    before = list(Order.objects.values())
    lines = [{"product_id": lamp.pk, "quantity": 2, "unit_price": "18.00"}]

    assert saga.order_confirm(order_id=order.pk, lines=lines) is False
    assert saga.order_reject(order_id=order.pk, reasons=[]) is False

    assert list(Order.objects.values()) == before
    assert list(order.lines.values_list("unit_price", flat=True)) == [Decimal("19.90")]


@pytest.mark.django_db
def test_an_answer_for_an_unknown_order_changes_nothing():
    assert saga.order_confirm(order_id=uuid.uuid4(), lines=[]) is False
    assert saga.order_reject(order_id=uuid.uuid4(), reasons=[]) is False

    assert row_counts() == {
        "Order": 0,
        "OrderLine": 0,
        "Product": 0,
        "IdempotencyKey": 0,
        "OutboxEvent": 0,
        "InboxEvent": 0,
    }
