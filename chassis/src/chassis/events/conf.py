"""Settings of chassis.events, under ``CHASSIS_EVENTS`` in a service's settings:

* ``SCHEMAS_DIR``: where the service's own event schemas live (``<type>.v<version>.json``);
* ``CONSUMES``: the event types the service's worker handles (its queue is bound to them);
* ``MAX_RETRIES`` (default 5), ``RETRY_BACKOFF_SECONDS`` (default 1, doubled per retry,
  capped by ``RETRY_BACKOFF_MAX_SECONDS``, default 60);
* ``RELAY_BATCH`` (default 100): rows per relay transaction;
* ``BROKER_COOLDOWN_SECONDS`` (default 5): after a failed publish (or a failed background
  broker check, see chassis.health), requests stop trying to publish after commit for this
  long (the sweep sends the rows), so a dead broker costs one connection timeout, not one
  per request.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from kombu import Exchange

EXCHANGE = "platform.events"
CONSUME_TASK = "chassis.events.consume"
SWEEP_TASK = "chassis.events.outbox_sweep"
events_exchange = Exchange(EXCHANGE, type="topic", durable=True)

DEFAULTS: dict[str, Any] = {
    "SCHEMAS_DIR": None,
    "CONSUMES": [],
    "MAX_RETRIES": 5,
    "RETRY_BACKOFF_SECONDS": 1,
    "RETRY_BACKOFF_MAX_SECONDS": 60,
    "RELAY_BATCH": 100,
    "BROKER_COOLDOWN_SECONDS": 5,
}


def events_settings() -> dict[str, Any]:
    return {**DEFAULTS, **getattr(settings, "CHASSIS_EVENTS", {})}


def queue_name(service: str) -> str:
    return f"{service}.events"


def service_name() -> str:
    """This service's name (``SERVICE_NAME``, set by chassis.conf.common_settings)."""
    return str(settings.SERVICE_NAME)  # type: ignore[misc]  # set through globals().update


# A publish from a web process may find its pooled broker connection closed by the broker
# (restarted, or connections dropped): reconnect once at once instead of failing the request.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5}
