"""Fixtures: the chassis's (tokens from a real JWKS server, HTTPS clients) plus orders'."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders.models import Product

pytest_plugins = ["chassis.pytest_plugin"]

# tests.factories is imported inside the fixtures: it imports chassis.pytest_plugin (the
# test users' ids), which pytest must import first, as a plugin, to rewrite its asserts.


@pytest.fixture
def lamp() -> Product:
    from tests.factories import ProductFactory

    return ProductFactory(id=11, sku="LAMP-1", name="Desk Lamp", price=Decimal("19.90"))


@pytest.fixture
def kettle() -> Product:
    from tests.factories import ProductFactory

    return ProductFactory(id=12, sku="KETTLE-1", name="Kettle", price=Decimal("24.50"))
