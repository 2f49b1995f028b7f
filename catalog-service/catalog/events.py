"""Events catalog produces about products: ``product.changed`` (schema in event_schemas/).

Every create and update of a product publishes one, in the transaction of the change
(:func:`product_changed_publish`). Bulk writers (``seed_catalog``, ``publish_products``)
write the outbox rows with :func:`product_changed_outbox_bulk`: the same rows ``publish()``
writes, validated against the same schema, in one INSERT per batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from chassis.events.conf import events_settings, service_name
from chassis.events.envelope import load_schema, validate_payload
from chassis.events.models import OutboxEvent
from chassis.events.outbox import publish
from django_guid import get_guid

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
    """Write one ``product.changed`` outbox row per product with a single bulk INSERT.

    Each payload is validated against the schema exactly as ``publish()`` validates it, and
    the rows carry what ``publish()`` puts in them (producer, correlation id). Unlike
    ``publish()`` no relay runs after commit: thousands of after-commit relays, each its own
    transaction, would dominate a bulk write; the outbox sweep (Celery beat) sends the rows
    in batches instead. Call it inside the transaction that wrote the products.
    """
    schema = load_schema(str(events_settings()["SCHEMAS_DIR"]), PRODUCT_CHANGED, 1)
    producer, correlation_id = service_name(), get_guid() or ""
    rows = []
    for product in products:
        payload = product_changed_payload(product)
        validate_payload(schema, payload)
        rows.append(
            OutboxEvent(
                type=PRODUCT_CHANGED,
                version=1,
                producer=producer,
                correlation_id=correlation_id,
                payload=payload,
            )
        )
    return OutboxEvent.objects.bulk_create(rows, batch_size=1000)
