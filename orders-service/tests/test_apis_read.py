"""GET /api/v1/orders/ and /api/v1/orders/<id>: buyers see their own orders, staff every
order (filterable); newest first, cursor pages, a constant number of queries."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from chassis.pytest_plugin import STAFF_ID, USER_ID
from rest_framework.test import APIClient

from orders.models import Order, Product, Status
from tests.factories import OrderFactory, ProductFactory, order_with_lines
from tests.utils import ORDERS, assert_problem, ids, order_json

pytestmark = pytest.mark.django_db

OTHER_ID = "7d0c6f7e-5b1a-4a43-9d64-0a1f6f1b0003"


@pytest.fixture
def orders(lamp: Product, kettle: Product) -> dict[str, Order]:
    """Two orders of the buyer, one of another buyer, one of staff (oldest first)."""
    return {
        "mine_old": order_with_lines((lamp, 1), status=Status.CONFIRMED),
        "other": order_with_lines((kettle, 2), user_id=OTHER_ID, user_email="o@example.com"),
        "mine_new": order_with_lines((lamp, 2), (kettle, 1)),
        "staff": order_with_lines((kettle, 1), user_id=STAFF_ID, status=Status.SHIPPED),
    }


def pks(*orders: Order) -> list[str]:
    return [str(order.pk) for order in orders]


# --- list -----------------------------------------------------------------------------------


def test_a_buyer_lists_their_own_orders_newest_first(
    user_client: APIClient, orders: dict[str, Order]
):
    response = user_client.get(ORDERS)

    assert response.status_code == 200
    assert response.json() == {
        "next": None,
        "previous": None,
        "results": [order_json(orders["mine_new"]), order_json(orders["mine_old"])],
    }


def test_staff_list_every_order(staff_client: APIClient, orders: dict[str, Order]):
    response = staff_client.get(ORDERS)

    assert response.status_code == 200
    assert ids(response) == pks(
        orders["staff"], orders["mine_new"], orders["other"], orders["mine_old"]
    )
    assert response.json()["results"][1] == order_json(orders["mine_new"])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "PENDING"}, ["mine_new", "other"]),
        ({"status": ["CONFIRMED", "SHIPPED"]}, ["staff", "mine_old"]),
        ({"status": ["REJECTED"]}, []),
        ({"user_id": OTHER_ID}, ["other"]),
        ({"user_id": USER_ID, "status": "CONFIRMED"}, ["mine_old"]),
        ({"user_id": "nobody"}, []),
    ],
    ids=["pending", "confirmed-or-shipped", "none-rejected", "one-user", "user-and-status", "none"],
)
def test_staff_filter_by_status_and_user(
    staff_client: APIClient, orders: dict[str, Order], query: dict[str, Any], expected: list[str]
):
    response = staff_client.get(ORDERS, query)

    assert response.status_code == 200, response.content
    assert ids(response) == pks(*(orders[name] for name in expected))


def test_a_buyers_filters_never_reach_other_buyers_orders(
    user_client: APIClient, orders: dict[str, Order]
):
    response = user_client.get(ORDERS, {"user_id": OTHER_ID})

    assert response.status_code == 200
    assert ids(response) == []


def test_an_unknown_status_filter_is_a_400(staff_client: APIClient, orders: dict[str, Order]):
    response = staff_client.get(ORDERS, {"status": "LOST"})

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[
            {
                "field": "status",
                "code": "invalid_choice",
                "message": "Select a valid choice. LOST is not one of the available choices.",
            }
        ],
    )


def test_pages_follow_the_cursor(staff_client: APIClient, lamp: Product):
    created = [order_with_lines((lamp, 1)) for _ in range(5)]
    newest_first = pks(*reversed(created))

    first = staff_client.get(ORDERS, {"page_size": 2})
    second = staff_client.get(first.json()["next"])
    third = staff_client.get(second.json()["next"])

    assert [ids(first), ids(second), ids(third)] == [
        newest_first[:2],
        newest_first[2:4],
        newest_first[4:],
    ]
    assert first.json()["previous"] is None
    assert third.json()["next"] is None
    back = staff_client.get(third.json()["previous"])
    assert ids(back) == newest_first[2:4]


def test_the_default_page_is_twenty(user_client: APIClient):
    OrderFactory.create_batch(21)

    response = user_client.get(ORDERS)

    assert len(ids(response)) == 20
    assert response.json()["next"] is not None


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"cursor": "garbage"}, "cursor", "Invalid cursor."),
        ({"page_size": "0"}, "page_size", "A positive integer is required."),
        ({"page_size": "ten"}, "page_size", "A positive integer is required."),
    ],
    ids=["cursor", "page-size-0", "page-size-text"],
)
def test_bad_paging_input_is_a_400(
    user_client: APIClient, query: dict[str, str], field: str, message: str
):
    response = user_client.get(ORDERS, query)

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[{"field": field, "code": "invalid", "message": message}],
    )


def test_anonymous_cannot_list(api_client: APIClient, orders: dict[str, Order]):
    assert_problem(api_client.get(ORDERS), 401, "not-authenticated")


@pytest.mark.parametrize("count", [2, 20])
def test_the_list_takes_two_queries_however_many_orders(
    staff_client: APIClient, django_assert_num_queries: Any, count: int
):
    products = ProductFactory.create_batch(3)
    for _ in range(count):
        order_with_lines(*((product, 2) for product in products))

    with django_assert_num_queries(2):  # the page, then its lines (prefetched)
        response = staff_client.get(ORDERS)

    assert len(ids(response)) == count
    assert all(len(item["lines"]) == 3 for item in response.json()["results"])


# --- detail ---------------------------------------------------------------------------------


def test_a_buyer_reads_their_order(user_client: APIClient, orders: dict[str, Order]):
    order = orders["mine_new"]

    response = user_client.get(f"{ORDERS}{order.pk}")

    assert response.status_code == 200
    assert response.json() == order_json(order)
    assert [line["sku"] for line in response.json()["lines"]] == ["LAMP-1", "KETTLE-1"]


def test_a_rejected_order_shows_its_reasons(user_client: APIClient, lamp: Product):
    reasons = [{"product_id": 11, "code": "insufficient-stock", "requested": 2, "available": 1}]
    order = order_with_lines((lamp, 2), status=Status.REJECTED, rejection_reasons=reasons)

    response = user_client.get(f"{ORDERS}{order.pk}")

    assert response.json()["rejection_reasons"] == reasons
    assert response.json()["status"] == "REJECTED"


def test_another_buyers_order_is_a_404(user_client: APIClient, orders: dict[str, Order]):
    response = user_client.get(f"{ORDERS}{orders['other'].pk}")

    assert_problem(response, 404, "not-found", detail="No resource matches the request.", errors=[])


def test_staff_read_any_order(staff_client: APIClient, orders: dict[str, Order]):
    response = staff_client.get(f"{ORDERS}{orders['other'].pk}")

    assert response.status_code == 200
    assert response.json() == order_json(orders["other"])


def test_an_unknown_order_is_a_404(user_client: APIClient):
    assert_problem(user_client.get(f"{ORDERS}{uuid.uuid4()}"), 404, "not-found")


@pytest.mark.parametrize("path", ["not-a-uuid", "12345", f"{uuid.uuid4()}/"])
def test_a_malformed_order_id_is_a_404(user_client: APIClient, path: str):
    assert_problem(
        user_client.get(f"{ORDERS}{path}"),
        404,
        "not-found",
        detail="No resource matches the request.",
    )


def test_anonymous_cannot_read(api_client: APIClient, orders: dict[str, Order]):
    assert_problem(api_client.get(f"{ORDERS}{orders['mine_new'].pk}"), 401, "not-authenticated")


@pytest.mark.parametrize("name", ["created_before", "created_after", "user_id"])
def test_a_blank_filter_is_a_400(staff_client: APIClient, orders: dict[str, Order], name: str):
    """``?created_before=`` says nothing: refused, not read as "no filter" (found by the
    system fuzz: the schema documents a date-time there)."""
    response = staff_client.get(ORDERS, {name: ""})

    errors = assert_problem(response, 400, "validation-error")["errors"]
    assert [(e["field"], e["code"], e["message"]) for e in errors] == [
        (name, "blank", "This field may not be blank.")
    ]


def test_a_date_filter_with_any_offset_python_reads_is_answered(
    staff_client: APIClient, orders: dict[str, Order]
):
    """PostgreSQL refuses offsets beyond 15:59: the filter hands it UTC (found by the fuzz:
    a 500 with -17:35)."""
    response = staff_client.get(ORDERS, {"created_before": "6918-12-29T22:17:03-17:35"})

    assert response.status_code == 200
    assert len(ids(response)) == len(orders)


def test_a_date_filter_outside_the_calendar_is_a_400(staff_client: APIClient):
    response = staff_client.get(ORDERS, {"created_after": "9999-12-31T23:00:00-05:00"})

    errors = assert_problem(response, 400, "validation-error")["errors"]
    assert [(e["field"], e["message"]) for e in errors] == [
        ("created_after", "Date-time out of range.")
    ]
