"""The permission matrix of orders (orders.roles; the README's "Roles" table): each role
against each staff endpoint and admin page, allowed (its exact success) or refused."""

from __future__ import annotations

from typing import Any

import pytest
from chassis.pytest_plugin import HTTPS, STAFF_ID, USER_ID
from chassis.roles import CATALOG_EDITORS, ORDER_MANAGERS, SUPPORT
from chassis.sso import shadow_user_sync
from chassis.testing import assert_problem, bearer
from django.test import Client

from orders.models import Order, Product, Status
from tests.factories import order_with_lines

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("collected_static")]

ROLES = (CATALOG_EDITORS, ORDER_MANAGERS, SUPPORT, "staff", "superuser")
MANAGERS = {ORDER_MANAGERS, "superuser"}
READERS = {ORDER_MANAGERS, SUPPORT, "superuser"}
API = "/api/v1/orders/"
ADMIN = "/admin/orders/"

# (method, path, success status, roles allowed, refusal status) on a buyer's CONFIRMED order:
# another buyer's order does not exist (404) for whoever may not read every order.
API_MATRIX = [
    ("get", "{order}", 200, READERS, 404),
    ("post", "{order}/cancel", 200, MANAGERS, {True: 403, False: 404}),
    ("post", "{order}/ship", 200, MANAGERS, 403),
]
# (admin path, roles allowed); a role with no permission in orders gets the login page.
ADMIN_MATRIX = [
    ("", READERS),
    ("orders/order/", READERS),
    ("orders/order/{order}/change/", READERS),
    ("orders/product/", READERS),
    ("chassis_events/parkedevent/", {"superuser"}),
]


def _claims(role: str) -> dict[str, Any]:
    groups = [role] if role not in ("staff", "superuser") else []
    return {
        "sub": STAFF_ID,
        "email": "staff@example.com",
        "is_staff": True,
        "is_superuser": role == "superuser",
        "groups": groups,
    }


@pytest.fixture
def order(lamp: Product) -> Order:
    return order_with_lines((lamp, 1), status=Status.CONFIRMED, user_id=USER_ID)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "success", "allowed", "refusal"), API_MATRIX)
def test_api_matrix(token, order, role, method, path, success, allowed, refusal):
    client = bearer(token(**_claims(role)))

    response = getattr(client, method)(API + path.format(order=order.pk))

    if role in allowed:
        assert response.status_code == success, response.content
    else:
        if isinstance(refusal, dict):  # support reads the order, so is told it may not
            refusal = refusal[role in READERS]
        assert_problem(response, refusal, "permission-denied" if refusal == 403 else "not-found")
        assert Order.objects.get(pk=order.pk).status == Status.CONFIRMED


@pytest.mark.parametrize("role", ROLES)
def test_every_buyers_orders_are_listed_for_readers_only(token, order, role):
    response = bearer(token(**_claims(role))).get(API)

    expected = [str(order.pk)] if role in READERS else []
    assert [row["id"] for row in response.json()["results"]] == expected


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("path", "allowed"), ADMIN_MATRIX)
def test_admin_matrix(order, role, path, allowed):
    client = Client(**HTTPS)
    client.force_login(shadow_user_sync(_claims(role)))

    response = client.get(ADMIN + path.format(order=order.pk))

    if role in allowed:
        assert response.status_code == 200
    elif role in READERS:
        assert response.status_code == 403
    else:  # no permission in orders: the admin's door refuses (chassis.admin.AdminSite)
        assert response.status_code == 302
        assert response["Location"].startswith(f"{ADMIN}login/")


@pytest.mark.parametrize("role", [ORDER_MANAGERS, SUPPORT, "superuser"])
def test_cancel_and_ship_are_offered_to_order_managers_only(order, role):
    client = Client(**HTTPS)
    client.force_login(shadow_user_sync(_claims(role)))

    listing = client.get(f"{ADMIN}orders/order/").content.decode()
    form = client.get(f"{ADMIN}orders/order/{order.pk}/change/").content.decode()

    offered = role in MANAGERS
    assert ('value="cancel_orders"' in listing) is offered
    assert ('value="ship_orders"' in listing) is offered
    assert 'name="_save"' not in form  # an order's fields are never edited
