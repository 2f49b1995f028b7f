"""What other services' events change (orders.handlers via chassis.events.consumer.handle):
the saga's stock.reserved / stock.rejected, catalog's product.changed, users'
user.deactivated. Every payload fed here first passes its producer's contract
(tests/contracts/<producer>/), so a handler is never tested against a made-up shape."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from chassis.events.consumer import handlers
from chassis.events.models import InboxEvent, OutboxEvent
from chassis.pytest_plugin import STAFF_ID, USER_ID
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders.models import Order, Product, Status
from tests.events import deliver, outbox, product_changed
from tests.factories import EPOCH, order_with_lines
from tests.utils import row_counts

pytestmark = pytest.mark.django_db


def reserved(order: Order, *prices: tuple[Product, str]) -> dict[str, Any]:
    """stock.reserved as catalog sends it: every line of ``order`` at catalog's prices."""
    price = {product.pk: value for product, value in prices}
    return {
        "order_id": str(order.pk),
        "currency": order.currency,
        "lines": [
            {
                "product_id": line.product_id,
                "quantity": line.quantity,
                "unit_price": price.get(line.product_id, f"{line.unit_price:.2f}"),
            }
            for line in order.lines.order_by("id")
        ],
    }


def snapshot(product_id: int) -> tuple[Any, ...]:
    return Product.objects.filter(pk=product_id).values_list(
        "sku", "name", "price", "currency", "is_active", "changed_at"
    )[0]


def test_orders_handles_exactly_the_events_it_consumes():
    assert (
        set(handlers())
        == set(settings.EVENTS_CONSUMED)
        == {
            "product.changed",
            "stock.reserved",
            "stock.rejected",
            "user.deactivated",
            "user.reactivated",
            "user.erased",
        }
    )


# --- stock.reserved ---------------------------------------------------------------------------


def test_stock_reserved_confirms_at_catalogs_prices(lamp: Product, kettle: Product):
    order = order_with_lines((lamp, 3), (kettle, 2))  # 3 x 19.90 + 2 x 24.50 = 108.70
    assert order.total == Decimal("108.70")

    assert deliver("stock.reserved", reserved(order, (lamp, "18.35"), (kettle, "25.00"))) is True

    order.refresh_from_db()
    assert order.status == Status.CONFIRMED
    assert order.total == Decimal("105.05")  # 3 x 18.35 + 2 x 25.00
    assert list(order.lines.order_by("id").values_list("unit_price", "line_total")) == [
        (Decimal("18.35"), Decimal("55.05")),
        (Decimal("25.00"), Decimal("50.00")),
    ]
    assert OutboxEvent.objects.count() == 0
    assert InboxEvent.objects.get().type == "stock.reserved"


def test_stock_reserved_at_unchanged_prices_keeps_the_total(lamp: Product):
    order = order_with_lines((lamp, 2))

    with CaptureQueriesContext(connection) as queries:
        deliver("stock.reserved", reserved(order))

    order.refresh_from_db()
    assert (order.status, order.total) == (Status.CONFIRMED, Decimal("39.80"))
    # the saga's usual case writes no line: only a re-priced line is updated
    assert [q["sql"] for q in queries if q["sql"].startswith('UPDATE "orders_orderline"')] == []


@pytest.mark.parametrize("status", [Status.CANCELLED, Status.REJECTED, Status.SHIPPED])
def test_stock_reserved_is_ignored_for_an_order_that_is_not_pending(lamp: Product, status: Status):
    order = order_with_lines((lamp, 2), status=status)

    assert deliver("stock.reserved", reserved(order, (lamp, "1.00"))) is True

    order.refresh_from_db()
    assert (order.status, order.total) == (status, Decimal("39.80"))
    assert list(order.lines.values_list("unit_price", flat=True)) == [Decimal("19.90")]
    assert InboxEvent.objects.count() == 1


def test_stock_reserved_for_an_unknown_order_changes_nothing(lamp: Product):
    payload = {
        "order_id": str(uuid.uuid4()),
        "currency": "EUR",
        "lines": [{"product_id": lamp.pk, "quantity": 1, "unit_price": "19.90"}],
    }

    assert deliver("stock.reserved", payload) is True

    assert Order.objects.count() == 0
    assert InboxEvent.objects.count() == 1


def test_a_redelivered_stock_reserved_changes_nothing(lamp: Product):
    order = order_with_lines((lamp, 2))
    event_id = uuid.uuid4()
    deliver("stock.reserved", reserved(order, (lamp, "10.00")), event_id=event_id)
    order.refresh_from_db()
    before = (order.status, order.total, order.updated_at)

    assert deliver("stock.reserved", reserved(order, (lamp, "5.00")), event_id=event_id) is False

    order.refresh_from_db()
    assert (order.status, order.total, order.updated_at) == before
    assert before[:2] == (Status.CONFIRMED, Decimal("20.00"))
    assert InboxEvent.objects.count() == 1


# --- stock.rejected ---------------------------------------------------------------------------


def test_stock_rejected_rejects_with_the_reasons(lamp: Product, kettle: Product):
    order = order_with_lines((lamp, 2), (kettle, 5))
    reasons = [
        {"product_id": kettle.pk, "code": "insufficient-stock", "requested": 5, "available": 1}
    ]

    assert deliver("stock.rejected", {"order_id": str(order.pk), "reasons": reasons}) is True

    order.refresh_from_db()
    assert (order.status, order.rejection_reasons, order.total) == (
        Status.REJECTED,
        reasons,
        Decimal("162.30"),
    )
    assert OutboxEvent.objects.count() == 0  # nothing was reserved: nothing to release


def test_stock_rejected_is_ignored_for_a_cancelled_order(lamp: Product):
    order = order_with_lines((lamp, 1), status=Status.CANCELLED)
    reasons = [{"product_id": lamp.pk, "code": "order-cancelled", "requested": 1, "available": 0}]

    deliver("stock.rejected", {"order_id": str(order.pk), "reasons": reasons})

    order.refresh_from_db()
    assert (order.status, order.rejection_reasons) == (Status.CANCELLED, [])


def test_stock_rejected_is_ignored_for_a_confirmed_order(lamp: Product):
    order = order_with_lines((lamp, 1), status=Status.CONFIRMED)
    reasons = [
        {"product_id": lamp.pk, "code": "insufficient-stock", "requested": 1, "available": 0}
    ]

    deliver("stock.rejected", {"order_id": str(order.pk), "reasons": reasons})

    assert Order.objects.get(pk=order.pk).status == Status.CONFIRMED


def test_a_redelivered_stock_rejected_changes_nothing(lamp: Product):
    order = order_with_lines((lamp, 1))
    event_id = uuid.uuid4()
    first = [{"product_id": lamp.pk, "code": "inactive-product", "requested": 1, "available": 0}]
    deliver("stock.rejected", {"order_id": str(order.pk), "reasons": first}, event_id=event_id)
    before = row_counts()

    again = deliver(
        "stock.rejected", {"order_id": str(order.pk), "reasons": first}, event_id=event_id
    )

    assert again is False
    assert row_counts() == before
    order.refresh_from_db()
    assert (order.status, order.rejection_reasons) == (Status.REJECTED, first)


# --- product.changed --------------------------------------------------------------------------


def test_product_changed_creates_the_read_model():
    assert deliver("product.changed", product_changed(501)) is True

    assert snapshot(501) == (
        "LAMP-1",
        "Desk Lamp",
        Decimal("19.90"),
        "EUR",
        True,
        EPOCH.replace(month=3, hour=10, microsecond=123456),
    )


def test_a_newer_product_changed_updates_it():
    deliver("product.changed", product_changed(501))

    deliver(
        "product.changed",
        product_changed(
            501,
            name="Big Lamp",
            price="21.00",
            is_active=False,
            updated_at="2025-03-02T08:00:00Z",
        ),
    )

    assert snapshot(501) == (
        "LAMP-1",
        "Big Lamp",
        Decimal("21.00"),
        "EUR",
        False,
        EPOCH.replace(month=3, day=2, hour=8),
    )
    assert Product.objects.count() == 1


def test_an_older_product_changed_does_not_overwrite_a_newer_one():
    deliver("product.changed", product_changed(501, price="30.00"))
    newer = snapshot(501)

    handled = deliver(
        "product.changed",
        product_changed(501, price="5.00", name="Old", updated_at="2025-02-28T23:59:59Z"),
    )

    assert handled is True  # handled (in the inbox), just outdated
    assert snapshot(501) == newer
    assert InboxEvent.objects.count() == 2


def test_a_product_changed_at_the_same_instant_applies():
    deliver("product.changed", product_changed(501))

    deliver("product.changed", product_changed(501, name="Same Time"))

    assert snapshot(501)[1] == "Same Time"


def test_a_redelivered_product_changed_changes_nothing():
    event_id = uuid.uuid4()
    deliver("product.changed", product_changed(501), event_id=event_id)

    again = deliver(
        "product.changed",
        product_changed(501, name="Changed", updated_at="2026-01-01T00:00:00Z"),
        event_id=event_id,
    )

    assert again is False
    assert snapshot(501)[1] == "Desk Lamp"


def test_a_product_from_product_changed_can_be_ordered(user_client: Any):
    deliver("product.changed", product_changed(501, price="7.25"))

    response = user_client.post(
        "/api/v1/orders/",
        {"lines": [{"product_id": 501, "quantity": 4}]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-501",
    )

    assert response.status_code == 201, response.content
    assert response.json()["total"] == "29.00"


def test_a_deactivated_product_can_no_longer_be_ordered(user_client: Any):
    deliver("product.changed", product_changed(501))
    deliver(
        "product.changed",
        product_changed(501, is_active=False, updated_at="2025-03-01T10:00:01Z"),
    )

    response = user_client.post(
        "/api/v1/orders/",
        {"lines": [{"product_id": 501, "quantity": 1}]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-501",
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "inactive-product"


# --- user.deactivated -------------------------------------------------------------------------


def test_user_deactivated_cancels_that_users_open_orders(lamp: Product):
    pending = order_with_lines((lamp, 1))
    confirmed = order_with_lines((lamp, 2), status=Status.CONFIRMED)
    shipped = order_with_lines((lamp, 1), status=Status.SHIPPED)
    rejected = order_with_lines((lamp, 1), status=Status.REJECTED)
    others = order_with_lines((lamp, 1), user_id=STAFF_ID)

    assert deliver("user.deactivated", {"user_id": USER_ID}) is True

    statuses = dict(Order.objects.values_list("pk", "status"))
    assert statuses == {
        pending.pk: Status.CANCELLED,
        confirmed.pk: Status.CANCELLED,
        shipped.pk: Status.SHIPPED,
        rejected.pk: Status.REJECTED,
        others.pk: Status.PENDING,
    }
    reason = "The account was deactivated."
    assert sorted(outbox("order.cancelled"), key=lambda p: p["order_id"]) == sorted(
        [
            {"order_id": str(pending.pk), "user_id": USER_ID, "reason": reason},
            {"order_id": str(confirmed.pk), "user_id": USER_ID, "reason": reason},
        ],
        key=lambda p: p["order_id"],
    )
    assert Order.objects.get(pk=pending.pk).cancel_reason == reason


def test_user_deactivated_without_open_orders_changes_nothing(lamp: Product):
    order_with_lines((lamp, 1), status=Status.SHIPPED)

    deliver("user.deactivated", {"user_id": USER_ID})

    assert OutboxEvent.objects.count() == 0
    assert InboxEvent.objects.count() == 1


def test_a_redelivered_user_deactivated_cancels_once(lamp: Product):
    order_with_lines((lamp, 1))
    event_id = uuid.uuid4()

    assert deliver("user.deactivated", {"user_id": USER_ID}, event_id=event_id) is True
    assert deliver("user.deactivated", {"user_id": USER_ID}, event_id=event_id) is False

    assert len(outbox("order.cancelled")) == 1


# --- a failing handler leaves nothing -------------------------------------------------------


def test_a_handler_that_fails_leaves_no_trace(lamp: Product):
    """A product.changed with a date the handler cannot parse: nothing is recorded, so the
    event is retried (then parked) instead of being lost."""
    from chassis.events.consumer import handle
    from chassis.events.envelope import Envelope

    before = row_counts()
    envelope = Envelope(
        type="product.changed",
        payload=product_changed(501, updated_at="yesterday"),
        producer="catalog",
    )

    with pytest.raises(ValueError, match="updated_at is not a date-time"):
        handle(envelope)

    assert row_counts() == before
