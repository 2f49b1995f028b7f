"""The event envelope every service speaks, and payload validation by JSON Schema.

    {"id": "<uuid>", "type": "order.placed", "version": 1,
     "occurred_at": "2026-11-22T10:00:00.123456Z", "producer": "orders",
     "correlation_id": "<the HTTP request's X-Request-ID>", "payload": {...}}

A producer owns the JSON Schema of each of its event types and versions, as files
``<type>.v<version>.json`` in its ``CHASSIS_EVENTS["SCHEMAS_DIR"]``; :func:`publish` checks
payloads against them, and consumers check the copies they keep in their tests.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from django.utils import timezone
from django.utils.dateparse import parse_datetime

__all__ = ["Envelope", "InvalidEvent", "load_schema", "validate_payload"]

_ENVELOPE_KEYS = ("id", "type", "version", "occurred_at", "producer", "correlation_id", "payload")


class InvalidEvent(ValueError):
    """An envelope or payload that does not follow the contract."""


@dataclass(frozen=True)
class Envelope:
    type: str
    payload: dict[str, Any]
    producer: str
    version: int = 1
    correlation_id: str = ""
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    occurred_at: datetime = field(default_factory=timezone.now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "version": self.version,
            "occurred_at": self.occurred_at.isoformat().replace("+00:00", "Z"),
            "producer": self.producer,
            "correlation_id": self.correlation_id,
            "payload": self.payload,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Envelope:
        """Parse a received envelope; raises :class:`InvalidEvent` when malformed."""
        if not isinstance(data, dict) or sorted(data) != sorted(_ENVELOPE_KEYS):
            raise InvalidEvent(f"envelope keys must be exactly {sorted(_ENVELOPE_KEYS)}")
        try:
            event_id = uuid.UUID(str(data["id"]))
        except ValueError as exc:
            raise InvalidEvent("id is not a UUID") from exc
        occurred = parse_datetime(str(data["occurred_at"]))
        checks = [
            (isinstance(data["type"], str) and bool(data["type"]), "type"),
            (type(data["version"]) is int and data["version"] >= 1, "version"),
            (occurred is not None and occurred.tzinfo is not None, "occurred_at"),
            (isinstance(data["producer"], str), "producer"),
            (isinstance(data["correlation_id"], str), "correlation_id"),
            (isinstance(data["payload"], dict), "payload"),
        ]
        bad = [name for ok, name in checks if not ok]
        if bad:
            raise InvalidEvent(f"malformed envelope field(s): {', '.join(bad)}")
        assert occurred is not None
        return cls(
            id=event_id,
            type=data["type"],
            version=data["version"],
            occurred_at=occurred,
            producer=data["producer"],
            correlation_id=data["correlation_id"],
            payload=data["payload"],
        )


@lru_cache(maxsize=256)
def load_schema(directory: str, event_type: str, version: int) -> dict[str, Any]:
    path = Path(directory) / f"{event_type}.v{version}.json"
    if not path.is_file():
        raise InvalidEvent(f"no schema for {event_type} v{version} in {directory}")
    schema = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def validate_payload(schema: dict[str, Any], payload: Any) -> None:
    """Raise :class:`InvalidEvent` naming every place ``payload`` breaks ``schema``."""
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
    if errors:
        details = "; ".join(
            f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors
        )
        raise InvalidEvent(details)
