"""orders.metrics: the saga's PENDING -> final time and outcomes, recorded once the step's
transaction commits, never for a late answer or a rolled-back step."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from prometheus_client import REGISTRY

from orders import saga
from orders.models import Order
from tests.factories import ProductFactory, order_with_lines


def sample(name: str, status: str) -> float:
    return REGISTRY.get_sample_value(name, {"status": status}) or 0.0


def snapshot() -> dict[str, float]:
    return {
        f"{status} {name}": sample(name, status)
        for status in ("CONFIRMED", "REJECTED")
        for name in ("orders_saga_outcomes_total", "orders_saga_duration_seconds_count")
    }


def placed_seconds_ago(order: Order, seconds: float) -> None:
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))


@pytest.mark.django_db(transaction=True)
def test_confirmed_and_rejected_orders_are_timed_from_placement():
    lamp = ProductFactory(price=Decimal("19.90"))
    confirmed, rejected = order_with_lines((lamp, 1)), order_with_lines((lamp, 1))
    placed_seconds_ago(confirmed, 3)
    placed_seconds_ago(rejected, 20)
    before = snapshot()
    le_5 = REGISTRY.get_sample_value(
        "orders_saga_duration_seconds_bucket", {"status": "CONFIRMED", "le": "5.0"}
    )

    assert saga.order_confirm(order_id=confirmed.pk, lines=[]) is True
    assert saga.order_reject(order_id=rejected.pk, reasons=[]) is True
    assert saga.order_confirm(order_id=confirmed.pk, lines=[]) is False  # late: not counted

    after = snapshot()
    assert {k: after[k] - before[k] for k in after} == {k: 1.0 for k in after}
    assert (
        REGISTRY.get_sample_value(
            "orders_saga_duration_seconds_bucket", {"status": "CONFIRMED", "le": "5.0"}
        )
        - (le_5 or 0.0)
        == 1
    )
    # 20 s for the rejected one: above its 10 s bucket, within 30 s
    assert (
        REGISTRY.get_sample_value(
            "orders_saga_duration_seconds_bucket", {"status": "REJECTED", "le": "10.0"}
        )
        == REGISTRY.get_sample_value(
            "orders_saga_duration_seconds_bucket", {"status": "REJECTED", "le": "30.0"}
        )
        - 1
    )


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_step_is_not_an_outcome():
    order = order_with_lines((ProductFactory(), 1))
    before = snapshot()

    def confirm_then_fail() -> None:
        with transaction.atomic():
            saga.order_confirm(order_id=order.pk, lines=[])
            raise RuntimeError("the handler failed after the step")

    with pytest.raises(RuntimeError):
        confirm_then_fail()
    assert snapshot() == before
    assert Order.objects.get(pk=order.pk).status == "PENDING"
