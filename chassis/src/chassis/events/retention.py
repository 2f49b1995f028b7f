"""Bounded event tables: what the purge deletes, and what it never does.

Celery beat runs the task ``chassis.events.purge`` hourly (the entry comes with
``chassis.conf.common_settings``), which calls :func:`events_purge`:

* sent outbox rows, ``OUTBOX_RETENTION_SECONDS`` after they were published; a pending row
  (not yet confirmed by the broker) is never deleted, whatever its age;
* handled-event (inbox) rows, ``INBOX_RETENTION_SECONDS`` after they were handled: long
  after any copy of the event can still arrive (chassis.events.conf says why);
* parked events once staff redrove them, ``PARKED_RETENTION_SECONDS`` after the redrive;
  those still waiting for staff are never deleted.

Rows go oldest first, ``PURGE_BATCH`` per DELETE, each statement its own short transaction
(autocommit), so a backlog of millions never holds the table's locks for long and the
relay, the consumers and the admin keep working meanwhile. Each table's purge reads an index
on its age column (see the models), not the whole table.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Model, QuerySet
from django.utils import timezone

from chassis.events.models import InboxEvent, OutboxEvent, ParkedEvent
from chassis.settings import chassis_settings

__all__ = ["events_purge"]


def events_purge(*, now: datetime | None = None) -> dict[str, int]:
    """Delete the event rows past their retention (see the module); returns how many rows
    of each table went: ``{"outbox": n, "inbox": n, "parked": n}``. Safe to run twice, and
    beside the relay and the consumers (they never touch the rows it deletes)."""
    conf = chassis_settings.EVENTS
    now = now or timezone.now()
    batch = int(conf["PURGE_BATCH"])

    def cutoff(setting: str) -> datetime:
        return now - timedelta(seconds=conf[setting])

    sent = OutboxEvent.objects.filter(
        published_at__isnull=False, published_at__lt=cutoff("OUTBOX_RETENTION_SECONDS")
    )
    handled = InboxEvent.objects.filter(handled_at__lt=cutoff("INBOX_RETENTION_SECONDS"))
    redriven = ParkedEvent.objects.filter(
        redriven_at__isnull=False, redriven_at__lt=cutoff("PARKED_RETENTION_SECONDS")
    )
    return {
        "outbox": _delete_in_batches(sent, oldest_first="published_at", batch=batch),
        "inbox": _delete_in_batches(handled, oldest_first="handled_at", batch=batch),
        "parked": _delete_in_batches(redriven, oldest_first="redriven_at", batch=batch),
    }


def _delete_in_batches(rows: QuerySet[Any], *, oldest_first: str, batch: int) -> int:
    """Delete ``rows``, ``batch`` at a time in the order of ``oldest_first``; returns how
    many. One statement per batch: ``DELETE ... WHERE pk IN (SELECT pk ... LIMIT batch)``."""
    if batch < 1:
        raise ValueError(f"CHASSIS['EVENTS']['PURGE_BATCH'] must be at least 1, not {batch}")
    model: type[Model] = rows.model
    deleted = 0
    while True:
        oldest = rows.order_by(oldest_first).values("pk")[:batch]
        count, _ = model._default_manager.filter(pk__in=oldest).delete()
        deleted += count
        if count < batch:
            return deleted
