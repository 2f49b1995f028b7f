"""The events' gauges (chassis.metrics), computed by one process every few seconds: the
``chassis.events.gauges_refresh`` task, scheduled by the service's one beat and run by a
worker. A scrape only reads what it wrote last, so no web process queries the outbox.

Reads: the unsent outbox rows (their count and the oldest one's age, by the index on
``published_at IS NULL``), the parked events staff have not redriven, and the number of
messages ready in the service's own broker queues (a passive declare: the queue is never
created here), which is how far its consumer lags behind.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import current_app
from django.db.models import Count, Min
from django.utils import timezone

from chassis import metrics
from chassis.events.conf import queue_name, service_name
from chassis.events.models import OutboxEvent, ParkedEvent
from chassis.settings import chassis_settings

__all__ = ["events_gauges_refresh"]

logger = logging.getLogger(__name__)


def events_gauges_refresh(*, now: datetime | None = None) -> dict[str, Any]:
    """Set the outbox, parked and queue gauges; returns what it set (for logs and tests)."""
    now = now or timezone.now()
    unsent = OutboxEvent.objects.filter(published_at__isnull=True).aggregate(
        count=Count("id"), oldest=Min("occurred_at")
    )
    age = max((now - unsent["oldest"]).total_seconds(), 0.0) if unsent["oldest"] else 0.0
    parked = ParkedEvent.objects.filter(redriven_at__isnull=True).count()
    metrics.OUTBOX_UNSENT.set(unsent["count"])
    metrics.OUTBOX_OLDEST_AGE.set(age)
    metrics.EVENTS_PARKED.set(parked)
    depths = _queue_depths()
    for queue, depth in depths.items():
        metrics.QUEUE_MESSAGES.labels(queue).set(depth)
    return {"unsent": unsent["count"], "oldest_age": age, "parked": parked, "queues": depths}


def _queue_depths() -> dict[str, int]:
    service = service_name()
    names = [service] + ([queue_name(service)] if chassis_settings.EVENTS.CONSUMES else [])
    depths: dict[str, int] = {}
    try:
        with current_app.connection_for_read() as connection:
            channel: Any = connection.default_channel
            for name in names:
                _, messages, _ = channel.queue_declare(queue=name, passive=True)
                depths[name] = int(messages)
    except Exception as exc:  # broker down or queue not declared yet: keep the last values
        logger.warning("events.queue_depth_failed", extra={"error": repr(exc)[:500]})
    return depths
