"""catalog's event handlers (catalog/handlers.py) through chassis.events.consumer.handle, and
the contracts of the events catalog consumes, checked against its copy of orders' schemas
(tests/contracts/orders/, kept equal to orders-service's by a repository test)."""

from __future__ import annotations

from typing import Any

import pytest
from chassis.events.consumer import handle, handlers
from chassis.events.envelope import Envelope
from chassis.events.models import InboxEvent
from django.conf import settings

from catalog.models import Product, Reservation, StockMovement
from tests.events import CONTRACTS, assert_valid, outbox
from tests.factories import ProductFactory
from tests.utils import assert_ledger_consistent

ORDER = "9b2f7c1e-0d4a-4c8b-8f7e-2a1b3c4d5e6f"
PLACED = CONTRACTS / "orders" / "order.placed.v1.json"
CANCELLED = CONTRACTS / "orders" / "order.cancelled.v1.json"


def placed(*lines: tuple[Product, int], order_id: str = ORDER) -> Envelope:
    payload = {
        "order_id": order_id,
        "user_id": "7d0c6f7e-5b1a-4a43-9d64-0a1f6f1b0002",
        "currency": "EUR",
        "lines": [
            {"product_id": p.pk, "sku": p.sku, "quantity": q, "unit_price": f"{p.price:.2f}"}
            for p, q in lines
        ],
    }
    assert_valid(PLACED, payload)  # what orders sends, as its contract says
    return Envelope(type="order.placed", payload=payload, producer="orders", correlation_id="c-1")


def cancelled(order_id: str = ORDER) -> Envelope:
    payload = {
        "order_id": order_id,
        "user_id": "7d0c6f7e-5b1a-4a43-9d64-0a1f6f1b0002",
        "reason": "changed my mind",
    }
    assert_valid(CANCELLED, payload)
    return Envelope(type="order.cancelled", payload=payload, producer="orders")


@pytest.fixture
def lamp() -> Product:
    product = ProductFactory(stock=0)
    StockMovement.objects.create(product=product, delta=5, stock_after=5, reason="initial")
    Product.objects.filter(pk=product.pk).update(stock=5)
    product.refresh_from_db()
    return product


# --- wiring --------------------------------------------------------------------------------


def test_catalog_handles_exactly_the_types_it_consumes():
    assert sorted(handlers()) == sorted(settings.CHASSIS["EVENTS"]["CONSUMES"])
    assert sorted(settings.CHASSIS["EVENTS"]["CONSUMES"]) == ["order.cancelled", "order.placed"]


def test_the_worker_queue_is_bound_to_the_consumed_types():
    queues = {q.name: q for q in settings.CELERY_TASK_QUEUES}

    assert sorted(queues) == ["catalog", "catalog.events"]
    keys = sorted(b.routing_key for b in queues["catalog.events"].bindings)
    assert keys == ["order.cancelled", "order.placed"]
    assert settings.CELERY_BEAT_SCHEDULE["events-outbox-sweep"]["task"] == (
        "chassis.events.outbox_sweep"
    )


# --- handling ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_order_placed_reserves_and_answers_stock_reserved(lamp: Product):
    assert handle(placed((lamp, 2))) is True

    lamp.refresh_from_db()
    assert lamp.stock == 3
    assert outbox("stock.reserved") == [
        {
            "order_id": ORDER,
            "currency": "EUR",
            "lines": [{"product_id": lamp.pk, "quantity": 2, "unit_price": f"{lamp.price:.2f}"}],
        }
    ]


@pytest.mark.django_db
def test_a_redelivered_order_placed_reserves_once(lamp: Product):
    event = placed((lamp, 2))

    assert handle(event) is True
    assert handle(event) is False  # the same event id again

    lamp.refresh_from_db()
    assert lamp.stock == 3
    assert StockMovement.objects.filter(reason="reservation").count() == 1
    assert len(outbox("stock.reserved")) == 1
    assert list(InboxEvent.objects.values_list("event_id", flat=True)) == [event.id]


@pytest.mark.django_db
def test_order_cancelled_releases_once(lamp: Product):
    handle(placed((lamp, 2)))
    event = cancelled()

    assert handle(event) is True
    assert handle(event) is False
    assert handle(cancelled()) is True  # a second cancellation (another event id)

    lamp.refresh_from_db()
    assert lamp.stock == 5
    assert StockMovement.objects.filter(reason="release").count() == 1
    assert Reservation.objects.get().status == "released"
    assert_ledger_consistent()


@pytest.mark.django_db
def test_a_cancellation_overtaking_its_order(lamp: Product):
    assert handle(cancelled()) is True
    assert handle(placed((lamp, 2))) is True

    lamp.refresh_from_db()
    assert lamp.stock == 5
    assert outbox("stock.rejected") == [
        {
            "order_id": ORDER,
            "reasons": [
                {"product_id": lamp.pk, "code": "order-cancelled", "requested": 2, "available": 0}
            ],
        }
    ]


@pytest.mark.django_db
def test_a_payload_without_the_contracts_fields_fails_and_leaves_nothing(lamp: Product):
    event = Envelope(type="order.placed", payload={"order_id": ORDER}, producer="orders")

    with pytest.raises(KeyError):
        handle(event)

    assert (InboxEvent.objects.count(), Reservation.objects.count()) == (0, 0)


# --- consumer-side contracts ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"lines": []}, "should be non-empty"),
        ({"currency": "eur"}, "does not match"),
        ({"order_id": "not-a-uuid"}, "is not a 'uuid'"),
        ({"extra": 1}, "Additional properties"),
    ],
)
def test_the_order_placed_contract_refuses_what_catalog_cannot_handle(change, error):
    payload: dict[str, Any] = {
        "order_id": ORDER,
        "user_id": "u-1",
        "currency": "EUR",
        "lines": [{"product_id": 1, "sku": "S", "quantity": 1, "unit_price": "1.00"}],
    }
    assert_valid(PLACED, payload)

    with pytest.raises(AssertionError, match=error):
        assert_valid(PLACED, {**payload, **change})


def test_the_contract_copies_are_the_versions_catalog_consumes():
    assert sorted(p.name for p in (CONTRACTS / "orders").iterdir()) == [
        "order.cancelled.v1.json",
        "order.placed.v1.json",
    ]
