"""Hostile input on every list, search and admin changelist: below 500, in the error shape
(the chassis's suite: chassis.hostile); its endpoints are declared here."""

from __future__ import annotations

from typing import Any

import pytest
from chassis.hostile import Endpoint, HostileInputSuite
from chassis.pytest_plugin import HTTPS
from django.contrib.auth.models import User
from django.test import Client

from catalog.selectors import CATEGORY_ORDERINGS, PRODUCT_ORDERINGS
from tests.factories import CategoryFactory, ProductFactory, StockMovementFactory
from tests.utils import CATEGORIES, PRODUCTS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("collected_static")]

ADMIN = "/admin/catalog/catalog/"
ADMIN_LOOKUPS = ("id__exact", "created_at__gte", "q", "p", "o")


class TestHostileInput(HostileInputSuite):
    endpoints = (
        Endpoint(
            "products",
            PRODUCTS,
            client="api_client",
            params=("q", "category", "min_price", "max_price", "in_stock", "page_size"),
            cursor="keyset",
            orderings=tuple(PRODUCT_ORDERINGS),
        ),
        Endpoint(
            "products-by-price",
            PRODUCTS,
            client="api_client",
            params=("q",),
            query=(("ordering", "-price"), ("min_price", "1")),
        ),
        Endpoint(
            "categories",
            CATEGORIES,
            client="api_client",
            params=("page_size",),
            cursor="keyset",
            orderings=tuple(CATEGORY_ORDERINGS),
        ),
        Endpoint(
            "stock-ledger",
            PRODUCTS + "{product}/stock-movements",
            params=("page_size",),
            cursor="drf",
        ),
        Endpoint(
            "product-create",
            PRODUCTS,
            method="POST",
            body={"sku": "NEW-1", "name": "New", "price": "1.00"},
        ),
        Endpoint(
            "product-admin",
            ADMIN + "product/",
            client="admin_session",
            admin=True,
            params=(*ADMIN_LOOKUPS, "price__gt", "stock__lt", "category__id__exact", "sku"),
        ),
        Endpoint(
            "category-admin",
            ADMIN + "category/",
            client="admin_session",
            admin=True,
            params=(*ADMIN_LOOKUPS, "parent__id__exact"),
        ),
        Endpoint(
            "ledger-admin",
            ADMIN + "stockmovement/",
            client="admin_session",
            admin=True,
            params=(*ADMIN_LOOKUPS, "delta__gt", "reason__exact"),
        ),
        Endpoint(
            "reservation-admin",
            ADMIN + "reservation/",
            client="admin_session",
            admin=True,
            params=(*ADMIN_LOOKUPS, "order_id__exact", "updated_at__lt"),
        ),
    )

    @pytest.fixture
    def objects(self) -> dict[str, Any]:
        category = CategoryFactory(slug="kitchen", name="Kitchen")
        product = ProductFactory(sku="LAMP-1", name="Desk Lamp", stock=3, category=category)
        ProductFactory(sku="KETTLE-1", name="Kettle", category=category)
        StockMovementFactory(product=product)
        return {"product": product.pk}

    @pytest.fixture
    def admin_session(self) -> Client:
        client = Client(**HTTPS)
        client.force_login(User.objects.create_superuser("root", "root@example.com", "unused-pw"))
        return client
