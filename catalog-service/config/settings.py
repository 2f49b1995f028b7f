"""catalog-service settings: environment only (see .env.example); production-safe defaults."""

from pathlib import Path

import environ
from chassis.conf import common_settings, rest_framework, spectacular

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

_common = common_settings(env, service="catalog", base_dir=BASE_DIR)
globals().update(_common)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.postgres",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_guid",
    "chassis",
    "catalog",
]

MIDDLEWARE = [
    "chassis.health.HealthCheckMiddleware",
    "django_guid.middleware.guid_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Staff sign in to this admin with their users-service account (chassis.sso: a shadow user
# per staff member); local accounts from createsuperuser still work (ModelBackend).
AUTHENTICATION_BACKENDS = [
    "chassis.sso.UsersServiceBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Admin sessions end after 8 hours: the next login asks users-service again, so a staff
# member deactivated there loses the admin within a working day at most.
SESSION_COOKIE_AGE = 8 * 3600

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

# --- Catalog --------------------------------------------------------------------------------
# Currency of products created without one (ISO 4217).
CATALOG_DEFAULT_CURRENCY = env.str("CATALOG_DEFAULT_CURRENCY", default="EUR")
# Text search configuration of PostgreSQL used for product search (name, sku, description).
# Changing it needs a migration: the generated search column is built with it.
CATALOG_SEARCH_CONFIG = "english"
