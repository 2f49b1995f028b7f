"""Events between services: envelope + JSON Schemas, transactional outbox with a relay and a
sweep, idempotent consumers with an inbox, retries, parking and redrive, and the purge that
keeps those tables bounded (retention).

Producer: ``publish("product.changed", payload)`` (chassis.events.outbox) inside the
transaction of the change; ``publish_many`` for bulk writers. Consumer:
``@event_handler("order.placed")`` (chassis.events.consumer) in an app's ``handlers.py``, and
the type in ``CHASSIS["EVENTS"]["CONSUMES"]`` with the service producing it
(``common_settings(events_consumed={"order.placed": "orders"})``; the system check
chassis.E001/E002 holds the types equal to the handlers; an event from another producer, as
the broker verified it, is parked: chassis.events.producers). Install ``"chassis.events"`` in
INSTALLED_APPS.
"""
