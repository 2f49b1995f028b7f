"""Stock: staff adjustments through the ledger, the ledger list, races, the invariant."""

from __future__ import annotations

from decimal import Decimal

import pytest
from chassis.pytest_plugin import HTTPS, STAFF_ID
from chassis.roles import CATALOG_EDITORS
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from catalog import services
from catalog.models import Product
from tests.factories import ProductFactory
from tests.utils import (
    PRODUCTS,
    assert_ledger_consistent,
    assert_problem,
    in_threads,
    iso,
    product_json,
)

pytestmark = pytest.mark.django_db

ACTOR = f"user:{STAFF_ID}"


def stock_url(product: Product) -> str:
    return f"{PRODUCTS}{product.pk}/stock"


def movements_url(product: Product) -> str:
    return f"{PRODUCTS}{product.pk}/stock-movements"


@pytest.fixture
def lamp() -> Product:
    return services.product_create(sku="LAMP-1", name="Lamp", price=Decimal("10"), stock=5)


# --- permissions -----------------------------------------------------------------------------


def test_stock_adjust_needs_a_token_then_staff(
    api_client: APIClient, user_client: APIClient, lamp: Product
):
    body = {"mode": "increment", "quantity": 1, "reason": "restock"}

    assert_problem(api_client.post(stock_url(lamp), body), 401, "not-authenticated", errors=[])
    assert_problem(user_client.post(stock_url(lamp), body), 403, "permission-denied", errors=[])
    lamp.refresh_from_db()
    assert lamp.stock == 5
    assert lamp.movements.count() == 1


def test_the_ledger_is_staff_only_even_to_read(
    api_client: APIClient, user_client: APIClient, lamp: Product
):
    assert_problem(api_client.get(movements_url(lamp)), 401, "not-authenticated", errors=[])
    assert_problem(user_client.get(movements_url(lamp)), 403, "permission-denied", errors=[])


# --- staff -----------------------------------------------------------------------------------


def test_staff_increments_stock(staff_client: APIClient, lamp: Product):
    response = staff_client.post(
        stock_url(lamp),
        {"mode": "increment", "quantity": 3, "reason": "restock", "reference": "PO-7"},
    )

    assert response.status_code == 200
    movement = lamp.movements.order_by("-id").first()
    assert response.json() == {
        "product": product_json(lamp, detail=True),
        "movement": {
            "id": movement.pk,
            "product_id": lamp.pk,
            "delta": 3,
            "stock_after": 8,
            "reason": "restock",
            "reference": "PO-7",
            "actor": ACTOR,
            "created_at": iso(movement.created_at),
        },
    }
    assert lamp.stock == 8


def test_staff_sets_stock(staff_client: APIClient, lamp: Product):
    response = staff_client.post(
        stock_url(lamp), {"mode": "set", "quantity": 0, "reason": "correction"}
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["product"]["stock"], body["product"]["in_stock"]) == (0, False)
    assert (body["movement"]["delta"], body["movement"]["stock_after"]) == (-5, 0)
    assert body["movement"]["reference"] == ""


def test_setting_the_current_stock_writes_no_movement(staff_client: APIClient, lamp: Product):
    response = staff_client.post(
        stock_url(lamp), {"mode": "set", "quantity": 5, "reason": "correction"}
    )

    assert response.status_code == 200
    assert response.json() == {"product": product_json(lamp, detail=True), "movement": None}
    assert lamp.movements.count() == 1


def test_removing_more_than_there_is_is_409(staff_client: APIClient, lamp: Product):
    response = staff_client.post(
        stock_url(lamp), {"mode": "increment", "quantity": -6, "reason": "damage"}
    )

    assert_problem(
        response,
        409,
        "insufficient-stock",
        detail="Stock is 5; removing 6 would make it negative.",
        errors=[{"field": "quantity", "code": "insufficient", "message": "Not enough stock."}],
    )
    assert response.json()["title"] == "Not enough stock."
    lamp.refresh_from_db()
    assert lamp.stock == 5
    assert lamp.movements.count() == 1


def test_stock_of_an_unknown_product_is_404(staff_client: APIClient):
    body = {"mode": "increment", "quantity": 1, "reason": "restock"}

    assert_problem(staff_client.post(f"{PRODUCTS}999999/stock", body), 404, "not-found")
    assert_problem(staff_client.get(f"{PRODUCTS}999999/stock-movements"), 404, "not-found")


def test_stock_of_an_inactive_product_can_still_be_adjusted(staff_client: APIClient):
    product = ProductFactory(stock=0, is_active=False)

    response = staff_client.post(
        stock_url(product), {"mode": "increment", "quantity": 2, "reason": "return"}
    )

    assert response.status_code == 200
    assert response.json()["product"]["stock"] == 2


def test_ledger_lists_movements_newest_first_in_pages(staff_client: APIClient, lamp: Product):
    for quantity in (1, 2, 3):
        staff_client.post(
            stock_url(lamp), {"mode": "increment", "quantity": quantity, "reason": "restock"}
        )

    first = staff_client.get(movements_url(lamp), {"page_size": 3})
    second = staff_client.get(first.json()["next"])

    assert first.status_code == second.status_code == 200
    assert [m["delta"] for m in first.json()["results"]] == [3, 2, 1]
    assert [m["stock_after"] for m in first.json()["results"]] == [11, 8, 6]
    assert [m["reason"] for m in second.json()["results"]] == ["initial"]
    assert second.json()["next"] is None
    movement = lamp.movements.order_by("id").first()
    assert second.json()["results"] == [
        {
            "id": movement.pk,
            "product_id": lamp.pk,
            "delta": 5,
            "stock_after": 5,
            "reason": "initial",
            "reference": "",
            "actor": "",
            "created_at": iso(movement.created_at),
        }
    ]


def test_ledger_of_another_product_is_not_mixed_in(staff_client: APIClient, lamp: Product):
    services.product_create(sku="OTHER", name="Other", price=Decimal("1"), stock=9)

    response = staff_client.get(movements_url(lamp))

    assert [m["product_id"] for m in response.json()["results"]] == [lamp.pk]


# --- invariant -------------------------------------------------------------------------------


def test_stock_equals_the_sum_of_the_ledger_after_api_and_admin_writes(staff_client: APIClient):
    admin = Client(**HTTPS)
    admin.force_login(User.objects.create_superuser("root", "root@example.com", "x"))
    created = [
        staff_client.post(PRODUCTS, {"sku": f"S-{n}", "name": f"P{n}", "price": "1", "stock": n})
        for n in (0, 4, 9)
    ]
    assert [r.status_code for r in created] == [201, 201, 201]
    first, second, third = (Product.objects.get(pk=r.json()["id"]) for r in created)
    steps = [
        (first, {"mode": "increment", "quantity": 3, "reason": "restock"}),
        (second, {"mode": "set", "quantity": 1, "reason": "correction"}),
        (second, {"mode": "increment", "quantity": -1, "reason": "damage"}),
        (third, {"mode": "increment", "quantity": -10, "reason": "damage"}),  # refused
        (third, {"mode": "set", "quantity": 20, "reason": "correction"}),
    ]
    statuses = [staff_client.post(stock_url(p), body).status_code for p, body in steps]
    changed = admin.post(
        f"/admin/catalog/catalog/product/{first.pk}/change/",
        {
            **admin_form(first),
            "stock_change": "-2",
            "stock_reason": "damage",
        },
    )

    assert statuses == [200, 200, 200, 409, 200]
    assert changed.status_code == 302, changed.content
    assert dict(Product.objects.values_list("sku", "stock")) == {"S-0": 1, "S-4": 0, "S-9": 20}
    assert_ledger_consistent()


def admin_form(product: Product) -> dict[str, str]:
    """The admin change form of ``product`` as a browser would post it back unchanged."""
    return {
        "sku": product.sku,
        "name": product.name,
        "slug": product.slug,
        "description": product.description,
        "price": str(product.price),
        "currency": product.currency,
        "category": str(product.category_id or ""),
        "is_active": "on" if product.is_active else "",
        "stock_change": "",
        "stock_reason": "restock",
        "movements-TOTAL_FORMS": "0",
        "movements-INITIAL_FORMS": "0",
        "movements-MIN_NUM_FORMS": "0",
        "movements-MAX_NUM_FORMS": "1000",
    }


# --- races -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_staff_requests_racing_for_the_last_unit(token):
    product = services.product_create(sku="LAST-1", name="Last", price=Decimal("1"), stock=1)
    access = token(sub=STAFF_ID, is_staff=True, groups=[CATALOG_EDITORS])
    body = {"mode": "increment", "quantity": -1, "reason": "damage"}

    def take_one():
        client = APIClient(**HTTPS)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        return client.post(stock_url(product), body)

    responses = in_threads(take_one, take_one)

    assert sorted(r.status_code for r in responses) == [200, 409], responses
    refused = next(r for r in responses if r.status_code == 409)
    assert_problem(refused, 409, "insufficient-stock")
    product.refresh_from_db()
    assert product.stock == 0
    assert list(product.movements.order_by("id").values_list("delta", "stock_after")) == [
        (1, 1),
        (-1, 0),
    ]
