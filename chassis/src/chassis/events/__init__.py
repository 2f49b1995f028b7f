"""Events between services: envelope + JSON Schemas, transactional outbox with a relay and a
sweep, idempotent consumers with an inbox, retries, parking and redrive, and the purge that
keeps those tables bounded (retention).

Producer: ``publish("product.changed", payload)`` (chassis.events.outbox) inside the
transaction of the change; ``publish_many`` for bulk writers. Consumer:
``@event_handler("order.placed")`` (chassis.events.consumer) in an app's ``handlers.py``, and
the type in ``CHASSIS["EVENTS"]["CONSUMES"]`` (``common_settings(events_consumed=...)``; the
system check chassis.E001/E002 holds the two equal). Install ``"chassis.events"`` in
INSTALLED_APPS.
"""
