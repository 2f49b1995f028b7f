"""users-service settings: environment only (see .env.example); production-safe defaults."""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from chassis.conf import common_settings, rest_framework, spectacular

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

_common = common_settings(env, service="users", base_dir=BASE_DIR)
globals().update(_common)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_guid",
    "chassis",
    "users",
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
AUTH_USER_MODEL = "users.User"

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
    DEFAULT_THROTTLE_RATES={
        "login": env.str("THROTTLE_LOGIN", default="10/min"),
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

CELERY_BEAT_SCHEDULE = {
    "flush-expired-tokens": {
        "task": "users.tasks.tokens_flush_expired",
        "schedule": crontab(minute=17, hour=3),
    },
}
