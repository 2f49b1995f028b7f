"""orders' read model of users-service accounts (orders/accounts.py): a deactivated account
cannot order for the rest of its access token's life, an order placed before orders heard of
the deactivation is cancelled when it does (whatever the order of arrival of the events),
and placement and the handler serialise on the account's row."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from chassis.pytest_plugin import STAFF_ID, USER_ID
from django.db import connection, connections, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from orders import accounts, services
from orders.models import Account, Order, Product, Status
from tests.events import deliver, outbox
from tests.factories import order_with_lines
from tests.utils import ORDERS, assert_problem, row_counts

pytestmark = pytest.mark.django_db

REASON = "The account was deactivated."


def place(client: APIClient, product: Product, key: str = "k-1") -> Any:
    body = {"lines": [{"product_id": product.pk, "quantity": 1}]}
    return client.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def account_event(event_type: str, *, minutes_ago: float, user_id: str = USER_ID) -> bool:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return deliver(event_type, {"user_id": user_id}, occurred_at=at)


# --- placing ---------------------------------------------------------------------------------


def test_an_account_is_created_active_on_first_lock_and_a_known_one_costs_one_query(
    django_assert_num_queries: Any,
):
    with transaction.atomic():
        first = accounts.account_lock(user_id=USER_ID)
    assert (first.user_id, first.is_active) == (USER_ID, True)

    with transaction.atomic(), django_assert_num_queries(1):  # SELECT ... FOR UPDATE
        again = accounts.account_lock(user_id=USER_ID)
    assert (again.pk, Account.objects.count()) == (first.pk, 1)


def test_a_deactivated_account_cannot_order_with_its_still_valid_token(
    user_client: APIClient, lamp: Product
):
    """The attack: the account is deactivated in users-service, its access token lives on."""
    deliver("user.deactivated", {"user_id": USER_ID})
    before = row_counts()

    response = place(user_client, lamp)

    assert_problem(
        response,
        403,
        "account-deactivated",
        detail="This account was deactivated: it cannot place orders.",
    )
    assert row_counts() == before


def test_another_account_still_orders(staff_client: APIClient, lamp: Product):
    deliver("user.deactivated", {"user_id": USER_ID})

    assert place(staff_client, lamp).status_code == 201


def test_a_reactivated_account_orders_again(user_client: APIClient, lamp: Product):
    account_event("user.deactivated", minutes_ago=2)
    account_event("user.reactivated", minutes_ago=1)

    assert place(user_client, lamp).status_code == 201
    assert Account.objects.values_list("user_id", "is_active").get() == (USER_ID, True)


# --- the window before the event arrives -----------------------------------------------------


def test_an_order_placed_before_the_event_arrived_is_cancelled_when_it_does(
    user_client: APIClient, lamp: Product
):
    placed = place(user_client, lamp)
    assert placed.status_code == 201

    account_event("user.deactivated", minutes_ago=5)  # deactivated before the order

    order = Order.objects.get(pk=placed.json()["id"])
    assert (order.status, order.cancel_reason) == (Status.CANCELLED, REASON)
    assert [p["order_id"] for p in outbox("order.cancelled")] == [str(order.pk)]


def test_a_late_older_deactivation_does_not_undo_a_newer_reactivation(lamp: Product):
    """Out of order: the reactivation (newer) arrives first, then the deactivation (older).
    The account stays active; what was ordered between the two instants is cancelled, what
    came before and after stays."""
    now = timezone.now()
    before = order_with_lines((lamp, 1), created_at=now - timedelta(minutes=10))
    window = order_with_lines((lamp, 1), created_at=now - timedelta(minutes=3))
    after = order_with_lines((lamp, 1), created_at=now)

    account_event("user.reactivated", minutes_ago=1)
    account_event("user.deactivated", minutes_ago=5)

    assert Account.objects.values_list("is_active", flat=True).get() is True
    statuses = dict(Order.objects.values_list("pk", "status"))
    assert statuses == {
        before.pk: Status.PENDING,
        window.pk: Status.CANCELLED,
        after.pk: Status.PENDING,
    }


def test_a_late_older_reactivation_does_not_undo_a_newer_deactivation(
    user_client: APIClient, lamp: Product
):
    account_event("user.deactivated", minutes_ago=1)
    account_event("user.reactivated", minutes_ago=5)

    assert Account.objects.values_list("is_active", flat=True).get() is False
    assert place(user_client, lamp).status_code == 403


def test_deactivated_twice_cancels_what_was_ordered_in_between(lamp: Product):
    account_event("user.deactivated", minutes_ago=10)
    order = order_with_lines((lamp, 1))  # slipped in by a path placement does not take
    account_event("user.deactivated", minutes_ago=1)

    assert Order.objects.get(pk=order.pk).status == Status.CANCELLED


def test_other_accounts_orders_are_left_alone(lamp: Product):
    other = order_with_lines((lamp, 1), user_id=STAFF_ID)

    account_event("user.deactivated", minutes_ago=1)

    assert Order.objects.get(pk=other.pk).status == Status.PENDING
    assert Account.objects.filter(user_id=STAFF_ID).exists() is False


# --- the race: placement and the handler on the account's row --------------------------------


def waiting_on_a_lock() -> int:
    """Sessions of the test database waiting on a lock (a fresh look: inside a transaction
    PostgreSQL keeps showing its first snapshot of the statistics)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        )
        return int(cursor.fetchone()[0])


def wait_until(condition: Any, thread: dict[str, Any], deadline_seconds: float = 30) -> None:
    """Wait for ``condition`` while the other thread runs (failing with its outcome)."""
    end = time.monotonic() + deadline_seconds
    while not condition():
        assert thread["thread"].is_alive(), thread
        assert time.monotonic() < end, "the condition never held"
        time.sleep(0.05)


def run_in_thread(call: Any) -> dict[str, Any]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except Exception as exc:
            outcome["error"] = exc
        finally:
            connections.close_all()

    outcome["thread"] = threading.Thread(target=run)
    outcome["thread"].start()
    return outcome


@pytest.mark.django_db(transaction=True)
def test_placement_waits_for_a_deactivation_in_progress_and_is_refused(lamp: Product):
    lines = [services.LineRequest(product_id=lamp.pk, quantity=1)]
    with transaction.atomic():
        accounts.account_lock(user_id=USER_ID)  # the handler's first step
        placing = run_in_thread(
            lambda: services.order_place(user_id=USER_ID, user_email="", lines=lines)
        )
        wait_until(lambda: waiting_on_a_lock() == 1, placing)
        accounts.account_status_apply(user_id=USER_ID, active=False, at=timezone.now())
    placing["thread"].join(timeout=30)

    assert isinstance(placing.get("error"), accounts.AccountDeactivated)
    assert Order.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_deactivation_waits_for_a_placement_in_progress_and_cancels_its_order(
    lamp: Product,
):
    lines = [services.LineRequest(product_id=lamp.pk, quantity=1)]
    with transaction.atomic():
        order = services.order_place(user_id=USER_ID, user_email="", lines=lines)
        handling = run_in_thread(lambda: account_event("user.deactivated", minutes_ago=0))
        wait_until(lambda: waiting_on_a_lock() == 1, handling)
    handling["thread"].join(timeout=30)

    assert handling.get("result") is True, handling
    assert Order.objects.get(pk=order.pk).status == Status.CANCELLED
