"""factory_boy factories for catalog-service's models.

Products are created as rows (stock included, no ledger): tests of the ledger go through
``services.product_create`` / ``stock_adjust`` instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from catalog.models import Category, Product, StockMovement

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


class CategoryFactory(DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n:04d}")
    slug = factory.Sequence(lambda n: f"category-{n:04d}")
    parent = None


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"product {n:05d}")
    slug = factory.Sequence(lambda n: f"product-{n:05d}")
    description = ""
    price = factory.Sequence(lambda n: Decimal(10 + n % 90) + Decimal("0.50"))
    currency = "EUR"
    stock = 5
    category = None
    is_active = True
    # One minute apart in creation order, so "newest" / "oldest" are deterministic.
    created_at = factory.Sequence(lambda n: EPOCH + timedelta(minutes=n))


class StockMovementFactory(DjangoModelFactory):
    class Meta:
        model = StockMovement

    product = factory.SubFactory(ProductFactory)
    delta = 1
    stock_after = 1
    reason = StockMovement.Reason.RESTOCK
