"""Fixtures: the chassis's (tokens from a real JWKS server, HTTPS clients) plus orders'."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from chassis.roles import ORDER_MANAGERS
from rest_framework.test import APIClient

from orders.models import Product

pytest_plugins = ["chassis.pytest_plugin"]

# tests.factories is imported inside the fixtures: it imports chassis.pytest_plugin (the
# test users' ids), which pytest must import first, as a plugin, to rewrite its asserts.


@pytest.fixture
def staff_client(role_client: Any) -> APIClient:
    """The staff who manage orders: an order manager (orders.roles)."""
    return role_client(ORDER_MANAGERS)


@pytest.fixture
def lamp() -> Product:
    from tests.factories import ProductFactory

    return ProductFactory(id=11, sku="LAMP-1", name="Desk Lamp", price=Decimal("19.90"))


@pytest.fixture
def kettle() -> Product:
    from tests.factories import ProductFactory

    return ProductFactory(id=12, sku="KETTLE-1", name="Kettle", price=Decimal("24.50"))


@pytest.fixture
def highest_limits(settings: Any) -> None:
    """The largest orders the limits may allow (orders.limits; what the columns are sized for)."""
    settings.ORDERS_MAX_LINES, settings.ORDERS_MAX_UNITS_PER_LINE = 50, 1000
    settings.ORDERS_MAX_OPEN_VALUE_PER_ACCOUNT = {"*": Decimal("1e16")}
