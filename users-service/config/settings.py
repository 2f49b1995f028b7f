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
from chassis.mail import email_settings

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

# Events: users publishes user.registered, user.deactivated, user.reactivated and
# user.erased (schemas in users/event_schemas) and consumes nothing yet. infra/services.toml
# lists the same types; the chassis's system check holds them equal to the handlers (an app's
# handlers.py).
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
        # password reset and verification resend: per client address, and per address asked
        "password-reset": env.str("THROTTLE_PASSWORD_RESET", default="5/min"),
        "password-reset-account": env.str("THROTTLE_PASSWORD_RESET_ACCOUNT", default="3/hour"),
        "verify-email": env.str("THROTTLE_VERIFY_EMAIL", default="10/min"),
        "verify-email-account": env.str("THROTTLE_VERIFY_EMAIL_ACCOUNT", default="3/hour"),
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
# The welcome, verification and password-reset emails (users/emails.py, sent by the worker)
# through Django's SMTP backend: EMAIL_HOST/EMAIL_PORT (`make up`: its local SMTP sink).
globals().update(email_settings(env))
# The links in those emails: ACCOUNT_LINKS_BASE_URL + /reset-password?token=... and
# /verify-email?token=... (the shop's pages, which post the token to the API).
ACCOUNT_LINKS_BASE_URL = env.str("ACCOUNT_LINKS_BASE_URL", default="https://shop.example.com")
# How long a password-reset link is valid (Django's PasswordResetTokenGenerator reads it), and
# an email-verification link.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT_SECONDS", default=3600)
EMAIL_VERIFICATION_TIMEOUT = env.int("EMAIL_VERIFICATION_TIMEOUT_SECONDS", default=3 * 86_400)
