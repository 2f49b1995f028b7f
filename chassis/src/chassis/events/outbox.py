"""Producing events reliably: the transactional outbox and its relay.

:func:`publish` writes the event as a row in the caller's transaction, so the event exists
if and only if the change it announces was committed. After commit the relay sends pending
rows to the ``platform.events`` topic exchange (routing key: the event type) with publisher
confirms, and marks them published; rows it could not send (broker down) are sent by the
periodic sweep (``chassis.events.outbox_sweep``, Celery beat). In a serving process the
relay is a background thread sending in batches (chassis.events.relay); elsewhere it runs in
the ``on_commit`` callback itself. Rows are claimed with
``SELECT ... FOR UPDATE SKIP LOCKED``, so relays in several processes never send one row at
the same time. Delivery is at least once (a crash between the broker's confirm and the
commit resends a row); consumers deduplicate by event id (the inbox).

Every publish attempt's outcome is recorded in :data:`chassis.events.reachability.broker_state`
(what ``/readyz`` reports of the broker); after a failure, requests stop trying to publish
after commit for ``BROKER_COOLDOWN_SECONDS`` (the sweep sends the rows), so a dead broker
costs one connection timeout, not one per request.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone
from django_guid import get_guid

from chassis import correlation
from chassis.events import relay
from chassis.events.conf import (
    CONSUME_TASK,
    EXCHANGE,
    PUBLISH_RETRY_POLICY,
    events_exchange,
    service_name,
)
from chassis.events.envelope import Envelope, load_schema, validate_payload
from chassis.events.models import OutboxEvent
from chassis.events.producers import publish_properties
from chassis.events.reachability import PUBLISH, broker_state
from chassis.events.tracing import event_span, producing
from chassis.settings import chassis_settings

__all__ = [
    "envelope_of",
    "publish",
    "publish_many",
    "relay_after_commit",
    "relay_batch",
    "relay_pending",
    "send",
]

logger = logging.getLogger(__name__)


def publish(event_type: str, payload: dict[str, Any], *, version: int = 1) -> OutboxEvent:
    """Record ``event_type`` in the outbox, in the current transaction; sent after commit.

    The payload must match the service's schema for that type and version
    (``CHASSIS["EVENTS"]["SCHEMAS_DIR"]``): raises :class:`InvalidEvent` otherwise. The
    request's correlation id travels with the event.
    """
    (row,) = _outbox_rows(event_type, [payload], version=version)
    row.save(force_insert=True)
    transaction.on_commit(lambda: relay_after_commit(row.id))
    return row


def publish_many(
    event_type: str, payloads: Iterable[dict[str, Any]], *, version: int = 1
) -> list[OutboxEvent]:
    """Record one ``event_type`` event per payload, in the current transaction, with one
    INSERT per thousand rows; for bulk writers (imports, seeding, republishing a table).

    Each payload is validated as :func:`publish` validates it (raises :class:`InvalidEvent`
    before any row is written) and the rows carry the same producer and correlation id.
    Unlike :func:`publish`, no relay runs after commit: thousands of after-commit relays,
    each its own transaction, would dominate a bulk write; the outbox sweep (Celery beat,
    every few seconds) sends the rows in batches of ``RELAY_BATCH``.
    """
    rows = _outbox_rows(event_type, payloads, version=version)
    return OutboxEvent.objects.bulk_create(rows, batch_size=1000)


def _outbox_rows(
    event_type: str, payloads: Iterable[dict[str, Any]], *, version: int
) -> list[OutboxEvent]:
    """Unsaved outbox rows, each payload validated against the type's schema."""
    schemas = chassis_settings.EVENTS.SCHEMAS_DIR
    if schemas is None:
        raise RuntimeError("CHASSIS['EVENTS']['SCHEMAS_DIR'] is not set: events need schemas")
    schema = load_schema(str(schemas), event_type, version)
    # Checked where it enters (chassis.correlation); here too, as it must fit the column.
    producer, correlation_id = service_name(), correlation.safe(get_guid()) or ""
    payloads = list(payloads)
    for payload in payloads:
        validate_payload(schema, payload)
    # The trace context is taken now, in the writer's trace, and kept with the row: every
    # later send and delivery continues it (chassis.events.tracing).
    with producing(event_type, count=len(payloads), exchange=EXCHANGE) as (parent, state):
        return [
            OutboxEvent(
                type=event_type,
                version=version,
                producer=producer,
                correlation_id=correlation_id,
                payload=payload,
                traceparent=parent,
                tracestate=state,
            )
            for payload in payloads
        ]


def envelope_of(row: OutboxEvent) -> Envelope:
    return Envelope(
        id=row.id,
        type=row.type,
        version=row.version,
        occurred_at=row.occurred_at,
        producer=row.producer,
        correlation_id=row.correlation_id,
        payload=row.payload,
        traceparent=row.traceparent,
        tracestate=row.tracestate,
    )


def send(envelope: Envelope) -> None:
    """Publish one event as a ``chassis.events.consume`` task message, confirmed by the
    broker (``confirm_publish``), to the topic exchange; each consumer's queue is bound to
    the types it handles. The message's ``user_id`` is this service's broker user, which
    RabbitMQ verifies and consumers check (chassis.events.producers)."""
    current_app.send_task(
        CONSUME_TASK,
        args=[envelope.to_dict()],
        task_id=str(envelope.id),
        exchange=EXCHANGE,
        routing_key=envelope.type,
        declare=[events_exchange],
        retry=True,
        retry_policy=PUBLISH_RETRY_POLICY,
        headers={"correlation_id": envelope.correlation_id},
        **publish_properties(),  # user_id: the broker vouches for the producer
    )


def relay_after_commit(event_id: Any) -> None:
    """Send a just-committed event: handed to this process's relay thread when it has one
    (chassis.events.relay: the request does not wait for the broker), else now, unless
    the broker failed moments ago (the sweep will). Never raises: the request that
    published has already succeeded."""
    if relay.active():
        relay.submit(event_id)
        return
    try:
        relay_batch([event_id])
    except Exception:  # the row stays pending; the sweep sends it
        logger.exception("events.relay_failed", extra={"event_id": str(event_id)})


def relay_batch(ids: list[Any]) -> int:
    """Send these just-committed rows (those still pending), unless the broker failed
    moments ago: then they are left to the sweep. Returns how many were confirmed."""
    if broker_state.failed_within(chassis_settings.EVENTS.BROKER_COOLDOWN_SECONDS):
        return 0
    return relay_pending(ids=ids)


def relay_pending(*, ids: list[Any] | None = None, limit: int | None = None) -> int:
    """Send pending outbox rows (oldest first, those of ``ids`` only if given); returns how
    many were confirmed. Stops at the first broker failure, recording it on the row."""
    conf = chassis_settings.EVENTS
    sent: list[OutboxEvent] = []
    with transaction.atomic():
        _commit_without_waiting_for_disk()
        for row in _claim(ids, limit or conf["RELAY_BATCH"]):
            row.attempts += 1
            try:
                with event_span(
                    f"{row.type} publish",
                    traceparent=row.traceparent,
                    tracestate=row.tracestate,
                    kind="producer",
                    attributes=functools.partial(_publish_attributes, row),
                ):
                    send(envelope_of(row))
            except Exception as exc:
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                broker_state.record(reachable=False, source=PUBLISH, error=row.last_error)
                row.save(update_fields=["attempts", "last_error"])
                logger.warning("events.publish_failed", extra={"event_id": str(row.id)})
                break
            broker_state.record(reachable=True, source=PUBLISH)
            sent.append(row)
        if sent:  # one statement for the batch (the rows are locked by this transaction)
            _mark_published([row.id for row in sent])
    return len(sent)


# The relay's claim and mark run for every batch, often of one event: written as SQL, as the
# ORM spent longer building them than the database running them (~1 ms each on a slow core).


def _claim(ids: list[Any] | None, limit: int) -> list[OutboxEvent]:
    """Lock up to ``limit`` pending rows (of ``ids`` if given), oldest first, skipping rows
    another relay holds (``FOR UPDATE SKIP LOCKED``; SQLite has one writer at a time)."""
    if ids is not None and not ids:
        return []
    connection = transaction.get_connection()
    where, params = _ids_in(ids or [], connection) if ids is not None else ("", [])
    lock = ""
    if connection.features.has_select_for_update_skip_locked:
        lock = " " + connection.ops.for_update_sql(skip_locked=True)
    sql = (
        f"SELECT * FROM {_table(connection)} WHERE published_at IS NULL{where}"  # noqa: S608
        f" ORDER BY occurred_at, id LIMIT %s{lock}"
    )
    return list(OutboxEvent.objects.raw(sql, [*params, limit]))


def _mark_published(ids: list[Any]) -> None:
    connection = transaction.get_connection()
    where, params = _ids_in(ids, connection)
    published_at = OutboxEvent._meta.get_field("published_at")
    sql = (
        f"UPDATE {_table(connection)} SET attempts = attempts + 1, published_at = %s"  # noqa: S608
        f" WHERE published_at IS NULL{where}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [published_at.get_db_prep_value(timezone.now(), connection), *params])


def _table(connection: Any) -> str:
    return str(connection.ops.quote_name(OutboxEvent._meta.db_table))


def _ids_in(ids: list[Any], connection: Any) -> tuple[str, list[Any]]:
    """`` AND id IN (...)`` and its parameters, as the database stores ids."""
    pk = OutboxEvent._meta.get_field("id")
    params = [pk.get_db_prep_value(value, connection) for value in ids]
    return f" AND id IN ({', '.join(['%s'] * len(params))})", params


def _commit_without_waiting_for_disk() -> None:
    """The relay's transaction only records that rows were sent: PostgreSQL may commit it
    without waiting for the disk (``synchronous_commit = off``, this transaction only). A
    crash that loses the commit leaves the rows pending, and they are sent again: what
    at-least-once delivery already allows (consumers deduplicate by event id)."""
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _publish_attributes(row: OutboxEvent) -> dict[str, Any]:
    return {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "send",
        "messaging.destination.name": EXCHANGE,
        "messaging.rabbitmq.destination.routing_key": row.type,
        "messaging.message.id": str(row.id),
        "messaging.message.conversation_id": row.correlation_id,
        "event.attempt": row.attempts,
    }
