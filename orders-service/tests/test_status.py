"""The status machine (services.order_transition) and cancel / ship through the API:
PENDING -> CONFIRMED | REJECTED | CANCELLED, CONFIRMED -> CANCELLED | SHIPPED, nothing else."""

from __future__ import annotations

import itertools
import uuid
from decimal import Decimal

import pytest
from chassis.events.models import OutboxEvent
from chassis.pytest_plugin import STAFF_ID, USER_ID
from rest_framework.test import APIClient

from orders import services
from orders.models import Order, Product, Status
from tests.events import outbox
from tests.factories import OrderFactory, order_with_lines
from tests.utils import ORDERS, assert_problem, order_json, row_counts

pytestmark = pytest.mark.django_db

ALLOWED = {
    (Status.PENDING, Status.CONFIRMED),
    (Status.PENDING, Status.REJECTED),
    (Status.PENDING, Status.CANCELLED),
    (Status.CONFIRMED, Status.CANCELLED),
    (Status.CONFIRMED, Status.SHIPPED),
}
PAIRS = list(itertools.product(Status, Status))


def pair_id(pair: tuple[Status, Status]) -> str:
    return f"{pair[0].value}->{pair[1].value}"


# --- the status machine ---------------------------------------------------------------------


def test_the_machine_is_exactly_the_documented_one():
    assert {(a, b) for a, targets in services.TRANSITIONS.items() for b in targets} == ALLOWED


@pytest.mark.parametrize("pair", sorted(ALLOWED), ids=pair_id)
def test_an_allowed_transition(pair: tuple[Status, Status]):
    source, target = pair
    order = OrderFactory(status=source)
    before = Order.objects.get(pk=order.pk).updated_at

    services.order_transition(order=order, to=target, cancel_reason="why")

    order.refresh_from_db()
    assert (order.status, order.cancel_reason) == (target, "why")
    assert order.updated_at > before


@pytest.mark.parametrize("pair", [p for p in PAIRS if p not in ALLOWED], ids=pair_id)
def test_a_refused_transition(pair: tuple[Status, Status]):
    source, target = pair
    order = OrderFactory(status=source)
    before = order_json(order)

    with pytest.raises(services.InvalidTransition) as raised:
        services.order_transition(order=order, to=target, cancel_reason="why")

    assert raised.value.status == 409
    assert raised.value.code == "invalid-transition"
    assert raised.value.detail == f"An order that is {source} cannot become {target}."
    assert order_json(Order.objects.get(pk=order.pk)) == before


def test_twenty_five_pairs_are_covered():
    assert len(PAIRS) == 25
    assert len([p for p in PAIRS if p not in ALLOWED]) == 20


# --- cancel ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.PENDING, Status.CONFIRMED])
def test_the_buyer_cancels_an_open_order(user_client: APIClient, lamp: Product, status: Status):
    order = order_with_lines((lamp, 2), status=status)

    response = user_client.post(f"{ORDERS}{order.pk}/cancel", {}, format="json")

    assert response.status_code == 200, response.content
    order.refresh_from_db()
    assert (order.status, order.cancel_reason) == (Status.CANCELLED, "Cancelled by the buyer.")
    assert response.json() == order_json(order)
    assert response.json()["total"] == "39.80"
    assert outbox("order.cancelled") == [
        {"order_id": str(order.pk), "user_id": USER_ID, "reason": "Cancelled by the buyer."}
    ]


def test_the_buyer_gives_a_reason(user_client: APIClient, lamp: Product):
    order = order_with_lines((lamp, 1))

    response = user_client.post(
        f"{ORDERS}{order.pk}/cancel", {"reason": "Ordered by mistake."}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["cancel_reason"] == "Ordered by mistake."
    assert outbox("order.cancelled")[0]["reason"] == "Ordered by mistake."


def test_cancelling_without_a_body(user_client: APIClient, lamp: Product):
    order = order_with_lines((lamp, 1))

    response = user_client.post(f"{ORDERS}{order.pk}/cancel")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "CANCELLED"


def test_staff_cancel_any_order(staff_client: APIClient, lamp: Product):
    order = order_with_lines((lamp, 1), status=Status.CONFIRMED)

    response = staff_client.post(f"{ORDERS}{order.pk}/cancel", {}, format="json")

    assert response.status_code == 200
    assert response.json()["cancel_reason"] == "Cancelled by staff."
    assert outbox("order.cancelled") == [
        {"order_id": str(order.pk), "user_id": USER_ID, "reason": "Cancelled by staff."}
    ]


@pytest.mark.parametrize("status", [Status.SHIPPED, Status.REJECTED, Status.CANCELLED])
def test_a_closed_order_cannot_be_cancelled(user_client: APIClient, lamp: Product, status: Status):
    order = order_with_lines((lamp, 1), status=status)
    before = row_counts()

    response = user_client.post(f"{ORDERS}{order.pk}/cancel", {}, format="json")

    assert_problem(
        response,
        409,
        "invalid-transition",
        title="The order cannot change to that status.",
        detail=f"An order that is {status} cannot become CANCELLED.",
        errors=[],
    )
    assert Order.objects.get(pk=order.pk).status == status
    assert row_counts() == before


def test_another_buyers_order_cannot_be_cancelled(user_client: APIClient, lamp: Product):
    order = order_with_lines((lamp, 1), user_id=STAFF_ID)

    response = user_client.post(f"{ORDERS}{order.pk}/cancel", {}, format="json")

    assert_problem(response, 404, "not-found", detail="No resource matches the request.")
    assert Order.objects.get(pk=order.pk).status == Status.PENDING
    assert OutboxEvent.objects.count() == 0


def test_cancelling_an_unknown_order_is_a_404(user_client: APIClient):
    response = user_client.post(f"{ORDERS}{uuid.uuid4()}/cancel", {}, format="json")

    assert_problem(response, 404, "not-found")


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"reason": "x" * 201},
            [
                {
                    "field": "reason",
                    "code": "max_length",
                    "message": "Ensure this field has no more than 200 characters.",
                }
            ],
        ),
        ({"reason": 5}, [{"field": "reason", "code": "invalid", "message": "Not a valid string."}]),
        ({"why": "x"}, [{"field": "why", "code": "unknown_field", "message": "Unknown field."}]),
    ],
    ids=["too-long", "not-a-string", "unknown-field"],
)
def test_a_bad_cancel_body_is_refused(
    user_client: APIClient, lamp: Product, body: dict, errors: list[dict]
):
    order = order_with_lines((lamp, 1))

    response = user_client.post(f"{ORDERS}{order.pk}/cancel", body, format="json")

    assert_problem(response, 400, "validation-error", errors=errors)
    assert Order.objects.get(pk=order.pk).status == Status.PENDING
    assert OutboxEvent.objects.count() == 0


def test_anonymous_cannot_cancel(api_client: APIClient, lamp: Product):
    order = order_with_lines((lamp, 1))

    response = api_client.post(f"{ORDERS}{order.pk}/cancel", {}, format="json")

    assert_problem(response, 401, "not-authenticated")
    assert Order.objects.get(pk=order.pk).status == Status.PENDING


def test_order_cancel_service_raises_for_an_unknown_order():
    with pytest.raises(Order.DoesNotExist):
        services.order_cancel(order_id=uuid.uuid4(), reason="none")


def test_a_long_reason_is_cut_to_200_characters_in_the_service():
    order = OrderFactory()

    services.order_cancel(order_id=order.pk, reason="y" * 300)

    order.refresh_from_db()
    assert order.cancel_reason == "y" * 200
    assert outbox("order.cancelled")[0]["reason"] == "y" * 200


# --- ship -----------------------------------------------------------------------------------


def test_staff_ship_a_confirmed_order(staff_client: APIClient, lamp: Product):
    order = order_with_lines((lamp, 1), status=Status.CONFIRMED, total=Decimal("19.90"))

    response = staff_client.post(f"{ORDERS}{order.pk}/ship")

    assert response.status_code == 200, response.content
    order.refresh_from_db()
    assert order.status == Status.SHIPPED
    assert response.json() == order_json(order)
    assert OutboxEvent.objects.count() == 0  # nobody consumes a shipment (yet)


@pytest.mark.parametrize(
    "status", [Status.PENDING, Status.REJECTED, Status.CANCELLED, Status.SHIPPED]
)
def test_only_a_confirmed_order_ships(staff_client: APIClient, lamp: Product, status: Status):
    order = order_with_lines((lamp, 1), status=status)

    response = staff_client.post(f"{ORDERS}{order.pk}/ship")

    assert_problem(
        response,
        409,
        "invalid-transition",
        detail=f"An order that is {status} cannot become SHIPPED.",
    )
    assert Order.objects.get(pk=order.pk).status == status


def test_a_buyer_cannot_ship(user_client: APIClient, lamp: Product):
    order = order_with_lines((lamp, 1), status=Status.CONFIRMED)

    response = user_client.post(f"{ORDERS}{order.pk}/ship")

    assert_problem(
        response,
        403,
        "permission-denied",
        detail="Needs the role order-managers or superuser.",
    )
    assert Order.objects.get(pk=order.pk).status == Status.CONFIRMED


def test_shipping_an_unknown_order_is_a_404(staff_client: APIClient):
    response = staff_client.post(f"{ORDERS}{uuid.uuid4()}/ship")

    assert_problem(response, 404, "not-found")


def test_anonymous_cannot_ship(api_client: APIClient, lamp: Product):
    order = order_with_lines((lamp, 1), status=Status.CONFIRMED)

    response = api_client.post(f"{ORDERS}{order.pk}/ship")

    assert_problem(response, 401, "not-authenticated")
