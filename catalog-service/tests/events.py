"""Helpers of the event tests: outbox rows, and contracts checked against the schema files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from chassis.events.models import OutboxEvent
from django.conf import settings

CONTRACTS = Path(__file__).resolve().parent / "contracts"


def schema_file(path: Path) -> dict[str, Any]:
    schema = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def assert_valid(path: Path, payload: Any) -> None:
    """``payload`` follows the JSON Schema in ``path`` (formats checked too)."""
    validator = jsonschema.Draft202012Validator(
        schema_file(path), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = [error.message for error in validator.iter_errors(payload)]
    assert errors == [], errors


def own_schema(event_type: str) -> Path:
    """The file of one of catalog's own event schemas."""
    return Path(settings.CHASSIS["EVENTS"]["SCHEMAS_DIR"]) / f"{event_type}.v1.json"


def outbox(event_type: str) -> list[dict[str, Any]]:
    """Payloads of the outbox rows of ``event_type``, oldest first, each checked against
    catalog's schema file and the row's envelope columns."""
    rows = list(OutboxEvent.objects.filter(type=event_type).order_by("occurred_at", "id"))
    for row in rows:
        assert (row.version, row.producer) == (1, "catalog")
        assert_valid(own_schema(event_type), row.payload)
    return [row.payload for row in rows]
