"""user.erased (orders/accounts.py): the buyer's orders stay for the books, without personal
data; open ones are cancelled; exactly once; only from users-service. Attacks first."""

from __future__ import annotations

import uuid

import pytest
from chassis.events.envelope import Envelope
from chassis.events.models import InboxEvent, ParkedEvent
from chassis.events.tasks import consume
from chassis.pytest_plugin import STAFF_ID, USER_ID
from rest_framework.test import APIClient

from orders.accounts import ERASED_EMAIL
from orders.models import Account, Order, OrderEmail, Product, Status
from tests.events import deliver, outbox
from tests.factories import order_with_lines
from tests.test_accounts import place

pytestmark = pytest.mark.django_db


def test_a_forged_user_erased_from_another_producer_changes_nothing(lamp: Product):
    order = order_with_lines((lamp, 1), status=Status.CONFIRMED)
    forged = Envelope(type="user.erased", producer="catalog", payload={"user_id": USER_ID})

    result = consume.apply(args=[forged.to_dict()])  # as the worker takes it off its queue

    assert result.get() == "parked"

    order.refresh_from_db()
    assert (order.status, order.user_email) == (Status.CONFIRMED, "buyer@example.com")
    parked = ParkedEvent.objects.get()
    assert (parked.event_id, parked.error.split(":")[0]) == (forged.id, "UnverifiedProducer")
    assert InboxEvent.objects.count() == 0


def test_erasure_anonymises_every_order_and_cancels_open_ones(lamp: Product):
    shipped = order_with_lines((lamp, 1), status=Status.SHIPPED)
    confirmed = order_with_lines((lamp, 2), status=Status.CONFIRMED)
    other = order_with_lines((lamp, 1), user_id=STAFF_ID, user_email="staff@example.com")

    assert deliver("user.erased", {"user_id": USER_ID}) is True

    rows = {o.pk: (o.status, o.user_email) for o in Order.objects.all()}
    assert rows == {
        shipped.pk: (Status.SHIPPED, ERASED_EMAIL),
        confirmed.pk: (Status.CANCELLED, ERASED_EMAIL),
        other.pk: (Status.PENDING, "staff@example.com"),
    }
    assert outbox("order.cancelled") == [
        {"order_id": str(confirmed.pk), "user_id": USER_ID, "reason": "The account was erased."}
    ]
    assert Order.objects.get(pk=shipped.pk).lines.count() == 1  # the books keep the lines
    assert Account.objects.get(user_id=USER_ID).is_active is False


def test_erasure_is_applied_once_when_redelivered(lamp: Product):
    order_with_lines((lamp, 1), status=Status.CONFIRMED)
    event_id = uuid.uuid4()

    assert deliver("user.erased", {"user_id": USER_ID}, event_id=event_id) is True
    assert deliver("user.erased", {"user_id": USER_ID}, event_id=event_id) is False

    assert len(outbox("order.cancelled")) == 1
    assert InboxEvent.objects.filter(type="user.erased").count() == 1


def test_an_erased_buyer_is_never_mailed(lamp: Product, mailoutbox):
    from orders.emails import order_emails_send

    order = order_with_lines((lamp, 1), status=Status.CONFIRMED)
    deliver("user.erased", {"user_id": USER_ID})

    (email,) = OrderEmail.objects.filter(order=order)
    assert email.status == Status.CANCELLED
    assert order_emails_send() == (1, 1)  # recorded as handled, not mailed
    assert mailoutbox == []


def test_an_erased_account_cannot_order_with_its_still_valid_token(
    user_client: APIClient, lamp: Product
):
    deliver("user.erased", {"user_id": USER_ID})

    assert place(user_client, lamp).status_code == 403
