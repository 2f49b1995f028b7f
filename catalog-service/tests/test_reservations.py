"""Stock reservations of the order saga (catalog.reservations): all or nothing, never below
zero, released exactly once, cancellations that overtake their order."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Product, Reservation, StockMovement
from catalog.reservations import stock_release_for_order, stock_reserve_for_order
from tests.events import outbox
from tests.factories import ProductFactory
from tests.utils import assert_ledger_consistent, in_threads

pytestmark = pytest.mark.django_db

ORDER = "3f1c2a9e-6a55-4d3e-9a43-1d2c3b4a5f60"


def stocked(stock: int, **fields: Any) -> Product:
    """A product whose stock is in the ledger (an initial movement), as in production."""
    product = ProductFactory(stock=0, **fields)
    if stock:
        StockMovement.objects.create(
            product=product, delta=stock, stock_after=stock, reason="initial"
        )
        Product.objects.filter(pk=product.pk).update(stock=stock)
        product.refresh_from_db()
    return product


def line(product: Product, quantity: int, unit_price: str = "9.99") -> dict[str, Any]:
    return {
        "product_id": product.pk,
        "sku": product.sku,
        "quantity": quantity,
        "unit_price": unit_price,
    }


def stocks(*products: Product) -> list[int]:
    return [Product.objects.get(pk=p.pk).stock for p in products]


# --- reserve -------------------------------------------------------------------------------


def test_reserving_takes_every_line_at_catalogs_prices():
    lamp = stocked(5, price=Decimal("19.90"))
    kettle = stocked(2, price=Decimal("24.50"))

    with CaptureQueriesContext(connection) as queries:
        reservation = stock_reserve_for_order(
            order_id=ORDER, lines=[line(kettle, 2, "1.00"), line(lamp, 3)], currency="EUR"
        )

    assert stocks(lamp, kettle) == [2, 0]
    ledger_writes = [
        q for q in queries if q["sql"].startswith('INSERT INTO "catalog_stockmovement"')
    ]
    assert len(ledger_writes) == 1  # every line's movement in one statement
    lines = [
        {"product_id": kettle.pk, "quantity": 2, "unit_price": "24.50"},
        {"product_id": lamp.pk, "quantity": 3, "unit_price": "19.90"},
    ]
    assert (reservation.status, reservation.currency, reservation.lines) == (
        "reserved",
        "EUR",
        lines,
    )
    assert outbox("stock.reserved") == [{"order_id": ORDER, "currency": "EUR", "lines": lines}]
    assert outbox("stock.rejected") == []
    movements = StockMovement.objects.filter(reason="reservation").order_by("id")
    assert list(movements.values_list("product_id", "delta", "reference", "actor")) == [
        (kettle.pk, -2, ORDER, "orders-saga"),
        (lamp.pk, -3, ORDER, "orders-saga"),
    ]
    assert_ledger_consistent()


def test_one_short_line_reserves_nothing():
    lamp, kettle, mug = stocked(5), stocked(1), stocked(9)
    lines = [line(lamp, 2), line(kettle, 2), line(mug, 9)]

    reservation = stock_reserve_for_order(order_id=ORDER, lines=lines, currency="EUR")

    assert stocks(lamp, kettle, mug) == [5, 1, 9]
    assert StockMovement.objects.exclude(reason="initial").count() == 0
    assert outbox("stock.rejected") == [
        {
            "order_id": ORDER,
            "reasons": [
                {
                    "product_id": kettle.pk,
                    "code": "insufficient-stock",
                    "requested": 2,
                    "available": 1,
                }
            ],
        }
    ]
    assert outbox("stock.reserved") == []
    assert (reservation.status, reservation.currency) == ("rejected", "EUR")
    assert reservation.lines == [
        {"product_id": p.pk, "quantity": q, "unit_price": "9.99"}
        for p, q in ((lamp, 2), (kettle, 2), (mug, 9))
    ]


def test_every_failing_line_has_its_reason():
    inactive = stocked(5, is_active=False)
    dollars = stocked(5, currency="USD")
    short = stocked(1)
    twice = stocked(5)
    lines = [
        {"product_id": 999_999, "sku": "GONE", "quantity": 1, "unit_price": "1.00"},
        line(inactive, 1),
        line(dollars, 1),
        line(short, 4),
        line(twice, 3),
        line(twice, 3),  # the same product again: the second draws on what the first left
    ]

    stock_reserve_for_order(order_id=ORDER, lines=lines, currency="EUR")

    def reason(pk: int, code: str, requested: int, available: int) -> dict[str, Any]:
        return {"product_id": pk, "code": code, "requested": requested, "available": available}

    assert outbox("stock.rejected") == [
        {
            "order_id": ORDER,
            "reasons": [
                reason(999_999, "unknown-product", 1, 0),
                reason(inactive.pk, "inactive-product", 1, 5),
                reason(dollars.pk, "currency-mismatch", 1, 5),
                reason(short.pk, "insufficient-stock", 4, 1),
                reason(twice.pk, "insufficient-stock", 3, 2),
            ],
        }
    ]
    assert stocks(inactive, dollars, short, twice) == [5, 5, 1, 5]


def test_an_order_with_a_reservation_is_not_reserved_again():
    lamp = stocked(5)
    first = stock_reserve_for_order(order_id=ORDER, lines=[line(lamp, 2)], currency="EUR")

    again = stock_reserve_for_order(order_id=ORDER, lines=[line(lamp, 2)], currency="EUR")

    assert again == first
    assert stocks(lamp) == [3]
    assert len(outbox("stock.reserved")) == 1


def test_a_rejected_order_is_not_tried_again():
    lamp = stocked(1)
    stock_reserve_for_order(order_id=ORDER, lines=[line(lamp, 2)], currency="EUR")
    stocked_again = Product.objects.filter(pk=lamp.pk)
    stocked_again.update(stock=10)

    stock_reserve_for_order(order_id=ORDER, lines=[line(lamp, 2)], currency="EUR")

    assert stocks(lamp) == [10]
    assert len(outbox("stock.rejected")) == 1
    assert Reservation.objects.get().status == "rejected"


# --- release -------------------------------------------------------------------------------


def test_reserve_then_release_restores_the_stock_through_the_ledger():
    lamp, kettle = stocked(5), stocked(2)
    stock_reserve_for_order(order_id=ORDER, lines=[line(lamp, 3), line(kettle, 2)], currency="EUR")

    reservation = stock_release_for_order(order_id=ORDER)

    assert reservation.status == "released"
    assert stocks(lamp, kettle) == [5, 2]
    assert list(
        StockMovement.objects.filter(reason="release")
        .order_by("id")
        .values_list("product_id", "delta", "reference", "actor")
    ) == [(lamp.pk, 3, ORDER, "orders-saga"), (kettle.pk, 2, ORDER, "orders-saga")]
    assert_ledger_consistent()


def test_release_happens_exactly_once():
    lamp = stocked(5)
    stock_reserve_for_order(order_id=ORDER, lines=[line(lamp, 3)], currency="EUR")

    stock_release_for_order(order_id=ORDER)
    stock_release_for_order(order_id=ORDER)

    assert stocks(lamp) == [5]
    assert StockMovement.objects.filter(reason="release").count() == 1
    assert_ledger_consistent()


def test_releasing_a_rejected_order_changes_nothing():
    lamp = stocked(1)
    stock_reserve_for_order(order_id=ORDER, lines=[line(lamp, 2)], currency="EUR")

    reservation = stock_release_for_order(order_id=ORDER)

    assert reservation.status == "rejected"
    assert stocks(lamp) == [1]
    assert StockMovement.objects.filter(reason="release").count() == 0


def test_a_cancellation_before_its_order_leaves_a_tombstone():
    lamp = stocked(5)

    tombstone = stock_release_for_order(order_id=ORDER)
    assert (tombstone.status, tombstone.lines, tombstone.is_tombstone) == ("released", [], True)

    placed = stock_reserve_for_order(order_id=ORDER, lines=[line(lamp, 2)], currency="EUR")

    assert stocks(lamp) == [5]
    assert StockMovement.objects.exclude(reason="initial").count() == 0
    assert outbox("stock.reserved") == []
    assert outbox("stock.rejected") == [
        {
            "order_id": ORDER,
            "reasons": [
                {"product_id": lamp.pk, "code": "order-cancelled", "requested": 2, "available": 0}
            ],
        }
    ]
    assert (placed.pk, placed.status) == (tombstone.pk, "rejected")
    # A copy of the placement, or of the cancellation, changes nothing more.
    stock_reserve_for_order(order_id=ORDER, lines=[line(lamp, 2)], currency="EUR")
    stock_release_for_order(order_id=ORDER)
    assert len(outbox("stock.rejected")) == 1
    assert stocks(lamp) == [5]


def test_one_row_per_order_is_held_by_the_database():
    Reservation.objects.create(order_id=ORDER, status="released")

    with pytest.raises(IntegrityError):
        Reservation.objects.create(order_id=uuid.UUID(ORDER), status="rejected")


# --- concurrency ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_orders_for_the_last_units_never_go_below_zero():
    lamp = stocked(3)
    orders = [str(uuid.uuid4()) for _ in range(6)]

    results = in_threads(
        *(
            lambda order=order: stock_reserve_for_order(
                order_id=order, lines=[line(lamp, 1)], currency="EUR"
            )
            for order in orders
        )
    )

    assert [type(r) for r in results] == [Reservation] * 6
    assert sorted(r.status for r in results) == ["rejected"] * 3 + ["reserved"] * 3
    assert stocks(lamp) == [0]
    assert len(outbox("stock.reserved")) == 3
    assert sorted(r["reasons"][0]["available"] for r in outbox("stock.rejected")) == [0, 0, 0]
    assert_ledger_consistent()


@pytest.mark.django_db(transaction=True)
def test_concurrent_orders_sharing_products_in_any_order_do_not_deadlock():
    a, b, c = stocked(50), stocked(50), stocked(50)
    orderings = [[a, b, c], [c, b, a], [b, a, c], [c, a, b]] * 2

    results = in_threads(
        *(
            lambda ps=ps: stock_reserve_for_order(
                order_id=str(uuid.uuid4()), lines=[line(p, 2) for p in ps], currency="EUR"
            )
            for ps in orderings
        )
    )

    assert [getattr(r, "status", r) for r in results] == ["reserved"] * 8
    assert stocks(a, b, c) == [34, 34, 34]
    assert_ledger_consistent()


def retried(call: Any) -> Any:
    """What the consumer task does with a lost race: roll back and try again."""
    try:
        return call()
    except IntegrityError:
        return call()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(5))
def test_a_placement_racing_its_cancellation_ends_with_the_stock_given_back(attempt):
    lamp = stocked(4)

    results = in_threads(
        lambda: retried(
            lambda: stock_reserve_for_order(order_id=ORDER, lines=[line(lamp, 3)], currency="EUR")
        ),
        lambda: retried(lambda: stock_release_for_order(order_id=ORDER)),
    )

    assert [type(r) for r in results] == [Reservation, Reservation]
    assert stocks(lamp) == [4]
    final = Reservation.objects.get()
    assert final.status in ("released", "rejected")
    events = [(e, len(outbox(e))) for e in ("stock.reserved", "stock.rejected")]
    if final.status == "released":  # placed first: reserved, then released
        assert events == [("stock.reserved", 1), ("stock.rejected", 0)]
        assert StockMovement.objects.filter(reason="release").count() == 1
    else:  # cancelled first: the tombstone turned the placement into a rejection
        assert events == [("stock.reserved", 0), ("stock.rejected", 1)]
        assert StockMovement.objects.exclude(reason="initial").count() == 0
    assert_ledger_consistent()
