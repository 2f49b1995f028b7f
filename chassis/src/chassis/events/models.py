"""The outbox (events this service produced), the inbox (events it handled) and the events
it parked after its last retry. All three live in the service's own database."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

__all__ = ["InboxEvent", "OutboxEvent", "ParkedEvent"]


def _index_of_set(field: str, *, name: str) -> models.Index:
    """A partial index of ``field`` over the rows where it is set: the purge scans those,
    oldest first, and the rows still waiting (NULL) stay out of it."""
    return models.Index(fields=[field], condition=Q(**{f"{field}__isnull": False}), name=name)


class OutboxEvent(models.Model):
    """An event written in the same transaction as the change it announces.

    ``published_at`` is set once RabbitMQ confirmed the message; rows without it are sent by
    the relay after commit or, failing that, by the periodic sweep. Sent rows are purged
    after ``OUTBOX_RETENTION_SECONDS`` (chassis.events.retention); pending ones never.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=100)
    version = models.PositiveSmallIntegerField(default=1)
    occurred_at = models.DateTimeField(default=timezone.now)
    producer = models.CharField(max_length=50)
    correlation_id = models.CharField(max_length=100, blank=True, default="")
    payload = models.JSONField()
    # W3C Trace Context of the span that wrote the row (chassis.events.tracing); empty when
    # the producer does not trace. 55: version 00's traceparent; 512: tracestate's bound.
    traceparent = models.CharField(max_length=55, blank=True, default="")
    tracestate = models.CharField(max_length=512, blank=True, default="")
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ("occurred_at", "id")
        verbose_name = "outbox event"
        indexes = (
            models.Index(
                fields=["occurred_at", "id"],
                condition=Q(published_at__isnull=True),
                name="outbox_pending",
            ),
            # The purge's oldest-first scan of sent rows (pending ones are not in it).
            _index_of_set("published_at", name="outbox_sent"),
        )

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class InboxEvent(models.Model):
    """An event this service handled: its id is recorded in the handler's transaction, so a
    redelivered event is recognised and changes nothing. Purged after
    ``INBOX_RETENTION_SECONDS``, which outlasts any redelivery (chassis.events.conf)."""

    event_id = models.UUIDField(primary_key=True)
    type = models.CharField(max_length=100)
    producer = models.CharField(max_length=50)
    handled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-handled_at",)
        verbose_name = "handled event"
        # The purge's oldest-first scan, and the admin's newest-first list.
        indexes = (models.Index(fields=["handled_at"], name="inbox_handled_at"),)

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class ParkedEvent(models.Model):
    """An event whose handler still failed after its last retry (dead-lettered). Staff see it
    in the admin and redrive it once the cause is fixed. Never purged while it waits for
    them; purged ``PARKED_RETENTION_SECONDS`` after its redrive."""

    event_id = models.UUIDField(db_index=True)
    type = models.CharField(max_length=100)
    envelope = models.JSONField()
    error = models.TextField()
    attempts = models.PositiveIntegerField()
    parked_at = models.DateTimeField(default=timezone.now)
    redriven_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-parked_at",)
        verbose_name = "parked event"
        indexes = (
            # The purge's scan of redriven events (those waiting for staff are not in it).
            _index_of_set("redriven_at", name="parked_redriven"),
        )

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
