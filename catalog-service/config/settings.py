"""catalog-service settings: environment only (see .env.example); production-safe defaults."""

from pathlib import Path

import environ
from chassis.conf import (
    DJANGO_APPS,
    MIDDLEWARE,
    SSO_AUTHENTICATION_BACKENDS,
    SSO_SESSION_COOKIE_AGE,
    TEMPLATES,
    common_settings,
    rest_framework,
    spectacular,
)
from chassis.events.broker import celery_event_settings

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

_common = common_settings(env, service="catalog", base_dir=BASE_DIR)
globals().update(_common)

INSTALLED_APPS = [*DJANGO_APPS, "django.contrib.postgres", "chassis.events", "catalog"]
MIDDLEWARE = MIDDLEWARE
TEMPLATES = TEMPLATES
ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

AUTHENTICATION_BACKENDS = SSO_AUTHENTICATION_BACKENDS
SESSION_COOKIE_AGE = SSO_SESSION_COOKIE_AGE
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

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

# --- Events --------------------------------------------------------------------------------
# catalog publishes product.changed, stock.reserved and stock.rejected (schemas below) and
# consumes the order saga's requests (catalog/handlers.py). `manage.py events_setup` declares
# the exchange and the queues; the worker consumes both queues, beat runs the outbox sweep
# and the purge of old event rows (chassis.events.retention).
EVENTS_CONSUMED = ["order.placed", "order.cancelled"]
CHASSIS_EVENTS = {
    "SCHEMAS_DIR": BASE_DIR / "catalog" / "event_schemas",
    "CONSUMES": EVENTS_CONSUMED,
}
globals().update(celery_event_settings("catalog", EVENTS_CONSUMED))

# --- Catalog --------------------------------------------------------------------------------
# Currency of products created without one (ISO 4217).
CATALOG_DEFAULT_CURRENCY = env.str("CATALOG_DEFAULT_CURRENCY", default="EUR")
