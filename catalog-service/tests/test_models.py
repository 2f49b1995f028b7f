"""What the database itself guarantees: check constraints and the generated search column."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from catalog.models import Category, Product
from tests.factories import CategoryFactory, ProductFactory, StockMovementFactory

pytestmark = pytest.mark.django_db


def test_stock_cannot_go_below_zero_even_with_sql():
    product = ProductFactory(stock=0)

    with pytest.raises(IntegrityError, match="catalog_product_stock_gte_0"), transaction.atomic():
        Product.objects.filter(pk=product.pk).update(stock=-1)

    product.refresh_from_db()
    assert product.stock == 0


def test_price_cannot_be_negative():
    product = ProductFactory(price=Decimal("1.00"))

    with pytest.raises(IntegrityError, match="catalog_product_price_gte_0"), transaction.atomic():
        Product.objects.filter(pk=product.pk).update(price=Decimal("-0.01"))


def test_a_category_cannot_be_its_own_parent():
    category = CategoryFactory()

    with (
        pytest.raises(IntegrityError, match="catalog_category_not_own_parent"),
        transaction.atomic(),
    ):
        Category.objects.filter(pk=category.pk).update(parent=category)


@pytest.mark.parametrize(
    ("delta", "stock_after", "constraint"),
    [(0, 1, "catalog_movement_delta_not_0"), (1, -1, "catalog_movement_stock_after_gte_0")],
)
def test_movement_constraints(delta: int, stock_after: int, constraint: str):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        StockMovementFactory(delta=delta, stock_after=stock_after)


def test_sku_and_slug_are_unique():
    ProductFactory(sku="A-1", slug="a-1")

    with pytest.raises(IntegrityError), transaction.atomic():
        ProductFactory(sku="A-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        ProductFactory(slug="a-1")


def test_a_category_in_use_is_protected():
    category = CategoryFactory()
    ProductFactory(category=category)
    child = CategoryFactory(parent=CategoryFactory())

    with pytest.raises(ProtectedError):
        category.delete()
    with pytest.raises(ProtectedError):
        child.parent.delete()


def test_search_document_is_a_generated_tsvector_of_name_sku_and_description():
    product = ProductFactory(name="Chef Knives", sku="KN-7", description="Forged steel")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT search_document::text FROM catalog_product WHERE id = %s", [product.pk]
        )
        (document,) = cursor.fetchone()

    assert document == "'-7':4 'chef':1 'forg':5 'kn':3 'knive':2 'steel':6"


def test_search_document_follows_raw_sql_updates():
    product = ProductFactory(name="Kettle", sku="K-1")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE catalog_product SET name = 'Teapot' WHERE id = %s", [product.pk])

    assert list(Product.objects.filter(search_document="teapot").values_list("id", flat=True)) == [
        product.pk
    ]


def test_string_forms():
    category = CategoryFactory(name="Audio")
    product = ProductFactory(name="Speaker", sku="SP-1", category=category)
    movement = StockMovementFactory(product=product, delta=-2, stock_after=3, reason="damage")

    assert str(category) == "Audio"
    assert str(product) == "Speaker (SP-1)"
    assert str(movement) == f"{product.pk}: -2 (damage)"
