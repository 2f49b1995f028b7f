"""orders-service settings: environment only (see .env.example); production-safe defaults."""

import re
from decimal import Decimal
from pathlib import Path

import environ
from chassis.conf import (
    DJANGO_APPS,
    common_settings,
    rest_framework,
    spectacular,
)
from chassis.mail import email_settings
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

# Events: orders publishes order.placed and order.cancelled (schemas in orders/event_schemas)
# and consumes the saga's answers, the product read model's changes and accounts deactivated,
# reactivated or erased.
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
    "user.erased": "users",
}
_common = common_settings(env, service="orders", base_dir=BASE_DIR, events_consumed=EVENTS_CONSUMED)
# What each users-service group may do here: orders/roles.py (chassis.roles).
_common["CHASSIS"]["ROLES"] = {"GROUP_PERMISSIONS": "orders.roles.GROUP_PERMISSIONS"}
_common["CHASSIS"]["BACKOFFICE"]["ATTENTION"] = "orders.admin.attention"
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
    # order emails the broker lost on their way to the worker (orders/emails.py)
    "order-emails-sweep": {"task": "orders.tasks.order_emails_sweep", "schedule": 60},
}

# --- Email ----------------------------------------------------------------------------------
# The buyer's emails about their orders (orders/emails.py), sent by the worker through
# Django's SMTP backend: EMAIL_HOST/EMAIL_PORT (`make up`: its local SMTP sink).
globals().update(email_settings(env))

# --- Orders ---------------------------------------------------------------------------------
# How long a stored Idempotency-Key answer is replayed (then the key may be reused).
ORDERS_IDEMPOTENCY_TTL_SECONDS = env.int("ORDERS_IDEMPOTENCY_TTL_SECONDS", default=86_400)
# Orders are taken from verified addresses only (the token's email_verified claim; 403
# email-not-verified otherwise). Off only for local demos (`make up` turns it off).
ORDERS_REQUIRE_VERIFIED_EMAIL = env.bool("ORDERS_REQUIRE_VERIFIED_EMAIL", default=True)


def _amounts_by_currency(name: str, value: str) -> dict[str, Decimal]:
    """``"EUR=5000,*=10000"`` -> ``{"EUR": Decimal("5000"), "*": Decimal("10000")}``."""
    amounts = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        match = re.fullmatch(r"([A-Z]{3}|\*)=(\d{1,16}(?:\.\d{1,2})?)", item)
        if match is None:
            raise ImproperlyConfigured(f"{name}: {item!r} is not CUR=amount (or *=amount)")
        amounts[match[1]] = Decimal(match[2])
    if "*" not in amounts:
        raise ImproperlyConfigured(f"{name} needs a '*=amount' entry (any other currency)")
    return amounts


# --- Limits: what one order and one account may hold (orders/limits.py) ----------------------
# Lines per order and units of a product per line; at most 50 and 1000, what the amount
# columns are sized for (Order.total).
ORDERS_MAX_LINES = env.int("ORDERS_MAX_LINES", default=20)
ORDERS_MAX_UNITS_PER_LINE = env.int("ORDERS_MAX_UNITS_PER_LINE", default=100)
# Open (PENDING or CONFIRMED) orders per account, and their value per currency:
# "EUR=5000,USD=6000,*=10000" ("*": any currency not named; amounts are never converted).
ORDERS_MAX_OPEN_PER_ACCOUNT = env.int("ORDERS_MAX_OPEN_PER_ACCOUNT", default=10)
ORDERS_MAX_OPEN_VALUE_PER_ACCOUNT = _amounts_by_currency(
    "ORDERS_MAX_OPEN_VALUE_PER_ACCOUNT",
    env.str("ORDERS_MAX_OPEN_VALUE_PER_ACCOUNT", default="*=10000"),
)
for _name, _most in (("ORDERS_MAX_LINES", 50), ("ORDERS_MAX_UNITS_PER_LINE", 1000)):
    if not 1 <= globals()[_name] <= _most:
        raise ImproperlyConfigured(f"{_name} must be between 1 and {_most}")
if ORDERS_MAX_OPEN_PER_ACCOUNT < 1:
    raise ImproperlyConfigured("ORDERS_MAX_OPEN_PER_ACCOUNT must be at least 1")
