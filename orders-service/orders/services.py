"""Writes: placing orders (idempotently), the status machine, and what the saga changes.

Every status change goes through :func:`order_transition`, the one place that knows which
changes are allowed. Events are written to the outbox in the same transaction as the change
they announce (chassis.events.publish).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from chassis.db import insert_or_skip
from chassis.errors import Conflict, DomainError
from chassis.events.outbox import publish
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import status as http

from orders import limits
from orders.accounts import account_check_active
from orders.emails import order_email_record
from orders.models import IdempotencyKey, Order, OrderLine, Product, Status

TRANSITIONS: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset({Status.CONFIRMED, Status.REJECTED, Status.CANCELLED}),
    Status.CONFIRMED: frozenset({Status.CANCELLED, Status.SHIPPED}),
}


class InvalidTransition(Conflict):
    code = "invalid-transition"
    title = "The order cannot change to that status."


class ProductsUnavailable(DomainError):
    status = http.HTTP_422_UNPROCESSABLE_ENTITY
    code = "products-unavailable"
    title = "Some products cannot be ordered."


class IdempotencyKeyReused(DomainError):
    status = http.HTTP_422_UNPROCESSABLE_ENTITY
    code = "idempotency-key-reused"
    title = "This Idempotency-Key was used for another request."


# --- the status machine --------------------------------------------------------------------


def order_transition(*, order: Order, to: str, **changes: Any) -> None:
    """Move ``order`` (locked by the caller) to status ``to``, saving ``changes`` with it.

    Records the buyer's email about the change (orders.emails), in the same transaction.
    Raises InvalidTransition when the status machine does not allow it:
    PENDING -> CONFIRMED | REJECTED | CANCELLED, CONFIRMED -> CANCELLED | SHIPPED.
    """
    if to not in TRANSITIONS.get(order.status, frozenset()):
        raise InvalidTransition(f"An order that is {order.status} cannot become {to}.")
    order.status = to
    for name, value in changes.items():
        setattr(order, name, value)
    order.save(update_fields=["status", "updated_at", *changes])
    order_email_record(order=order)  # the buyer hears of it, after commit (orders/emails.py)


def order_lock(*, order_id: Any) -> Order | None:
    """The order, locked until the caller's transaction ends (None when there is none)."""
    return Order.objects.select_for_update().filter(pk=order_id).first()


# --- placing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineRequest:
    product_id: int
    quantity: int


def _unavailable(lines: list[LineRequest]) -> tuple[dict[int, Product], list[dict[str, Any]]]:
    products = Product.objects.in_bulk([line.product_id for line in lines])
    errors = []
    for index, line in enumerate(lines):
        product = products.get(line.product_id)
        if product is None or not product.is_active:
            errors.append(
                {
                    "field": f"lines.{index}.product_id",
                    "code": "unknown-product" if product is None else "inactive-product",
                    "message": f"Product {line.product_id} cannot be ordered.",
                }
            )
    if not errors and len({p.currency for p in products.values()}) > 1:
        errors.append(
            {"field": "lines", "code": "mixed-currency", "message": "One currency per order."}
        )
    return products, errors


@transaction.atomic
def order_place(*, user_id: str, user_email: str, lines: list[LineRequest]) -> Order:
    """Create a PENDING order from the local product read model and emit ``order.placed``
    (catalog then reserves the stock), within the shop's limits (orders.limits), checked
    under the account's lock (orders/accounts.py: taken first, held until the order commits).

    Raises AccountDeactivated when orders heard that the account was deactivated (its token
    may still be valid); LimitExceeded (a subclass naming the limit) for an order or an
    account over a limit; ProductsUnavailable for unknown or inactive products, or several
    currencies."""
    limits.order_size_check(lines=lines)
    account_check_active(user_id=user_id)
    products, errors = _unavailable(lines)
    if errors:
        raise ProductsUnavailable("Some lines cannot be ordered.", errors=errors)
    currency = products[lines[0].product_id].currency
    total = sum((products[line.product_id].price * line.quantity for line in lines), Decimal(0))
    limits.account_limits_check(user_id=user_id, currency=currency, total=total)
    order = Order.objects.create(
        user_id=user_id, user_email=user_email, currency=currency, total=total
    )
    rows = [
        OrderLine(
            order=order,
            product_id=line.product_id,
            sku=products[line.product_id].sku,
            name=products[line.product_id].name,
            unit_price=products[line.product_id].price,
            quantity=line.quantity,
            line_total=products[line.product_id].price * line.quantity,
        )
        for line in lines
    ]
    OrderLine.objects.bulk_create(rows)
    order._prefetched_objects_cache = {"lines": rows}  # type: ignore[attr-defined] # rendered unqueried
    publish(
        "order.placed",
        {
            "order_id": str(order.id),
            "user_id": user_id,
            "currency": currency,
            "lines": [
                {
                    "product_id": row.product_id,
                    "sku": row.sku,
                    "quantity": row.quantity,
                    "unit_price": str(row.unit_price),
                }
                for row in rows
            ],
        },
    )
    return order


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class PlaceResult:
    status: int
    body: dict[str, Any]
    replayed: bool


@transaction.atomic
def order_place_idempotent(
    *, user_id: str, key: str, body_hash: str, place: Any, render: Any
) -> PlaceResult:
    """Run ``place()`` once per (user, Idempotency-Key): the first request's answer is
    stored with the order in one transaction and replayed to retries with the same body.

    A concurrent request with the same key waits on the key's row until the first commits,
    then replays its answer. Raises IdempotencyKeyReused for the same key with another body.
    A failed first attempt (an error answer) stores nothing: a retry tries again.
    """
    ttl = timedelta(seconds=settings.ORDERS_IDEMPOTENCY_TTL_SECONDS)
    # One INSERT that waits for a concurrent one with the same key, then finds it taken
    # (chassis.db.insert_or_skip: no savepoint around it).
    pk = insert_or_skip(
        IdempotencyKey,
        ["user_id", "key"],
        user_id=user_id,
        key=key,
        request_hash=body_hash,
        response_status=0,
        response_body={},
    )
    renewed: dict[str, Any] = {}
    if pk is None:
        record = IdempotencyKey.objects.select_for_update().get(user_id=user_id, key=key)
        if record.created_at >= timezone.now() - ttl:
            if record.request_hash != body_hash:
                raise IdempotencyKeyReused(
                    "Send a new Idempotency-Key for a different request."
                ) from None
            return PlaceResult(record.response_status, record.response_body, replayed=True)
        pk, renewed = record.pk, {"request_hash": body_hash, "created_at": timezone.now()}
    order = place()
    body = render(order)
    IdempotencyKey.objects.filter(pk=pk).update(
        response_status=http.HTTP_201_CREATED, response_body=body, order=order, **renewed
    )
    return PlaceResult(http.HTTP_201_CREATED, body, replayed=False)


def idempotency_keys_purge() -> int:
    """Delete keys older than ORDERS_IDEMPOTENCY_TTL_SECONDS; returns how many."""
    cutoff = timezone.now() - timedelta(seconds=settings.ORDERS_IDEMPOTENCY_TTL_SECONDS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# --- cancelling, shipping ------------------------------------------------------------------


@transaction.atomic
def order_cancel(*, order_id: Any, reason: str) -> Order:
    """Cancel a PENDING or CONFIRMED order and emit ``order.cancelled`` (catalog releases the
    reservation). Raises Order.DoesNotExist, InvalidTransition."""
    order = order_lock(order_id=order_id)
    if order is None:
        raise Order.DoesNotExist
    order_transition(order=order, to=Status.CANCELLED, cancel_reason=reason[:200])
    publish(
        "order.cancelled",
        {"order_id": str(order.id), "user_id": order.user_id, "reason": order.cancel_reason},
    )
    return order


@transaction.atomic
def order_ship(*, order_id: Any) -> Order:
    """Mark a CONFIRMED order SHIPPED. Raises Order.DoesNotExist, InvalidTransition."""
    order = order_lock(order_id=order_id)
    if order is None:
        raise Order.DoesNotExist
    order_transition(order=order, to=Status.SHIPPED)
    return order


# --- what other services' events change (the saga's replies: orders/saga.py) --------------


@transaction.atomic
def product_snapshot_apply(*, payload: dict[str, Any]) -> bool:
    """product.changed: keep the newest version of each product (events may arrive out of
    order: an older version than the one held is ignored). True when the model changed."""
    changed_at = parse_datetime(payload["updated_at"])
    if changed_at is None or timezone.is_naive(changed_at):  # newest-wins needs an instant
        raise ValueError(f"updated_at is not a date-time: {payload['updated_at']!r}")
    values = {
        "sku": payload["sku"],
        "name": payload["name"],
        "price": Decimal(payload["price"]),
        "currency": payload["currency"],
        "is_active": payload["is_active"],
        "changed_at": changed_at,
    }
    current = Product.objects.select_for_update().filter(pk=payload["product_id"]).first()
    if current is None:
        Product.objects.create(id=payload["product_id"], **values)
        return True
    if current.changed_at > changed_at:
        return False
    for name, value in values.items():
        setattr(current, name, value)
    current.save()
    return True
