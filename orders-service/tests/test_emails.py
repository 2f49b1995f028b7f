"""The buyer's emails about their orders (orders/emails.py): one per status change, recorded
in the change's transaction, sent by the worker after commit, once even on redelivery."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from orders import services
from orders.emails import order_email_record, order_email_send, order_emails_pending
from orders.models import OrderEmail, Product, Status
from orders.tasks import order_emails_sweep
from tests.events import deliver
from tests.factories import order_with_lines
from tests.test_handlers import reserved

pytestmark = pytest.mark.django_db


def send_all() -> list[bool]:
    return [order_email_send(email_id=pk) for pk in OrderEmail.objects.values_list("pk", flat=True)]


def test_a_confirmation_is_recorded_with_the_change_and_queued_after_commit(
    lamp: Product, mailoutbox, django_capture_on_commit_callbacks
):
    order = order_with_lines((lamp, 3))
    with django_capture_on_commit_callbacks() as callbacks:
        deliver("stock.reserved", reserved(order, (lamp, "18.35")))

    assert list(OrderEmail.objects.values_list("order_id", "status", "sent_at")) == [
        (order.pk, Status.CONFIRMED, None)
    ]
    assert mailoutbox == []  # nothing leaves inside the transaction
    # after commit: the mail's task, and the saga's metrics (chassis.metrics)
    assert sorted(c.__qualname__.split(".")[0] for c in callbacks) == [
        "order_email_record",
        "saga_finished",
    ]

    assert send_all() == [True]
    (message,) = mailoutbox
    assert (message.subject, message.to) == ("Your order is confirmed", ["buyer@example.com"])
    assert f"Your order {order.pk} is confirmed" in message.body
    assert f"3 x {lamp.name} ({lamp.sku})  55.05 EUR" in message.body
    assert "Total: 55.05 EUR" in message.body
    html, kind = message.alternatives[0]
    assert kind == "text/html"
    assert f"<p>Your order {order.pk} is confirmed" in html


def test_an_email_reads_the_order_lines_once(
    lamp: Product, kettle: Product, mailoutbox, django_assert_num_queries
):
    order = order_with_lines((lamp, 1), (kettle, 2))
    deliver("stock.reserved", reserved(order))
    (email_id,) = OrderEmail.objects.values_list("pk", flat=True)

    # the email and its order (locked), the lines (both templates), sent_at; in a savepoint
    with django_assert_num_queries(5) as queries:
        assert order_email_send(email_id=email_id) is True

    assert [q["sql"].split(" ", 1)[0] for q in queries] == [
        "SAVEPOINT",
        "SELECT",
        "SELECT",
        "UPDATE",
        "RELEASE",
    ]
    (message,) = mailoutbox
    assert f"1 x {lamp.name} ({lamp.sku})" in message.body
    assert f"<td>2 x</td><td>{kettle.name} ({kettle.sku})</td>" in message.alternatives[0][0]


def test_a_redelivered_event_mails_once(lamp: Product, mailoutbox):
    order = order_with_lines((lamp, 1))
    event_id = uuid.uuid4()
    deliver("stock.reserved", reserved(order), event_id=event_id)
    deliver("stock.reserved", reserved(order), event_id=event_id)

    assert send_all() == [True]
    assert send_all() == [False]  # the task run twice
    assert len(mailoutbox) == 1


def test_recording_a_change_twice_keeps_one_email_and_queues_it_once(
    lamp: Product, django_capture_on_commit_callbacks
):
    order = order_with_lines((lamp, 1))
    order.status = Status.CONFIRMED
    with django_capture_on_commit_callbacks() as callbacks:
        first = order_email_record(order=order)
        again = order_email_record(order=order)

    assert (isinstance(first, int), again) == (True, None)
    assert list(OrderEmail.objects.values_list("pk", "order_id", "status")) == [
        (first, order.pk, Status.CONFIRMED)
    ]
    assert len(callbacks) == 1
    order.status = Status.PENDING  # no email for it: nothing recorded, nothing queued
    assert order_email_record(order=order) is None
    assert OrderEmail.objects.count() == 1


def test_a_rejection_names_the_reasons(lamp: Product, mailoutbox):
    order = order_with_lines((lamp, 5))
    reasons = [
        {"product_id": lamp.pk, "code": "insufficient-stock", "requested": 5, "available": 2}
    ]
    deliver("stock.rejected", {"order_id": str(order.pk), "reasons": reasons})

    assert send_all() == [True]
    (message,) = mailoutbox
    assert message.subject == "Your order could not be accepted"
    assert f"{lamp.name}: not enough in stock (requested 5, available 2)" in message.body
    assert (
        f"<li>{lamp.name}: not enough in stock (requested 5, available 2)</li>"
        in (message.alternatives[0][0])
    )


def test_cancelled_and_shipped_are_mailed_with_their_own_templates(lamp: Product, mailoutbox):
    cancelled = order_with_lines((lamp, 1))
    shipped = order_with_lines((lamp, 1), status=Status.CONFIRMED)
    services.order_cancel(order_id=cancelled.pk, reason="Changed my mind")
    services.order_ship(order_id=shipped.pk)

    assert send_all() == [True, True]
    assert [(m.subject, m.body.splitlines()[0]) for m in mailoutbox] == [
        ("Your order is cancelled", f"Your order {cancelled.pk} is cancelled: Changed my mind."),
        ("Your order has shipped", f"Your order {shipped.pk} has shipped."),
    ]


def test_an_order_without_an_address_is_recorded_not_mailed(lamp: Product, mailoutbox):
    order = order_with_lines((lamp, 1), user_email="")
    services.order_cancel(order_id=order.pk, reason="x")

    assert send_all() == [False]
    assert OrderEmail.objects.get().sent_at is not None
    assert mailoutbox == []


def test_the_sweep_queues_what_the_broker_lost(lamp: Product, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the sweep's send runs here
    order = order_with_lines((lamp, 1))
    services.order_cancel(order_id=order.pk, reason="x")
    fresh = OrderEmail.objects.get()
    assert order_emails_pending() == []  # its own task may still be on the way
    OrderEmail.objects.update(created_at=timezone.now() - timedelta(minutes=3))

    assert order_emails_pending() == [fresh.pk]
    assert order_emails_sweep() == 1
    fresh.refresh_from_db()
    assert fresh.sent_at is not None
