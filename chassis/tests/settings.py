"""Settings of the chassis's test project: a minimal service built the way services are."""

import os
from pathlib import Path

import environ

from chassis.conf import common_settings, rest_framework, spectacular

BASE_DIR = Path(__file__).resolve().parent

# Test defaults, overridden by the real environment (the Makefile exports DATABASE_URL).
env = environ.Env()
env.ENVIRON = {
    "SECRET_KEY": "chassis-tests-only-not-a-secret",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/chassis",
    "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
    # Pointed at servers the auth and SSO tests start; nothing listens here.
    "JWKS_URL": "http://127.0.0.1:1/.well-known/jwks.json",
    "USERS_TOKEN_URL": "http://127.0.0.1:1/api/v1/auth/token",
    "LOG_LEVEL": "INFO",
    **os.environ,
}

_common = common_settings(
    env,
    service="chassis",
    base_dir=BASE_DIR,
    events_consumed={"test.happened": "chassis", "test.failed": "chassis"},
)
globals().update(_common)

# tests/test_transport.py compares the embedded broker with kombu's own filesystem transport.
if "CHASSIS_TEST_TRANSPORT" in os.environ and env.str("CELERY_BROKER_URL") == "filesystem://":
    CELERY_BROKER_TRANSPORT = os.environ["CHASSIS_TEST_TRANSPORT"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "drf_spectacular",
    "django_guid",
    "chassis",
    "chassis.events",
]

MIDDLEWARE = [
    "chassis.metrics.MetricsMiddleware",
    "chassis.health.HealthCheckMiddleware",
    "chassis.correlation.correlation_id_middleware",  # an X-Request-ID that is not an id: dropped
    "django_guid.middleware.guid_middleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tests.urls"
ALLOWED_HOSTS = ["testserver"]
SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP

REST_FRAMEWORK = rest_framework(
    DEFAULT_AUTHENTICATION_CLASSES=["chassis.auth.JWKSAuthentication"],
    DEFAULT_THROTTLE_RATES={"probe": "1000/min"},
)

SPECTACULAR_SETTINGS = spectacular(title="chassis tests", description="Test-only API.")

# The events' schemas are the test project's own; retries fast, and more of them than
# Celery's default of 3 (which must not apply).
CHASSIS = {
    **_common["CHASSIS"],
    "EVENTS": {
        **_common["CHASSIS"]["EVENTS"],
        "SCHEMAS_DIR": BASE_DIR / "event_schemas",
        "MAX_RETRIES": 4,
        "RETRY_BACKOFF_SECONDS": 0.05,
    },
    "HEALTH": {**_common["CHASSIS"]["HEALTH"], "BROKER_TIMEOUT_SECONDS": 1},
}
