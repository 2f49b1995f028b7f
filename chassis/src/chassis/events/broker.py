"""RabbitMQ topology of events: the topic exchange and each service's queues.

``chassis.conf.common_settings(..., service="catalog", events_consumed=["order.placed",
"order.cancelled"])`` gives the worker two durable queues: ``catalog`` (its own tasks) and
``catalog.events``, bound to ``platform.events`` with one routing key per consumed type,
plus the beat entries of the outbox sweep (every 5 seconds) and of the purge of old event
rows (hourly; see chassis.events.retention). ``manage.py events_setup`` declares them
before any worker starts, so an event published before the consumer's first start is
queued, not dropped.
"""

from __future__ import annotations

from typing import Any

from kombu import Queue, binding

from chassis.events.conf import GAUGES_TASK, PURGE_TASK, SWEEP_TASK, events_exchange, queue_name

__all__ = ["beat_schedule", "declare", "event_queues"]


def event_queues(service: str, consumes: list[str]) -> list[Queue]:
    """The service's own task queue, and its events queue bound to each consumed type."""
    queues = [Queue(service, routing_key=service, durable=True)]
    if consumes:
        bindings = [binding(events_exchange, routing_key=t) for t in sorted(set(consumes))]
        queues.append(Queue(queue_name(service), bindings=bindings, durable=True))
    return queues


def beat_schedule(*, sweep_seconds: float = 5.0, purge_seconds: float = 3600.0) -> dict[str, Any]:
    """The Celery beat entries of the outbox sweep and of the purge (merge a service's own)."""
    return {
        "events-outbox-sweep": {"task": SWEEP_TASK, "schedule": sweep_seconds},
        "events-purge": {"task": PURGE_TASK, "schedule": purge_seconds},
        # The events' gauges (chassis.events.gauges): one process computes them, not scrapes.
        "events-gauges": {"task": GAUGES_TASK, "schedule": 15.0},
    }


def declare(connection: Any, queues: list[Queue]) -> None:
    """Declare the exchange, the queues and their bindings (idempotent)."""
    channel = connection.default_channel
    events_exchange(channel).declare()
    for queue in queues:
        queue(channel).declare()
