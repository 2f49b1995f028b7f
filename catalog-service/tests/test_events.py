"""product.changed: published in the transaction of every product create and update, from
every write path (services, API, admin, seed, publish_products), matching its schema."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from chassis.events.envelope import InvalidEvent
from chassis.events.models import OutboxEvent
from chassis.pytest_plugin import HTTPS
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient

from catalog import services
from catalog.events import product_changed_outbox_bulk
from catalog.models import Product
from tests.events import outbox
from tests.factories import EPOCH, ProductFactory
from tests.utils import PRODUCTS, iso

pytestmark = pytest.mark.django_db


def expected(product: Product) -> dict[str, object]:
    product.refresh_from_db()
    return {
        "product_id": product.pk,
        "sku": product.sku,
        "name": product.name,
        "price": f"{product.price:.2f}",
        "currency": product.currency,
        "is_active": product.is_active,
        "updated_at": iso(product.updated_at),
    }


# --- services ------------------------------------------------------------------------------


def test_creating_a_product_publishes_product_changed():
    product = services.product_create(
        sku="KT-1", name="Kettle", price=Decimal("24.5"), currency="EUR", stock=3
    )

    assert outbox("product.changed") == [expected(product)]
    assert expected(product)["price"] == "24.50"


def test_updating_a_product_publishes_its_new_state():
    product = ProductFactory(sku="KT-1", price=Decimal("1.00"))

    services.product_update(product=product, data={"name": "Big Kettle", "price": Decimal("12")})

    assert outbox("product.changed") == [expected(product)]
    assert outbox("product.changed")[0]["name"] == "Big Kettle"
    assert outbox("product.changed")[0]["price"] == "12.00"


def test_deactivating_a_product_publishes_it_inactive():
    product = ProductFactory()

    services.product_deactivate(product=product)

    [payload] = outbox("product.changed")
    assert payload == expected(product)
    assert payload["is_active"] is False


def test_a_stock_change_publishes_no_product_changed():
    product = ProductFactory(stock=1)

    services.stock_adjust(product_id=product.pk, mode="increment", quantity=4, reason="restock")

    assert OutboxEvent.objects.count() == 0


def test_a_failed_update_publishes_nothing():
    ProductFactory(sku="TAKEN")
    product = ProductFactory(sku="KT-1")

    with pytest.raises(services.Duplicate):
        services.product_update(product=product, data={"sku": "TAKEN"})

    assert OutboxEvent.objects.count() == 0


def test_the_event_is_part_of_the_transaction_of_the_change():
    def change_that_fails() -> None:
        with transaction.atomic():
            services.product_create(sku="KT-1", name="Kettle", price=Decimal("1"))
            raise RuntimeError("the caller's transaction fails later")

    with pytest.raises(RuntimeError, match="fails later"):
        change_that_fails()

    assert (Product.objects.count(), OutboxEvent.objects.count()) == (0, 0)


def test_a_payload_outside_the_contract_is_refused():
    product = ProductFactory.build(  # 11 integer digits: more than the contract allows
        pk=1, price=Decimal("12345678901.00"), updated_at=EPOCH
    )

    with pytest.raises(InvalidEvent, match="price"):
        product_changed_outbox_bulk([product])
    assert OutboxEvent.objects.count() == 0


# --- API and admin -------------------------------------------------------------------------


def test_the_api_create_and_patch_publish(staff_client: APIClient):
    created = staff_client.post(PRODUCTS, {"sku": "KT-1", "name": "Kettle", "price": "24.50"})
    product_id = created.json()["id"]
    patched = staff_client.patch(f"{PRODUCTS}{product_id}", {"price": "20.00"})

    assert (created.status_code, patched.status_code) == (201, 200)
    payloads = outbox("product.changed")
    assert [(p["product_id"], p["price"]) for p in payloads] == [
        (product_id, "24.50"),
        (product_id, "20.00"),
    ]
    assert payloads[-1] == expected(Product.objects.get())


@pytest.fixture
def admin(collected_static) -> Client:
    client = Client(**HTTPS)
    client.force_login(User.objects.create_superuser("root", "root@example.com", "unused-pw-1"))
    return client


def test_the_admin_add_and_change_forms_publish(admin: Client):
    form = {
        "sku": "LAMP-1",
        "name": "Desk Lamp",
        "slug": "desk-lamp",
        "description": "",
        "price": "19.90",
        "currency": "EUR",
        "category": "",
        "is_active": "on",
        "stock_change": "5",
        "stock_reason": "restock",
        "movements-TOTAL_FORMS": "0",
        "movements-INITIAL_FORMS": "0",
    }
    added = admin.post("/admin/catalog/catalog/product/add/", form)
    product = Product.objects.get()
    changed = admin.post(
        f"/admin/catalog/catalog/product/{product.pk}/change/",
        {**form, "name": "Big Desk Lamp", "stock_change": ""},
    )

    assert (added.status_code, changed.status_code) == (302, 302)
    payloads = outbox("product.changed")
    assert [(p["name"], p["price"]) for p in payloads] == [
        ("Desk Lamp", "19.90"),
        ("Big Desk Lamp", "19.90"),
    ]
    assert payloads[-1] == expected(product)


def test_the_admin_list_edit_publishes(admin: Client):
    product = ProductFactory(price=Decimal("1.00"))

    response = admin.post(
        "/admin/catalog/catalog/product/",
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(product.pk),
            "form-0-price": "1.50",
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    assert outbox("product.changed") == [expected(product)]
    assert expected(product)["is_active"] is False


# --- bulk: seed_catalog and publish_products -----------------------------------------------


def test_seed_catalog_writes_one_event_per_product():
    call_command("seed_catalog", "--no-progress", "--products", "30", "--batch", "7", stdout=None)

    payloads = outbox("product.changed")
    assert sorted(p["product_id"] for p in payloads) == sorted(
        Product.objects.values_list("pk", flat=True)
    )
    assert sorted(payloads, key=lambda p: p["product_id"]) == [
        expected(p) for p in Product.objects.order_by("pk")
    ]


def test_seed_catalog_without_events():
    call_command("seed_catalog", "--no-progress", "--no-events", "--products", "5", stdout=None)

    assert (Product.objects.count(), OutboxEvent.objects.count()) == (5, 0)


def publish_products(*args: str) -> str:
    out = StringIO()
    call_command("publish_products", *args, stdout=out)
    return out.getvalue()


def test_publish_products_announces_active_products_in_batches():
    active = ProductFactory.create_batch(5)
    ProductFactory(is_active=False)

    assert publish_products("--batch", "2") == "published product.changed for 5 products\n"

    assert outbox("product.changed") == [expected(p) for p in active]


def test_publish_products_all_includes_inactive_ones():
    products = [ProductFactory(), ProductFactory(is_active=False)]

    assert publish_products("--all") == "published product.changed for 2 products\n"

    assert outbox("product.changed") == [expected(p) for p in products]


def test_publish_products_of_an_empty_catalog():
    assert publish_products() == "published product.changed for 0 products\n"
    assert OutboxEvent.objects.count() == 0
