"""The order saga's steps on orders' side (see ARCHITECTURE.md, "Events and the order saga").

``POST /api/v1/orders/`` stores a PENDING order and emits ``order.placed``
(:func:`orders.services.order_place`); catalog answers ``stock.reserved`` ->
:func:`order_confirm` or ``stock.rejected`` -> :func:`order_reject`. A cancellation
(:func:`orders.services.order_cancel`) emits ``order.cancelled`` and catalog gives the stock
back.

Invariants:

* The state machine (:func:`orders.services.order_transition`, the one place that knows it):
  PENDING -> CONFIRMED | REJECTED | CANCELLED; CONFIRMED -> CANCELLED | SHIPPED. REJECTED,
  CANCELLED and SHIPPED are final.
* Only a PENDING order takes catalog's answer. Each step locks the order row
  (``SELECT ... FOR UPDATE``), so an answer and a cancellation of one order queue up: the
  first wins, the other sees the new status.
* Idempotent: each step runs in the transaction that records the event in the inbox, so a
  redelivered (duplicate) event is skipped whole.
* A late answer changes nothing: ``stock.reserved`` or ``stock.rejected`` for an order that
  is no longer PENDING (the buyer cancelled it first; catalog then releases the stock on
  ``order.cancelled``), or for an order this database does not have, returns False and
  leaves every row as it was; the event is still recorded, so it is not retried.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from orders.metrics import saga_finished
from orders.models import Status
from orders.services import order_lock, order_transition


@transaction.atomic
def order_confirm(*, order_id: Any, lines: list[dict[str, Any]]) -> bool:
    """stock.reserved: a PENDING order adopts catalog's unit prices (per product id; a line
    catalog does not price keeps its own) and its total, and is CONFIRMED. Returns False, and
    changes nothing, when the order is missing or no longer PENDING. Only a line whose price
    changed is written (usually none: the order was priced from catalog's own events)."""
    order = order_lock(order_id=order_id)
    if order is None or order.status != Status.PENDING:
        return False
    prices = {line["product_id"]: Decimal(line["unit_price"]) for line in lines}
    total = Decimal(0)
    for row in order.lines.all():
        price = prices.get(row.product_id, row.unit_price)
        if price != row.unit_price or row.line_total != price * row.quantity:
            row.unit_price, row.line_total = price, price * row.quantity
            row.save(update_fields=["unit_price", "line_total"])  # rare: catalog re-priced
        total += row.line_total
    order_transition(order=order, to=Status.CONFIRMED, total=total)
    saga_finished(status=Status.CONFIRMED, placed_at=order.created_at)
    return True


@transaction.atomic
def order_reject(*, order_id: Any, reasons: list[dict[str, Any]]) -> bool:
    """stock.rejected: a PENDING order becomes REJECTED, keeping catalog's reasons. Returns
    False, and changes nothing, when the order is missing or no longer PENDING."""
    order = order_lock(order_id=order_id)
    if order is None or order.status != Status.PENDING:
        return False
    order_transition(order=order, to=Status.REJECTED, rejection_reasons=reasons)
    saga_finished(status=Status.REJECTED, placed_at=order.created_at)
    return True
