"""catalog-service settings: environment only (see .env.example); production-safe defaults."""

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

# Events: catalog publishes product.changed, stock.reserved and stock.rejected (schemas in
# catalog/event_schemas) and consumes the order saga's requests, each from the service that
# produces it (an event from anyone else is parked: chassis.events.producers).
# infra/services.toml lists the same types; the chassis's system check holds them equal to
# the handlers (catalog/handlers.py).
EVENTS_CONSUMED = {"order.placed": "orders", "order.cancelled": "orders"}
_common = common_settings(
    env, service="catalog", base_dir=BASE_DIR, events_consumed=EVENTS_CONSUMED
)
# What each users-service group may do here: catalog/roles.py (chassis.roles).
_common["CHASSIS"]["ROLES"] = {"GROUP_PERMISSIONS": "catalog.roles.GROUP_PERMISSIONS"}
_common["CHASSIS"]["BACKOFFICE"]["ATTENTION"] = "catalog.admin.attention"
globals().update(_common)

INSTALLED_APPS = [*DJANGO_APPS, "django.contrib.postgres", "chassis.events", "catalog"]

REST_FRAMEWORK = rest_framework(
    DEFAULT_AUTHENTICATION_CLASSES=["chassis.auth.JWKSAuthentication"],
)

SPECTACULAR_SETTINGS = spectacular(
    title="catalog-service API",
    description=(
        "Categories, products, prices and stock. Reads are public; writes need a staff "
        "access token from users-service."
    ),
)

# --- Catalog --------------------------------------------------------------------------------
# Currency of products created without one (ISO 4217).
CATALOG_DEFAULT_CURRENCY = env.str("CATALOG_DEFAULT_CURRENCY", default="EUR")
# The admin's "needs attention": active products with this many units or fewer.
CATALOG_LOW_STOCK = env.int("CATALOG_LOW_STOCK", default=5)
