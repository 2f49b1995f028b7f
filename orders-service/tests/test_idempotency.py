"""Idempotency-Key: a retry gets the first answer and never a second order; another body
with the same key is refused; keys are per user, expire, and failed attempts leave none."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from chassis.events.models import OutboxEvent
from chassis.pytest_plugin import STAFF_ID, USER_ID, bearer
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from orders import services, tasks
from orders.models import IdempotencyKey, Order, Product
from tests.factories import IdempotencyKeyFactory, ProductFactory
from tests.utils import ORDERS, assert_problem, in_threads, order_json, row_counts

KEY = "retry-me-1"


def place(client: APIClient, body: Any, key: str = KEY) -> Any:
    return client.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def one_lamp(product: Product, quantity: int = 1) -> dict[str, Any]:
    return {"lines": [{"product_id": product.pk, "quantity": quantity}]}


def expire(key: str) -> None:
    ttl = settings.ORDERS_IDEMPOTENCY_TTL_SECONDS
    IdempotencyKey.objects.filter(key=key).update(
        created_at=timezone.now() - timedelta(seconds=ttl + 1)
    )


@pytest.mark.django_db
def test_a_retry_replays_the_first_answer(user_client: APIClient, lamp: Product):
    first = place(user_client, one_lamp(lamp, 2))
    Product.objects.filter(pk=lamp.pk).update(price="1.00")  # the replay is the stored answer
    retry = place(user_client, one_lamp(lamp, 2))

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert retry["Location"] == first["Location"]
    assert "Idempotent-Replayed" not in first
    order = Order.objects.get()
    assert first.json() == order_json(order)
    assert first.json()["total"] == "39.80"
    assert OutboxEvent.objects.count() == 1
    assert IdempotencyKey.objects.count() == 1


@pytest.mark.django_db
def test_a_first_request_writes_its_key_in_two_statements(user_client: APIClient, lamp: Product):
    with CaptureQueriesContext(connection) as queries:
        first = place(user_client, one_lamp(lamp))

    assert first.status_code == 201
    keys = [q["sql"] for q in queries if "orders_idempotencykey" in q["sql"]]
    # the key taken (no savepoint around it), then the answer stored with the order
    assert [sql.split(" ", 1)[0] for sql in keys] == ["INSERT", "UPDATE"]
    assert "ON CONFLICT" in keys[0]
    assert 'SET "response_status"' in keys[1]
    assert '"request_hash"' not in keys[1]  # the columns that change only
    stored = IdempotencyKey.objects.get()
    assert (stored.response_status, stored.response_body) == (201, first.json())
    assert str(stored.order_id) == first.json()["id"]


@pytest.mark.django_db
def test_the_same_body_in_another_key_order_is_the_same_request(
    user_client: APIClient, lamp: Product
):
    first = place(user_client, {"lines": [{"product_id": lamp.pk, "quantity": 2}]})
    retry = user_client.post(
        ORDERS,
        f'{{"lines": [{{"quantity": 2, "product_id": {lamp.pk}}}]}}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=KEY,
    )

    assert (retry.status_code, retry["Idempotent-Replayed"]) == (201, "true")
    assert retry.json() == first.json()
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_refused(
    user_client: APIClient, lamp: Product, kettle: Product
):
    place(user_client, one_lamp(lamp, 2))
    before = row_counts()

    response = place(user_client, one_lamp(lamp, 3))

    assert_problem(
        response,
        422,
        "idempotency-key-reused",
        title="This Idempotency-Key was used for another request.",
        detail="Send a new Idempotency-Key for a different request.",
        errors=[],
    )
    assert "Idempotent-Replayed" not in response
    assert row_counts() == before


@pytest.mark.django_db
def test_a_key_is_per_user(user_client: APIClient, staff_client: APIClient, lamp: Product):
    mine = place(user_client, one_lamp(lamp))
    theirs = place(staff_client, one_lamp(lamp, 5))

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in theirs
    assert mine.json()["id"] != theirs.json()["id"]
    assert sorted(IdempotencyKey.objects.values_list("user_id", "key")) == sorted(
        [(USER_ID, KEY), (STAFF_ID, KEY)]
    )
    assert sorted(Order.objects.values_list("user_id", flat=True)) == sorted([USER_ID, STAFF_ID])


@pytest.mark.django_db
def test_a_new_key_places_a_new_order(user_client: APIClient, lamp: Product):
    first = place(user_client, one_lamp(lamp), key="attempt-1")
    second = place(user_client, one_lamp(lamp), key="attempt-2")

    assert (first.status_code, second.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in second
    assert Order.objects.count() == 2


@pytest.mark.django_db
def test_a_failed_attempt_stores_nothing_so_a_retry_can_succeed(user_client: APIClient):
    refused = place(user_client, {"lines": [{"product_id": 77, "quantity": 1}]})

    assert_problem(refused, 422, "products-unavailable")
    assert IdempotencyKey.objects.count() == 0
    ProductFactory(id=77, sku="LATE-1")  # product.changed arrives

    retry = place(user_client, {"lines": [{"product_id": 77, "quantity": 1}]})

    assert retry.status_code == 201, retry.content
    assert "Idempotent-Replayed" not in retry
    assert retry.json() == order_json(Order.objects.get())
    assert IdempotencyKey.objects.get().order == Order.objects.get()


@pytest.mark.django_db
def test_bad_input_stores_no_key(user_client: APIClient, lamp: Product):
    assert place(user_client, {"lines": []}).status_code == 400
    assert IdempotencyKey.objects.count() == 0

    assert place(user_client, one_lamp(lamp)).status_code == 201


@pytest.mark.django_db
def test_an_expired_key_is_used_again(user_client: APIClient, lamp: Product):
    first = place(user_client, one_lamp(lamp, 2))
    expire(KEY)

    again = place(user_client, one_lamp(lamp, 3))  # another body: no longer the same request

    assert again.status_code == 201, again.content
    assert "Idempotent-Replayed" not in again
    new = Order.objects.get(pk=again.json()["id"])
    assert again.json() == order_json(new)
    assert Order.objects.count() == 2
    assert new.pk != first.json()["id"]
    key = IdempotencyKey.objects.get()
    assert (key.order, key.response_body, key.request_hash) == (
        new,
        again.json(),
        services.request_hash({"lines": [{"product_id": lamp.pk, "quantity": 3}]}),
    )
    assert key.created_at > timezone.now() - timedelta(seconds=60)
    retry = place(user_client, one_lamp(lamp, 3))
    assert (retry.status_code, retry["Idempotent-Replayed"]) == (201, "true")
    assert retry.json() == again.json()


@pytest.mark.django_db
def test_a_key_just_inside_its_window_is_still_replayed(user_client: APIClient, lamp: Product):
    first = place(user_client, one_lamp(lamp))
    ttl = settings.ORDERS_IDEMPOTENCY_TTL_SECONDS
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(seconds=ttl - 60))

    retry = place(user_client, one_lamp(lamp))

    assert (retry.status_code, retry["Idempotent-Replayed"]) == (201, "true")
    assert retry.json() == first.json()
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_the_purge_deletes_only_expired_keys():
    ttl = settings.ORDERS_IDEMPOTENCY_TTL_SECONDS
    now = timezone.now()
    IdempotencyKeyFactory(key="old", created_at=now - timedelta(seconds=ttl + 1))
    IdempotencyKeyFactory(key="older", created_at=now - timedelta(days=30))
    IdempotencyKeyFactory(key="fresh", created_at=now - timedelta(seconds=ttl - 60))
    IdempotencyKeyFactory(key="new", created_at=now)

    assert tasks.idempotency_keys_purge() == 2
    assert sorted(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh", "new"]
    assert tasks.idempotency_keys_purge() == 0  # safe to run twice


def test_the_purge_runs_hourly():
    assert settings.CELERY_BEAT_SCHEDULE["idempotency-keys-purge"] == {
        "task": "orders.tasks.idempotency_keys_purge",
        "schedule": 3600,
    }


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_place_one_order(
    token: Callable[..., str], lamp: Product
):
    access = token(sub=USER_ID, email="buyer@example.com")

    def attempt() -> Any:
        return place(bearer(access), one_lamp(lamp, 2), key="concurrent-1")

    first, second = in_threads(attempt, attempt)

    assert not isinstance(first, Exception), first
    assert not isinstance(second, Exception), second
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    replayed = sorted(r.get("Idempotent-Replayed", "no") for r in (first, second))
    assert replayed == ["no", "true"]
    order = Order.objects.get()
    assert first.json() == order_json(order)
    assert IdempotencyKey.objects.get().order == order
    assert OutboxEvent.objects.filter(type="order.placed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_and_two_bodies(
    token: Callable[..., str], lamp: Product
):
    access = token(sub=USER_ID, email="buyer@example.com")

    def attempt(quantity: int) -> Callable[[], Any]:
        return lambda: place(bearer(access), one_lamp(lamp, quantity), key="concurrent-2")

    responses = in_threads(attempt(1), attempt(2))

    assert not any(isinstance(r, Exception) for r in responses), responses
    assert sorted(r.status_code for r in responses) == [201, 422]
    refused = next(r for r in responses if r.status_code == 422)
    assert_problem(refused, 422, "idempotency-key-reused")
    assert Order.objects.count() == 1
