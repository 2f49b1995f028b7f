"""users-service settings: environment only (see .env.example); production-safe defaults."""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from chassis.conf import (
    DJANGO_APPS,
    common_settings,
    rest_framework,
    spectacular,
)

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

# Events: users publishes user.registered, user.deactivated and user.reactivated (schemas in
# users/event_schemas) and consumes nothing yet. infra/services.toml lists the same types;
# the chassis's system check holds them equal to the handlers (an app's handlers.py).
EVENTS_CONSUMED: dict[str, str] = {}
_common = common_settings(
    env, service="users", base_dir=BASE_DIR, events_consumed=EVENTS_CONSUMED, verifies_tokens=False
)
# What each users-service group may do here: users/roles.py (chassis.roles).
_common["CHASSIS"]["ROLES"] = {"GROUP_PERMISSIONS": "users.roles.GROUP_PERMISSIONS"}
_common["CHASSIS"]["BACKOFFICE"]["ATTENTION"] = "users.admin.attention"
globals().update(_common)

INSTALLED_APPS = [
    *DJANGO_APPS,
    "rest_framework_simplejwt.token_blacklist",
    "chassis.events",
    "users",
]
AUTH_USER_MODEL = "users.User"

AUTH_PASSWORD_VALIDATORS = [
    {
        # The default attributes (username, first_name, last_name) do not exist on User.
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "full_name")},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

REST_FRAMEWORK = rest_framework(
    DEFAULT_AUTHENTICATION_CLASSES=["users.authentication.AccessTokenAuthentication"],
    DEFAULT_FILTER_BACKENDS=["django_filters.rest_framework.DjangoFilterBackend"],
    # login and login-account (per client address, per account): the chassis's
    DEFAULT_THROTTLE_RATES={
        "register": env.str("THROTTLE_REGISTER", default="5/min"),
        "refresh": env.str("THROTTLE_REFRESH", default="30/min"),
        "password": env.str("THROTTLE_PASSWORD", default="5/min"),
    },
)

SPECTACULAR_SETTINGS = spectacular(
    title="users-service API",
    description="Accounts, JWT issuing (RS256, rotated keys published as JWKS), staff admin.",
)

# --- JWT issuing -------------------------------------------------------------------------
# Private keys: one PEM file per key in JWT_KEYS_DIR (<kid>.pem), or JWT_KEYS as a JSON
# object {kid: PEM}. Every key is published in the JWKS; JWT_SIGNING_KID picks the signer.
JWT_KEYS_DIR = env.str("JWT_KEYS_DIR", default=str(_common["VAR_DIR"] / "keys" / "users"))
JWT_KEYS = env.json("JWT_KEYS", default={})
JWT_SIGNING_KID = env.str("JWT_SIGNING_KID", default="")
JWT_ISSUER = env.str("JWT_ISSUER", default="users")

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_ACCESS_SECONDS", default=300)),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_REFRESH_SECONDS", default=86_400)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "RS256",
    "ISSUER": JWT_ISSUER,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "sub",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "AUTH_TOKEN_CLASSES": ("users.tokens.AccessToken",),
    "TOKEN_TYPE_CLAIM": "token_type",
    "JTI_CLAIM": "jti",
}

# --- Celery beat ---------------------------------------------------------------------------
CELERY_BEAT_SCHEDULE = {
    **_common["CELERY_BEAT_SCHEDULE"],  # the outbox sweep, the purge of old event rows
    "flush-expired-tokens": {
        "task": "users.tasks.tokens_flush_expired",
        "schedule": crontab(minute=17, hour=3),
    },
}

# --- Email ---------------------------------------------------------------------------------
# The welcome email (users.tasks.user_welcome_email_send). The console backend writes mails
# to the worker's output (local runs); deployments set the SMTP backend and its server.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=587)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Shop <no-reply@shop.example.com>")
