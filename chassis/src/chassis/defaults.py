"""What every service runs, the same everywhere: its apps, middleware and templates, DRF's
and drf-spectacular's defaults, admin single sign-on. Nothing here reads the environment
(chassis.conf does); chassis.conf re-exports every name, where services import them from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "DJANGO_APPS",
    "MIDDLEWARE",
    "REST_FRAMEWORK_BASE",
    "SSO_AUTHENTICATION_BACKENDS",
    "SSO_PASSWORD_VALIDATORS",
    "SSO_SESSION_COOKIE_AGE",
    "TEMPLATES",
    "spectacular",
]

# Apps, middleware and templates every service runs: the admin with whitenoise static files,
# DRF with drf-spectacular's self-hosted Swagger UI, django-guid correlation ids.
DJANGO_APPS = [
    "chassis.apps.AdminConfig",  # django.contrib.admin on the chassis's site (chassis.admin)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_guid",
    "chassis",
]

MIDDLEWARE = [
    "chassis.metrics.MetricsMiddleware",  # first: /metrics, and it times all the rest
    "chassis.health.HealthCheckMiddleware",  # first: probes skip host checks and redirects
    "chassis.correlation.correlation_id_middleware",  # an X-Request-ID that is not an id: dropped
    "django_guid.middleware.guid_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "chassis.sessions.SessionRecheckMiddleware",  # SSO sessions follow users-service
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Before the apps' own: the back office's admin templates (chassis.backoffice).
        "DIRS": [str(Path(__file__).resolve().parent / "templates")],
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

# Resource services (catalog, orders): staff sign in to the admin with their users-service
# account (chassis.sso: a shadow user per staff member); local accounts from createsuperuser
# still work (ModelBackend). Admin sessions end after 8 hours: the next login asks
# users-service again, so a staff member deactivated there loses the admin within a day.
SSO_AUTHENTICATION_BACKENDS = [
    "chassis.sso.UsersServiceBackend",
    "django.contrib.auth.backends.ModelBackend",
]
SSO_SESSION_COOKIE_AGE = 8 * 3600
# Their passwords live in users-service; a local account (createsuperuser) still gets these.
SSO_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Every view speaks JSON; the browsable API is not served.
REST_FRAMEWORK_BASE: dict[str, Any] = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["chassis.parsers.JSONParser"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "chassis.pagination.CursorPagination",
    "DEFAULT_SCHEMA_CLASS": "chassis.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [],
    "EXCEPTION_HANDLER": "chassis.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}


def spectacular(*, title: str, description: str, version: str = "1.0.0") -> dict[str, Any]:
    """``SPECTACULAR_SETTINGS`` shared shape: self-hosted Swagger UI, one error component."""
    return {
        "TITLE": title,
        "DESCRIPTION": description,
        "VERSION": version,
        "SERVE_INCLUDE_SCHEMA": False,
        "SCHEMA_PATH_PREFIX": r"/api/v1/",
        "COMPONENT_SPLIT_REQUEST": True,
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    }
