"""Hostile input on every list and admin changelist: below 500, in the error shape (the
chassis's suite: chassis.hostile); its endpoints are declared here."""

from __future__ import annotations

from typing import Any

import pytest
from chassis.hostile import Endpoint, HostileInputSuite
from chassis.pytest_plugin import HTTPS
from django.contrib.auth.models import User
from django.test import Client

from orders.models import Product
from tests.factories import OrderFactory, OrderLineFactory
from tests.utils import ORDERS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("collected_static")]

ADMIN = "/admin/orders/orders/"
ADMIN_LOOKUPS = ("id__exact", "created_at__gte", "q", "p", "o")


class TestHostileInput(HostileInputSuite):
    endpoints = (
        Endpoint(
            "orders",
            ORDERS,
            params=("status", "user_id", "created_after", "created_before", "page_size"),
            cursor="drf",
        ),
        Endpoint("buyer-orders", ORDERS, client="user_client", params=("page_size",)),
        Endpoint(
            "order-place",
            ORDERS,
            client="user_client",
            method="POST",
            body={"lines": [{"product_id": 11, "quantity": 1}]},
            headers=(("HTTP_IDEMPOTENCY_KEY", "0b5e4a3c-2d1f-4e6a-9b8c-7d6e5f4a3b2c"),),
        ),
        Endpoint(
            "order-admin",
            ADMIN + "order/",
            client="admin_session",
            admin=True,
            params=(
                *ADMIN_LOOKUPS,
                "total__gt",
                "created_at__year",
                "created_at__month",
                "created_at__day",
                "user_id",
            ),
            query=(("created_at__year", "2024"),),
        ),
        Endpoint(
            "order-admin-hierarchy",
            ADMIN + "order/",
            client="admin_session",
            admin=True,
            params=("created_at__year", "created_at__month", "created_at__day"),
        ),
        Endpoint(
            "product-admin",
            ADMIN + "product/",
            client="admin_session",
            admin=True,
            params=(*ADMIN_LOOKUPS, "price__lt", "currency__exact"),
        ),
    )

    @pytest.fixture
    def objects(self, lamp: Product) -> dict[str, Any]:
        order = OrderFactory()
        OrderLineFactory(order=order, product_id=lamp.pk)
        return {"order": order.pk}

    @pytest.fixture
    def admin_session(self) -> Client:
        client = Client(**HTTPS)
        client.force_login(User.objects.create_superuser("root", "root@example.com", "unused-pw"))
        return client
