"""Events between services: envelope + JSON Schemas, transactional outbox with a relay and a
sweep, idempotent consumers with an inbox, retries, parking and redrive, and the purge that
keeps those tables bounded (retention).

Producer: ``publish("product.changed", payload)`` inside the transaction of the change.
Consumer: ``@event_handler("order.placed")`` in an app's ``handlers.py``, and the type in
``CHASSIS_EVENTS["CONSUMES"]``. Install ``"chassis.events"`` in INSTALLED_APPS.
"""
