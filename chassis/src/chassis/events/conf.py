"""Settings of chassis.events: ``CHASSIS["EVENTS"]`` in a service's settings (read through
``chassis_settings.EVENTS``, see chassis.settings for the defaults):

* ``SCHEMAS_DIR``: where the service's own event schemas live (``<type>.v<version>.json``);
* ``CONSUMES``: the event types the service's worker handles (its queue is bound to them),
  each mapped to the service its contract names as the producer (``{"user.deactivated":
  "users"}``): an event from anyone else is parked, not applied (chassis.events.producers);
* ``BROKER_USER_FORMAT`` (default ``"{vhost}.{service}"``): how broker users are named when
  each service has its own; the consumer derives the producer's expected user from it;
* ``MAX_RETRIES`` (default 5), ``RETRY_BACKOFF_SECONDS`` (default 1, doubled per retry,
  capped by ``RETRY_BACKOFF_MAX_SECONDS``, default 60);
* ``RELAY_BATCH`` (default 100): rows per relay transaction;
* ``RELAY_IN_BACKGROUND`` (default True): in the serving processes (gunicorn workers, Celery
  workers), events are sent after commit by a background thread, in batches, and the request
  does not wait for the broker (chassis.events.relay); False sends them in the request's
  thread, as tests, commands and shells always do;
* ``BROKER_COOLDOWN_SECONDS`` (default 5): after a failed publish (or a failed background
  broker check, see chassis.health), requests stop trying to publish after commit for this
  long (the sweep sends the rows), so a dead broker costs one connection timeout, not one
  per request.

Retention (chassis.events.retention; Celery beat purges hourly, in batches):

* ``OUTBOX_RETENTION_SECONDS`` (default 7 days): sent outbox rows are deleted this long
  after they were published (kept to trace an event, or to send it again by hand). Pending
  rows are never deleted, whatever their age: they are events still to be sent.
* ``INBOX_RETENTION_SECONDS`` (default 14 days): handled-event rows are deleted this long
  after they were handled. A copy of an event arriving later would be applied again, so
  this must exceed by far the window in which copies arrive: a message redelivered after a
  consumer crashed (at once, or when RabbitMQ's consumer timeout, 30 minutes by default,
  gives up on an unacked one), delayed by retries (at most ``MAX_RETRIES`` delays of at
  most ``RETRY_BACKOFF_MAX_SECONDS``: 5 minutes by default), a row the outbox sends again
  because its confirm was lost (the sweep, seconds later, or once a broker or database
  outage ends: hours, a long weekend at worst). 14 days is a wide margin over that, and it
  outlasts the producers' ``OUTBOX_RETENTION_SECONDS``: any event a producer still keeps,
  and could send again, is still recognised. Keep it so when changing either.
* ``PARKED_RETENTION_SECONDS`` (default 30 days): parked events waiting for staff are never
  deleted; a redriven one is deleted this long after its redrive (its outcome is a handled
  event, or a new parked one if it failed again).
* ``PURGE_BATCH`` (default 1000): rows per DELETE statement, each its own short
  transaction, so a large backlog never holds the table's locks for long.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange

from chassis.settings import chassis_settings

__all__ = [
    "CONSUME_TASK",
    "EXCHANGE",
    "GAUGES_TASK",
    "PURGE_TASK",
    "SWEEP_TASK",
    "events_exchange",
    "queue_name",
    "service_name",
]

EXCHANGE = "platform.events"
CONSUME_TASK = "chassis.events.consume"
SWEEP_TASK = "chassis.events.outbox_sweep"
PURGE_TASK = "chassis.events.purge"
GAUGES_TASK = "chassis.events.gauges_refresh"
events_exchange = Exchange(EXCHANGE, type="topic", durable=True)


def queue_name(service: str) -> str:
    return f"{service}.events"


def service_name() -> str:
    """The service's own name (``CHASSIS["SERVICE_NAME"]``, set by chassis.conf.common_settings)."""
    name = chassis_settings.SERVICE_NAME
    if not name:
        raise ImproperlyConfigured("CHASSIS['SERVICE_NAME'] is not set: events need a producer")
    return str(name)


# A publish from a web process may find its pooled broker connection closed by the broker
# (restarted, or connections dropped): reconnect once at once instead of failing the request.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5}
