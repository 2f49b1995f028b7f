"""The event envelope every service speaks, and payload validation by JSON Schema.

    {"id": "<uuid>", "type": "order.placed", "version": 1,
     "occurred_at": "2026-11-22T10:00:00.123456Z", "producer": "orders",
     "correlation_id": "<the HTTP request's X-Request-ID>", "payload": {...},
     "traceparent": "00-<trace id>-<span id>-01", "tracestate": "..."}

``traceparent`` and ``tracestate`` (W3C Trace Context) are optional: written when the
producer traces (chassis.tracing), from the span that wrote the outbox row, so every
delivery of the event (relay, sweep, retry, redrive) continues the trace it was written in.
An envelope without them is the same as before they existed, and is written that way.

A producer owns the JSON Schema of each of its event types and versions, as files
``<type>.v<version>.json`` in its ``CHASSIS_EVENTS["SCHEMAS_DIR"]``; :func:`publish` checks
payloads against them, and consumers check the copies they keep in their tests.
"""

from __future__ import annotations

import json
import re
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
_OPTIONAL_KEYS = ("traceparent", "tracestate")
# W3C Trace Context: version 00's traceparent, and tracestate's bound (32 list members).
_TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_TRACESTATE_MAX_LENGTH = 512


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
    traceparent: str = ""
    tracestate: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = {
            "id": str(self.id),
            "type": self.type,
            "version": self.version,
            "occurred_at": self.occurred_at.isoformat().replace("+00:00", "Z"),
            "producer": self.producer,
            "correlation_id": self.correlation_id,
            "payload": self.payload,
        }
        if self.traceparent:  # absent, not empty, when untraced: as envelopes always were
            data["traceparent"] = self.traceparent
            if self.tracestate:
                data["tracestate"] = self.tracestate
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Envelope:
        """Parse a received envelope; raises :class:`InvalidEvent` when malformed."""
        if not isinstance(data, dict) or not _has_envelope_keys(data):
            raise InvalidEvent(
                f"envelope keys must be exactly {sorted(_ENVELOPE_KEYS)}, "
                f"optionally with {sorted(_OPTIONAL_KEYS)}"
            )
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
            (_is_traceparent(data.get("traceparent", "")), "traceparent"),
            (_is_tracestate(data.get("tracestate", "")), "tracestate"),
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
            traceparent=data.get("traceparent", ""),
            tracestate=data.get("tracestate", ""),
        )


def _has_envelope_keys(data: dict[Any, Any]) -> bool:
    keys = set(data)
    return set(_ENVELOPE_KEYS) <= keys <= {*_ENVELOPE_KEYS, *_OPTIONAL_KEYS}


def _is_traceparent(value: Any) -> bool:
    return value == "" or (isinstance(value, str) and _TRACEPARENT.fullmatch(value) is not None)


def _is_tracestate(value: Any) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= _TRACESTATE_MAX_LENGTH
        and value.isascii()
        and value.isprintable()
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
