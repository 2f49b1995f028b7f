"""Consuming events idempotently: the handler registry, the inbox, retries and parking.

A service registers one handler per event type it consumes, in an app's ``handlers.py``::

    @event_handler("order.placed")
    def stock_reserve_for_order(event: Envelope) -> None: ...

:func:`handle` runs the handler and records the event id in the inbox in one transaction:
an event seen before (redelivered after a worker died, or sent twice by a relay) is
skipped, and a handler that fails leaves no trace of its partial work. The Celery task
around it (chassis.events.tasks) retries failures with exponential backoff and parks the
event after the last retry (:class:`ParkedEvent`, shown in the admin with a redrive action).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone
from django_guid import get_guid, set_guid

from chassis import correlation, metrics
from chassis.db import insert_or_skip
from chassis.events.conf import CONSUME_TASK, PUBLISH_RETRY_POLICY, queue_name, service_name
from chassis.events.envelope import Envelope
from chassis.events.models import InboxEvent, ParkedEvent
from chassis.events.producers import UNVERIFIED_PRODUCER, publish_properties
from chassis.events.tracing import event_span

__all__ = [
    "Handler",
    "UnverifiedEventRedrive",
    "event_handler",
    "handle",
    "handlers",
    "park",
    "redrive",
]

logger = logging.getLogger(__name__)

Handler = Callable[[Envelope], None]
_handlers: dict[str, Handler] = {}


def event_handler(event_type: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as this service's handler of ``event_type``."""

    def register(function: Handler) -> Handler:
        existing = _handlers.get(event_type)
        if existing is not None and existing is not function:
            raise RuntimeError(f"two handlers for {event_type}: {existing} and {function}")
        _handlers[event_type] = function
        return function

    return register


def handlers() -> dict[str, Handler]:
    return dict(_handlers)


def handle(envelope: Envelope) -> bool:
    """Apply ``envelope`` once: False when it was handled before (or has no handler).

    The handler and the inbox row share a transaction: a concurrent delivery of the same
    event waits on the inbox row's key, then finds it taken.
    """
    handler = _handlers.get(envelope.type)
    if handler is None:
        logger.warning("events.no_handler", extra={"event_type": envelope.type})
        metrics.event_outcome(envelope.type, "unhandled")
        return False
    previous = get_guid()
    # The producer's id when it is one (chassis.correlation), so events it publishes store it.
    set_guid(correlation.safe(envelope.correlation_id) or str(envelope.id))
    span = event_span(
        f"{envelope.type} process",
        traceparent=envelope.traceparent,
        tracestate=envelope.tracestate,
        kind="consumer",
        attributes=lambda: _process_attributes(envelope),
    )
    try:
        with span:
            with transaction.atomic():
                if not _inbox_record(envelope):
                    logger.info("events.duplicate", extra={"event_id": str(envelope.id)})
                    metrics.event_outcome(envelope.type, "duplicate")
                    return False
                handler(envelope)
            metrics.event_outcome(envelope.type, "handled")
            logger.info(
                "events.handled", extra={"event_id": str(envelope.id), "event_type": envelope.type}
            )
            return True
    finally:
        set_guid(previous or "")


def _inbox_record(envelope: Envelope) -> bool:
    """Record the event in the inbox (in the handler's transaction); False when it is there
    already. One statement, no savepoint (chassis.db.insert_or_skip): a concurrent delivery
    of the same event waits for the first one's outcome, then skips or applies it."""
    return (
        insert_or_skip(
            InboxEvent,
            ["event_id"],
            event_id=envelope.id,
            type=envelope.type,
            producer=envelope.producer,
        )
        is not None
    )


def _process_attributes(envelope: Envelope) -> dict[str, Any]:
    return {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "process",
        "messaging.destination.name": queue_name(service_name()),
        "messaging.rabbitmq.destination.routing_key": envelope.type,
        "messaging.message.id": str(envelope.id),
        "messaging.message.conversation_id": envelope.correlation_id,
        "event.producer": envelope.producer,
    }


def park(envelope: dict[str, Any], *, error: str, attempts: int) -> ParkedEvent:
    """Keep an event that kept failing, for staff to inspect and redrive."""
    event_id = envelope.get("id") if isinstance(envelope, dict) else None
    parked = ParkedEvent.objects.create(
        event_id=_uuid_or_nil(event_id),
        type=str(envelope.get("type", "")) if isinstance(envelope, dict) else "",
        envelope=envelope,
        error=error[:10_000],
        attempts=attempts,
    )
    logger.error(
        "events.parked", extra={"event_id": str(parked.event_id), "event_type": parked.type}
    )
    return parked


class UnverifiedEventRedrive(ValueError):
    """A parked event whose producer failed the check cannot be redriven: sent again from
    this service's own broker user, it would be trusted (chassis.events.producers)."""


def redrive(parked: ParkedEvent) -> None:
    """Send a parked event back to this service's own queue (only this service sees it).
    Raises UnverifiedEventRedrive for an event parked because of its producer."""
    if parked.error.startswith(f"{UNVERIFIED_PRODUCER}:"):
        raise UnverifiedEventRedrive(
            f"event {parked.event_id} was parked because its producer is not the one its "
            "contract names: it is never applied"
        )
    current_app.send_task(
        CONSUME_TASK,
        args=[parked.envelope],
        exchange="",
        routing_key=queue_name(service_name()),
        retry=True,
        retry_policy=PUBLISH_RETRY_POLICY,
        **publish_properties(),
    )
    parked.redriven_at = timezone.now()
    parked.save(update_fields=["redriven_at"])


def _uuid_or_nil(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return str(uuid.UUID(int=0))
