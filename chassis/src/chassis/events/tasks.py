"""Celery tasks of chassis.events: consume one event (with retries and parking), sweep the
outbox, purge old event rows. Registered in every service's worker through autodiscovery."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from celery import Task, shared_task

from chassis import metrics
from chassis.events.conf import (
    CONSUME_TASK,
    GAUGES_TASK,
    PURGE_TASK,
    SWEEP_TASK,
    queue_name,
    service_name,
)
from chassis.events.consumer import handle, park
from chassis.events.envelope import Envelope, InvalidEvent
from chassis.events.gauges import events_gauges_refresh
from chassis.events.outbox import relay_pending
from chassis.events.producers import UNVERIFIED_PRODUCER, producer_problem, publish_properties
from chassis.events.retention import events_purge
from chassis.settings import chassis_settings

__all__ = ["consume", "gauges_refresh", "outbox_sweep", "purge", "retry_delay"]

logger = logging.getLogger(__name__)


def retry_delay(retries: int, conf: Mapping[str, Any]) -> float:
    """Exponential backoff: 1 s, 2 s, 4 s, ... capped (``retries`` already made)."""
    return float(min(conf["RETRY_BACKOFF_SECONDS"] * 2**retries, conf["RETRY_BACKOFF_MAX_SECONDS"]))


# max_retries=None: CHASSIS["EVENTS"]["MAX_RETRIES"] decides (below). With Celery's default of 3,
# self.retry() re-raised the error on the 4th failure and the event was acked and lost, never
# parked, whenever MAX_RETRIES was above 3 (the default is 5).
@shared_task(
    name=CONSUME_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None
)
def consume(self: Task, envelope: Any) -> str:
    """Handle one event from this service's queue: applied once (inbox), retried with
    backoff on failure, parked after ``MAX_RETRIES`` retries. A malformed envelope, and an
    event whose producer is not the one its contract names (as the broker verified it:
    chassis.events.producers), are parked at once (retrying cannot fix them)."""
    conf = chassis_settings.EVENTS
    try:
        event = Envelope.from_dict(envelope)
    except InvalidEvent as exc:
        park(envelope, error=f"InvalidEvent: {exc}", attempts=1)
        metrics.event_outcome(
            str(envelope.get("type")) if isinstance(envelope, dict) else "", "parked"
        )
        return "parked"
    # Before the inbox: a forged event must not take the id of the real one.
    problem = producer_problem(event, (self.request.properties or {}).get("user_id"))
    if problem is not None:
        park(envelope, error=f"{UNVERIFIED_PRODUCER}: {problem}", attempts=1)
        metrics.event_outcome(event.type, "parked")
        return "parked"
    try:
        return "handled" if handle(event) else "skipped"
    except Exception as exc:
        retries = self.request.retries
        if retries >= conf["MAX_RETRIES"]:
            park(envelope, error=f"{type(exc).__name__}: {exc}", attempts=retries + 1)
            metrics.event_outcome(event.type, "parked")
            return "parked"
        metrics.event_outcome(event.type, "retried")
        logger.warning(
            "events.retry",
            extra={"event_id": str(event.id), "retry": retries + 1, "error": str(exc)[:500]},
        )
        # Back to this service's own queue: the topic exchange would also deliver the retry
        # to every other service bound to this type.
        raise self.retry(
            exc=exc,
            countdown=retry_delay(retries, conf),
            exchange="",
            routing_key=queue_name(service_name()),
            **publish_properties(),  # from this service's own user: accepted back
        ) from exc


@shared_task(name=SWEEP_TASK, ignore_result=True)
def outbox_sweep() -> int:
    """Send outbox rows the after-commit relay left behind (broker down, process killed)."""
    sent = 0
    while True:
        batch = relay_pending()
        sent += batch
        if batch < chassis_settings.EVENTS.RELAY_BATCH:
            return sent


@shared_task(name=PURGE_TASK, ignore_result=True)
def purge() -> dict[str, int]:
    """Delete sent outbox rows, handled events and redriven parked events past their
    retention (hourly, Celery beat; see chassis.events.retention); logs and returns how many
    rows of each went. Safe to run twice."""
    deleted = events_purge()
    logger.info("events.purged", extra={f"{table}_deleted": n for table, n in deleted.items()})
    return deleted


@shared_task(name=GAUGES_TASK, ignore_result=True)
def gauges_refresh() -> dict[str, Any]:
    """Compute the events' gauges (outbox backlog and oldest age, parked events, queue
    depths: chassis.events.gauges) for /metrics; every 15 s from beat. Safe to run twice."""
    return events_gauges_refresh()
