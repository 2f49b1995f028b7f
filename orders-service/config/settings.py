"""orders-service settings: environment only (see .env.example); production-safe defaults."""

from pathlib import Path

import environ
from chassis.conf import (
    DJANGO_APPS,
    common_settings,
    rest_framework,
    spectacular,
)

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

# Events: orders publishes order.placed and order.cancelled (schemas in orders/event_schemas)
# and consumes the saga's answers, the product read model's changes and accounts deactivated
# or reactivated.
# Each type maps to the service that produces it: an event from anyone else (as the broker
# verified its publisher) is parked, never applied (chassis.events.producers).
# infra/services.toml lists the same types; the chassis's system check holds them equal to
# the handlers (orders/handlers.py).
EVENTS_CONSUMED = {
    "product.changed": "catalog",
    "stock.reserved": "catalog",
    "stock.rejected": "catalog",
    "user.deactivated": "users",
    "user.reactivated": "users",
}
_common = common_settings(env, service="orders", base_dir=BASE_DIR, events_consumed=EVENTS_CONSUMED)
globals().update(_common)

INSTALLED_APPS = [*DJANGO_APPS, "chassis.events", "orders"]

REST_FRAMEWORK = rest_framework(
    DEFAULT_AUTHENTICATION_CLASSES=["chassis.auth.JWKSAuthentication"],
    DEFAULT_FILTER_BACKENDS=["django_filters.rest_framework.DjangoFilterBackend"],
    DEFAULT_THROTTLE_RATES={"order-place": env.str("THROTTLE_ORDER_PLACE", default="60/min")},
)

SPECTACULAR_SETTINGS = spectacular(
    title="orders-service API",
    description=(
        "Orders: placed with an Idempotency-Key, confirmed or rejected by the stock "
        "reservation saga with catalog-service, cancelled, shipped."
    ),
)

# --- Celery beat ----------------------------------------------------------------------------
CELERY_BEAT_SCHEDULE = {
    **_common["CELERY_BEAT_SCHEDULE"],  # the outbox sweep, the purge of old event rows
    "idempotency-keys-purge": {"task": "orders.tasks.idempotency_keys_purge", "schedule": 3600},
}

# --- Orders ---------------------------------------------------------------------------------
# How long a stored Idempotency-Key answer is replayed (then the key may be reused).
ORDERS_IDEMPOTENCY_TTL_SECONDS = env.int("ORDERS_IDEMPOTENCY_TTL_SECONDS", default=86_400)
# At most this many lines per order, and units per line.
ORDERS_MAX_LINES = 50
ORDERS_MAX_QUANTITY = 1000
