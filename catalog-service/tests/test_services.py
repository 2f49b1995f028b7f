"""catalog.services: categories, products and the stock ledger, against real PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog import services
from catalog.models import Category, Product, StockMovement
from tests.factories import CategoryFactory, ProductFactory
from tests.utils import assert_ledger_consistent, in_threads, row_counts

pytestmark = pytest.mark.django_db


# --- categories ----------------------------------------------------------------------------


def test_category_create_and_update():
    parent = services.category_create(name="Home & Garden")
    child = services.category_create(name="Lamps", slug="lamps", parent=parent)

    services.category_update(category=child, data={"name": "Lighting", "parent": None})

    child.refresh_from_db()
    assert parent.slug == "home-garden"
    assert (child.name, child.slug, child.parent) == ("Lighting", "lamps", None)


def test_category_parent_check_refuses_cycles_at_any_depth():
    a = CategoryFactory()
    b = CategoryFactory(parent=a)
    c = CategoryFactory(parent=b)

    for parent in (a, b, c):
        with pytest.raises(services.InvalidCategoryParent):
            services.category_update(category=a, data={"parent": parent})
    services.category_parent_check(category=c, parent=a)  # a sibling move is fine
    a.refresh_from_db()
    assert a.parent is None


def test_category_delete():
    used = CategoryFactory()
    ProductFactory(category=used)
    parent = CategoryFactory()
    CategoryFactory(parent=parent)
    empty = CategoryFactory()

    for category in (used, parent):
        with pytest.raises(services.CategoryInUse):
            services.category_delete(category=category)
    services.category_delete(category=empty)

    assert Category.objects.count() == 3


def test_duplicate_slug_names_the_field():
    CategoryFactory(slug="audio")

    with pytest.raises(services.Duplicate) as caught:
        services.category_create(name="Audio")

    assert caught.value.errors == [{"field": "slug", "code": "unique", "message": "Already taken."}]
    assert Category.objects.count() == 1


# --- products ------------------------------------------------------------------------------


def test_product_create_writes_the_initial_movement():
    product = services.product_create(
        sku="A-1", name="Lamp", price=Decimal("9.99"), stock=7, actor="user:1"
    )

    assert (product.slug, product.currency, product.stock) == ("lamp-a-1", "EUR", 7)
    movement = product.movements.get()
    assert (movement.delta, movement.stock_after, movement.reason, movement.actor) == (
        7,
        7,
        "initial",
        "user:1",
    )


def test_product_create_without_stock_writes_no_movement():
    product = services.product_create(sku="A-1", name="Lamp", price=Decimal("1"))

    assert product.stock == 0
    assert StockMovement.objects.count() == 0


def test_product_create_duplicate_sku_and_slug():
    ProductFactory(sku="A-1", slug="lamp")
    before = row_counts()

    with pytest.raises(services.Duplicate) as caught:
        services.product_create(sku="A-1", name="Lamp", slug="lamp", price=Decimal("1"), stock=3)

    assert caught.value.detail == "Already taken: sku, slug."
    assert [e["field"] for e in caught.value.errors] == ["sku", "slug"]
    assert row_counts() == before


def test_product_update_refuses_stock_and_unknown_fields():
    product = ProductFactory(stock=3)

    with pytest.raises(ValueError, match="stock"):
        services.product_update(product=product, data={"stock": 10})

    product.refresh_from_db()
    assert product.stock == 3


def test_product_update_with_a_stale_instance_keeps_the_current_stock():
    # A PATCH loads the product, then changes its name; a stock change committed in between
    # (an order, another staff member) must survive: the update writes only what it changes.
    product = services.product_create(sku="A-1", name="Lamp", price=Decimal("1"), stock=5)
    stale = Product.objects.get(pk=product.pk)
    services.stock_adjust(product_id=product.pk, mode="increment", quantity=-2, reason="damage")

    services.product_update(product=stale, data={"name": "Desk lamp"})

    product.refresh_from_db()
    assert (product.name, product.stock) == ("Desk lamp", 3)
    assert_ledger_consistent()


def test_product_deactivate_is_idempotent():
    product = ProductFactory()

    services.product_deactivate(product=product)
    services.product_deactivate(product=product)

    product.refresh_from_db()
    assert product.is_active is False


# --- stock ---------------------------------------------------------------------------------


def test_stock_adjust_increment_set_and_no_op():
    product = services.product_create(sku="A-1", name="Lamp", price=Decimal("1"), stock=5)

    added = services.stock_adjust(
        product_id=product.pk, mode="increment", quantity=3, reason="restock", reference="PO-1"
    )
    counted = services.stock_adjust(
        product_id=product.pk, mode="set", quantity=2, reason="correction", actor="user:9"
    )
    unchanged = services.stock_adjust(
        product_id=product.pk, mode="set", quantity=2, reason="correction"
    )

    assert (added.product.stock, added.movement.delta, added.movement.stock_after) == (8, 3, 8)
    assert added.movement.reference == "PO-1"
    assert (counted.product.stock, counted.movement.delta, counted.movement.stock_after) == (
        2,
        -6,
        2,
    )
    assert counted.movement.actor == "user:9"
    assert unchanged.movement is None
    assert unchanged.product.stock == 2
    assert list(product.movements.order_by("id").values_list("delta", "reason")) == [
        (5, "initial"),
        (3, "restock"),
        (-6, "correction"),
    ]
    assert_ledger_consistent()


@pytest.mark.parametrize(("mode", "quantity"), [("increment", -6), ("set", -1)])
def test_stock_adjust_never_goes_negative(mode: str, quantity: int):
    product = services.product_create(sku="A-1", name="Lamp", price=Decimal("1"), stock=5)

    with pytest.raises(services.InsufficientStock) as caught:
        services.stock_adjust(product_id=product.pk, mode=mode, quantity=quantity, reason="damage")

    assert caught.value.status == 409
    assert caught.value.code == "insufficient-stock"
    product.refresh_from_db()
    assert product.stock == 5
    assert product.movements.count() == 1


def test_stock_adjust_to_exactly_zero():
    product = services.product_create(sku="A-1", name="Lamp", price=Decimal("1"), stock=5)

    change = services.stock_adjust(
        product_id=product.pk, mode="increment", quantity=-5, reason="damage"
    )

    assert (change.product.stock, change.movement.stock_after) == (0, 0)


def test_stock_adjust_of_an_unknown_product():
    with pytest.raises(Product.DoesNotExist):
        services.stock_adjust(product_id=999_999, mode="increment", quantity=1, reason="restock")


@pytest.mark.django_db(transaction=True)
def test_two_decrements_racing_for_the_last_unit():
    product = services.product_create(sku="LAST-1", name="Last one", price=Decimal("1"), stock=1)

    def take_one() -> services.StockChange:
        return services.stock_adjust(
            product_id=product.pk, mode="increment", quantity=-1, reason="damage"
        )

    results = in_threads(take_one, take_one)

    changes = [r for r in results if isinstance(r, services.StockChange)]
    refused = [r for r in results if isinstance(r, services.InsufficientStock)]
    assert (len(changes), len(refused)) == (1, 1), results
    assert refused[0].detail == "Stock is 0; removing 1 would make it negative."
    product.refresh_from_db()
    assert product.stock == 0
    assert list(product.movements.order_by("id").values_list("delta", "stock_after")) == [
        (1, 1),
        (-1, 0),
    ]


@pytest.mark.django_db(transaction=True)
def test_concurrent_increments_all_count():
    product = services.product_create(sku="MANY-1", name="Many", price=Decimal("1"), stock=1)

    def add_one() -> services.StockChange:
        return services.stock_adjust(
            product_id=product.pk, mode="increment", quantity=1, reason="restock"
        )

    results = in_threads(*[add_one] * 6)

    assert all(isinstance(r, services.StockChange) for r in results), results
    product.refresh_from_db()
    assert product.stock == 7
    assert sorted(product.movements.values_list("stock_after", flat=True)) == [1, 2, 3, 4, 5, 6, 7]
    assert_ledger_consistent()
