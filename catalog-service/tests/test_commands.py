"""manage.py seed_catalog: a category tree and N products, each with its initial movement."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from catalog.management.commands.seed_catalog import TREE
from catalog.models import Category, Product, StockMovement
from tests.factories import ProductFactory
from tests.utils import assert_ledger_consistent

pytestmark = pytest.mark.django_db

LEAVES = sum(len(children) for children in TREE.values())


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_catalog", "--no-progress", *args, stdout=out)
    return out.getvalue()


def test_seeds_products_in_the_category_tree_with_their_ledger():
    output = seed("--products", "50", "--batch", "20")

    assert output == f"seeded 50 products in {LEAVES} categories\n"
    assert Product.objects.count() == 50
    assert Category.objects.count() == len(TREE) + LEAVES
    assert Category.objects.filter(parent=None).count() == len(TREE)
    # Every product sits in a leaf (a category whose parent is a root).
    assert not Product.objects.filter(category__parent=None).exists()
    assert not Product.objects.filter(category=None).exists()
    in_stock = Product.objects.filter(stock__gt=0)
    assert StockMovement.objects.count() == in_stock.count()
    assert set(StockMovement.objects.values_list("product_id", flat=True)) == set(
        in_stock.values_list("id", flat=True)
    )
    assert set(StockMovement.objects.values_list("reason", "reference", "actor")) == {
        ("initial", "seed", "seed_catalog")
    }
    assert_ledger_consistent()
    assert sorted(Product.objects.values_list("sku", flat=True)) == [
        f"SEED-{n:07d}" for n in range(1, 51)
    ]


def test_seeded_products_are_searchable():
    seed("--products", "50")
    product = Product.objects.order_by("id").first()

    matches = Product.objects.filter(search_document=product.sku.lower())

    assert list(matches.values_list("id", flat=True)) == [product.pk]


def test_a_second_run_adds_more_with_new_skus():
    seed("--products", "50")
    first = set(Product.objects.values_list("sku", flat=True))

    seed("--products", "50")

    skus = set(Product.objects.values_list("sku", flat=True))
    assert len(skus) == 100
    assert skus - first == {f"SEED-{n:07d}" for n in range(51, 101)}
    assert Category.objects.count() == len(TREE) + LEAVES
    assert_ledger_consistent()


def test_if_empty_does_nothing_when_products_exist():
    ProductFactory()

    output = seed("--products", "50", "--if-empty")

    assert output == "catalog already has products: nothing seeded\n"
    assert Product.objects.count() == 1
    assert not Category.objects.exists()


def test_if_empty_seeds_an_empty_catalog():
    seed("--products", "5", "--if-empty")

    assert Product.objects.count() == 5


def test_same_seed_same_catalog():
    seed("--products", "10", "--seed", "7")
    first = list(Product.objects.order_by("sku").values_list("sku", "name", "price", "stock"))
    StockMovement.objects.all().delete()
    Product.objects.all().delete()

    seed("--products", "10", "--seed", "7")

    assert list(Product.objects.order_by("sku").values_list("sku", "name", "price", "stock")) == (
        first
    )
