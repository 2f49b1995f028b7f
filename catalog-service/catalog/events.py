"""Events catalog produces about products: ``product.changed`` (schema in event_schemas/).

Every create and update of a product publishes one, in the transaction of the change
(:func:`product_changed_publish`). Bulk writers (``seed_catalog``, ``publish_products``)
write the outbox rows with :func:`product_changed_outbox_bulk` (the chassis's
``publish_many``): the same rows ``publish()`` writes, in one INSERT per batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from chassis.events.models import OutboxEvent
from chassis.events.outbox import publish, publish_many

from catalog.models import Product

PRODUCT_CHANGED = "product.changed"


def money(value: Decimal) -> str:
    """A price as the events carry it: two decimal places, as a string ("12.50")."""
    return f"{value:.2f}"


def timestamp(value: datetime) -> str:
    """ISO 8601 / RFC 3339 in UTC with a Z, as the envelope's ``occurred_at``."""
    return value.isoformat().replace("+00:00", "Z")


def product_changed_payload(product: Product) -> dict[str, Any]:
    return {
        "product_id": product.pk,
        "sku": product.sku,
        "name": product.name,
        "price": money(product.price),
        "currency": product.currency,
        "is_active": product.is_active,
        "updated_at": timestamp(product.updated_at),
    }


def product_changed_publish(*, product: Product) -> OutboxEvent:
    """Publish ``product.changed`` for ``product`` (saved) in the current transaction.

    Raises InvalidEvent if the payload breaks the schema (a bug: the model allows no such
    product).
    """
    return publish(PRODUCT_CHANGED, product_changed_payload(product))


def product_changed_outbox_bulk(products: Iterable[Product]) -> list[OutboxEvent]:
    """Publish one ``product.changed`` per product with chassis.events' ``publish_many``:
    validated like ``publish()``, one INSERT per thousand rows, sent by the outbox sweep.
    Call it inside the transaction that wrote the products."""
    return publish_many(PRODUCT_CHANGED, (product_changed_payload(p) for p in products))
