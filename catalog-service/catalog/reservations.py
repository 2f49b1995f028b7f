"""Stock reservations of the order saga (see ARCHITECTURE.md, "Events and the order saga").

``order.placed`` -> :func:`stock_reserve_for_order` takes the stock of every line or of none
and answers ``stock.reserved`` or ``stock.rejected``; ``order.cancelled`` ->
:func:`stock_release_for_order` gives it back, once. Each is one transaction with its outbox
row (and, called from a handler, with the inbox row of the event).

Products are locked in id order (``SELECT ... FOR UPDATE``), so two reservations sharing
products queue up instead of deadlocking, and stock never goes below zero (the check
constraint backs that up). One row per order (unique ``order_id``): when a placement and a
cancellation of one order race, the loser's INSERT fails on the unique index, its
transaction rolls back and the consumer's retry finds the winner's row.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from chassis.events.outbox import publish
from django.db import transaction

from catalog.events import money
from catalog.models import Product, Reservation, StockMovement
from catalog.services import _movements

ACTOR = "orders-saga"


def _locked_products(ids: Iterable[int]) -> dict[int, Product]:
    """Lock the products with these ids, in id order (the order every locker uses)."""
    products = Product.objects.select_for_update().filter(pk__in=set(ids)).order_by("pk")
    return {product.pk: product for product in products}


def _line_problem(
    line: dict[str, Any], product: Product | None, currency: str, available: int
) -> str | None:
    if product is None:
        return "unknown-product"
    if not product.is_active:
        return "inactive-product"
    if product.currency != currency:
        return "currency-mismatch"
    if line["quantity"] > available:
        return "insufficient-stock"
    return None


def _rejections(
    lines: list[dict[str, Any]], products: dict[int, Product], currency: str
) -> list[dict[str, Any]]:
    """One reason per failing line. Lines of one product draw on its stock in turn, so two
    lines of 3 against a stock of 5 fail on the second (available 2)."""
    remaining = {pk: product.stock for pk, product in products.items()}
    reasons = []
    for line in lines:
        pk, quantity = line["product_id"], line["quantity"]
        available = remaining.get(pk, 0)
        code = _line_problem(line, products.get(pk), currency, available)
        if code is None:
            remaining[pk] = available - quantity
        else:
            reasons.append(
                {"product_id": pk, "code": code, "requested": quantity, "available": available}
            )
    return reasons


def _requested(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"product_id": x["product_id"], "quantity": x["quantity"], "unit_price": x["unit_price"]}
        for x in lines
    ]


def _reject(
    order_id: str, lines: list[dict[str, Any]], currency: str, reasons: list[dict[str, Any]]
) -> Reservation:
    publish("stock.rejected", {"order_id": order_id, "reasons": reasons})
    return Reservation.objects.create(
        order_id=order_id,
        status=Reservation.Status.REJECTED,
        currency=currency,
        lines=_requested(lines),
    )


def _cancelled_first(
    tombstone: Reservation, order_id: str, lines: list[dict[str, Any]], currency: str
) -> Reservation:
    """The placement of an order whose cancellation came first: nothing is reserved, the
    order is rejected (so it ends in a final state) and the tombstone becomes REJECTED, so a
    later copy of the placement changes nothing."""
    reasons = [
        {
            "product_id": x["product_id"],
            "code": "order-cancelled",
            "requested": x["quantity"],
            "available": 0,  # to this order: nothing
        }
        for x in lines
    ]
    publish("stock.rejected", {"order_id": order_id, "reasons": reasons})
    tombstone.status = Reservation.Status.REJECTED
    tombstone.currency = currency
    tombstone.lines = _requested(lines)
    tombstone.save(update_fields=["status", "currency", "lines", "updated_at"])
    return tombstone


@transaction.atomic
def stock_reserve_for_order(
    *, order_id: UUID | str, lines: list[dict[str, Any]], currency: str
) -> Reservation:
    """Reserve every line of an order, or nothing.

    ``lines``: ``[{"product_id", "quantity", "unit_price", ...}]`` as in ``order.placed``.
    Success: each product's stock drops by its lines (one ``reservation`` ledger movement per
    line, reference = the order id), a RESERVED reservation records catalog's unit prices,
    and ``stock.reserved`` is published. Any failing line (unknown, inactive, other currency,
    insufficient stock): nothing is taken, a REJECTED reservation is recorded and
    ``stock.rejected`` lists one reason per failing line. An order that already has a
    reservation changes nothing, except a cancellation tombstone (see :func:`_cancelled_first`).
    Raises IntegrityError when a concurrent transaction wrote this order's row (retry).
    """
    order_id = str(order_id)
    products = _locked_products(line["product_id"] for line in lines)
    # Read after the product locks (READ COMMITTED: a reservation of this order committed
    # while we waited is seen), without locking the row: a release locks it, then products.
    existing = Reservation.objects.filter(order_id=order_id).first()
    if existing is not None:
        if existing.is_tombstone:
            return _cancelled_first(existing, order_id, lines, currency)
        return existing
    reasons = _rejections(lines, products, currency)
    if reasons:
        return _reject(order_id, lines, currency, reasons)
    _movements(
        [(products[line["product_id"]], -line["quantity"]) for line in lines],
        StockMovement.Reason.RESERVATION,
        reference=order_id,
        actor=ACTOR,
    )
    reserved = [
        {
            "product_id": products[line["product_id"]].pk,
            "quantity": line["quantity"],
            "unit_price": money(products[line["product_id"]].price),
        }
        for line in lines
    ]
    publish("stock.reserved", {"order_id": order_id, "currency": currency, "lines": reserved})
    return Reservation.objects.create(
        order_id=order_id, status=Reservation.Status.RESERVED, currency=currency, lines=reserved
    )


@transaction.atomic
def stock_release_for_order(*, order_id: UUID | str) -> Reservation:
    """Give back the stock an order holds, exactly once.

    RESERVED: a ``release`` ledger movement per line returns the stock and the reservation
    becomes RELEASED (under a lock of its row, so two cancellations release once). No
    reservation yet (the cancellation overtook the placement): a RELEASED tombstone is
    recorded, and the placement will reserve nothing. RELEASED or REJECTED: nothing changes.
    Raises IntegrityError when a concurrent transaction wrote this order's row (retry).
    """
    order_id = str(order_id)
    reservation = Reservation.objects.select_for_update().filter(order_id=order_id).first()
    if reservation is None:
        return Reservation.objects.create(order_id=order_id, status=Reservation.Status.RELEASED)
    if reservation.status != Reservation.Status.RESERVED:
        return reservation
    products = _locked_products(line["product_id"] for line in reservation.lines)
    _movements(
        [(products[line["product_id"]], line["quantity"]) for line in reservation.lines],
        StockMovement.Reason.RELEASE,
        reference=order_id,
        actor=ACTOR,
    )
    reservation.status = Reservation.Status.RELEASED
    reservation.save(update_fields=["status", "updated_at"])
    return reservation
