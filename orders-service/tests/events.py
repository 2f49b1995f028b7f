"""Helpers of the event tests: outbox rows checked against orders' own schemas, and events
delivered to the handlers only after their payload passed the producer's contract.

tests/contracts/<producer>/ holds copies of the schemas of the events orders consumes
(catalog's and users'); a consumer test that feeds a payload its producer would never send
fails here instead of passing against a made-up shape.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
from chassis.events.consumer import handle
from chassis.events.envelope import Envelope
from chassis.events.models import OutboxEvent
from django.conf import settings
from django.utils import timezone

CONTRACTS = Path(__file__).resolve().parent / "contracts"
PRODUCERS = {
    "product.changed": "catalog",
    "stock.reserved": "catalog",
    "stock.rejected": "catalog",
    "user.deactivated": "users",
    "user.reactivated": "users",
    "user.erased": "users",
}


def schema_file(path: Path) -> dict[str, Any]:
    schema = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def contract_errors(path: Path, payload: Any) -> list[str]:
    """Every way ``payload`` breaks the JSON Schema in ``path`` (formats checked too)."""
    validator = jsonschema.Draft202012Validator(
        schema_file(path), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return [error.message for error in validator.iter_errors(payload)]


def assert_valid(path: Path, payload: Any) -> None:
    errors = contract_errors(path, payload)
    assert errors == [], errors


def contract(event_type: str) -> Path:
    """orders' copy of the producer's schema of ``event_type``."""
    return CONTRACTS / PRODUCERS[event_type] / f"{event_type}.v1.json"


def own_schema(event_type: str) -> Path:
    """The file of one of orders' own event schemas."""
    return Path(settings.CHASSIS["EVENTS"]["SCHEMAS_DIR"]) / f"{event_type}.v1.json"


def deliver(
    event_type: str,
    payload: dict[str, Any],
    *,
    event_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
) -> bool:
    """Hand ``payload`` to orders' handler as its producer would send it (checked against
    the producer's contract first; occurred now unless ``occurred_at``); returns what
    chassis.events.consumer.handle returns."""
    assert_valid(contract(event_type), payload)
    envelope = Envelope(
        type=event_type,
        payload=payload,
        producer=PRODUCERS[event_type],
        id=event_id or uuid.uuid4(),
        correlation_id="test-correlation",
        occurred_at=occurred_at or timezone.now(),
    )
    return handle(envelope)


def outbox(event_type: str) -> list[dict[str, Any]]:
    """Payloads of the outbox rows of ``event_type``, oldest first, each checked against
    orders' schema file and the row's envelope columns."""
    rows = list(OutboxEvent.objects.filter(type=event_type).order_by("occurred_at", "id"))
    for row in rows:
        assert (row.version, row.producer, row.published_at) == (1, "orders", None)
        assert_valid(own_schema(event_type), row.payload)
    return [row.payload for row in rows]


def product_changed(product_id: int, **fields: Any) -> dict[str, Any]:
    """product.changed as catalog sends it (a desk lamp), with ``fields`` changed."""
    payload = {
        "product_id": product_id,
        "sku": "LAMP-1",
        "name": "Desk Lamp",
        "price": "19.90",
        "currency": "EUR",
        "is_active": True,
        "updated_at": "2025-03-01T10:00:00.123456Z",
    }
    return {**payload, **fields}
