"""Settings every service shares, read from the environment (12-factor) with django-environ.

A service's ``config/settings.py`` starts with::

    env = environ.Env()
    EVENTS_CONSUMED = {"order.placed": "orders", "order.cancelled": "orders"}
    _common = common_settings(
        env, service="catalog", base_dir=BASE_DIR, events_consumed=EVENTS_CONSUMED
    )
    globals().update(_common)

and then adds its own apps, URLs and service-specific settings (and its own Celery beat
entries: ``CELERY_BEAT_SCHEDULE = {**_common["CELERY_BEAT_SCHEDULE"], ...}``). Defaults are
the safe, production ones (DEBUG off, secure cookies, HSTS, HTTPS redirect); local runs
loosen them through the environment (``infra/local`` does), never through a second settings
file. What the chassis itself reads is one setting, ``CHASSIS`` (chassis.settings).

Environment variables read here (each service's ``.env.example`` lists them all):
``SECRET_KEY`` (required), ``DATABASE_URL``, ``CELERY_BROKER_URL``, ``JWKS_URL`` and
``USERS_TOKEN_URL`` (required in production, the last two by services that verify tokens),
``DEBUG``, ``ALLOWED_HOSTS``, ``CSRF_TRUSTED_ORIGINS``, ``VAR_DIR``, ``DB_CONN_MAX_AGE``,
``REDIS_URL``, ``CACHE_KEY_PREFIX``, ``CELERY_TASK_SOFT_TIME_LIMIT``,
``CELERY_TASK_TIME_LIMIT``, ``SECURE_SSL_REDIRECT``, ``SECURE_HSTS_SECONDS``,
``SECURE_HSTS_PRELOAD``, ``SECURE_COOKIES``, ``TRUSTED_PROXIES``, ``LOG_LEVEL``, ``LOG_FORMAT``,
``DATA_UPLOAD_MAX_MEMORY_SIZE``, ``JWT_ISSUER``, ``HEALTH_BROKER_CHECK_SECONDS``,
``HEALTH_BROKER_TIMEOUT_SECONDS``, ``THROTTLE_LOGIN``, ``THROTTLE_LOGIN_ACCOUNT``,
``SSO_RECHECK_SECONDS``, ``SSO_HARD_LIMIT_SECONDS`` (resource services: chassis.sso),
``BACKOFFICE_ADMINS`` (chassis.backoffice). A service that sends mail adds chassis.mail's
``email_settings``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

from chassis import defaults
from chassis.addresses import trusted_networks
from chassis.defaults import *  # noqa: F403 - re-exported: services import them from here
from chassis.defaults import REST_FRAMEWORK_BASE
from chassis.events.broker import beat_schedule, event_queues
from chassis.logs import logging_config
from chassis.transport import broker_transport, broker_transport_options

__all__ = [
    *defaults.__all__,
    "broker_transport",
    "broker_transport_options",
    "common_settings",
    "logging_config",
    "rest_framework",
]

# Local stand-ins of users-service's endpoints, with DEBUG on only (see common_settings).
_LOCAL_USERS = "http://127.0.0.1:8101"
# With DEBUG on, the gateway (and every peer) runs on this machine: trusted as a proxy.
_LOCAL_PROXIES = ["127.0.0.1/32", "::1/128"]
_JWKS_PATH = "/.well-known/jwks.json"
_TOKEN_PATH = "/api/v1/auth/token"  # noqa: S105 - a URL path, not a secret


def _project(verifies_tokens: bool) -> dict[str, Any]:
    """The wiring every service shares (the scaffold's config/ layout), and the admin single
    sign-on of a resource service."""
    wiring: dict[str, Any] = {
        "MIDDLEWARE": list(defaults.MIDDLEWARE),
        "TEMPLATES": copy.deepcopy(defaults.TEMPLATES),
        "ROOT_URLCONF": "config.urls",
        "WSGI_APPLICATION": "config.wsgi.application",
    }
    if verifies_tokens:
        wiring["AUTHENTICATION_BACKENDS"] = list(defaults.SSO_AUTHENTICATION_BACKENDS)
        wiring["SESSION_COOKIE_AGE"] = defaults.SSO_SESSION_COOKIE_AGE
        wiring["AUTH_PASSWORD_VALIDATORS"] = copy.deepcopy(defaults.SSO_PASSWORD_VALIDATORS)
    return wiring


def common_settings(
    env: environ.Env,
    *,
    service: str,
    base_dir: Path,
    events_consumed: Mapping[str, str] | None = None,
    verifies_tokens: bool = True,
) -> dict[str, Any]:
    """Return the settings shared by all services, for ``globals().update(...)``.

    ``events_consumed``: the event types the service's worker handles (its queue's bindings;
    the chassis's system check holds them equal to its handlers), each mapped to the service
    that produces it (an event from any other is parked: chassis.events.producers); its own
    event schemas are in ``<base_dir>/<service>/event_schemas``. ``verifies_tokens``: the
    service verifies users-service's tokens (a resource service: ``JWKS_URL`` and
    ``USERS_TOKEN_URL`` are read).

    In production (``DEBUG`` off) ``DATABASE_URL``, ``CELERY_BROKER_URL`` and, when it
    verifies tokens, ``JWKS_URL`` and ``USERS_TOKEN_URL`` are required: a missing one is an
    ImproperlyConfigured naming it, never a silent SQLite file, filesystem broker or
    127.0.0.1. With ``DEBUG`` on they default to those local stand-ins.
    """
    var_dir = Path(env.str("VAR_DIR", default=str(base_dir / "var")))
    debug = env.bool("DEBUG", default=False)
    required = _Required(production=not debug)
    secure = env.bool("SECURE_COOKIES", default=not debug)
    broker_url = required(
        "CELERY_BROKER_URL", env.str("CELERY_BROKER_URL", default=""), local="filesystem://"
    )
    redis_url = env.str("REDIS_URL", default="")
    database_url = required(
        "DATABASE_URL",
        env.str("DATABASE_URL", default=""),
        local=f"sqlite:///{var_dir / f'{service}.sqlite3'}",
    )
    return {
        "VAR_DIR": var_dir,
        "SECRET_KEY": env.str("SECRET_KEY"),
        "DEBUG": debug,
        "ALLOWED_HOSTS": env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"]),
        "CSRF_TRUSTED_ORIGINS": env.list("CSRF_TRUSTED_ORIGINS", default=[]),
        "DATABASES": {"default": _database(database_url, env)},
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "CACHES": {"default": _cache(redis_url, env.str("CACHE_KEY_PREFIX", default="") + service)},
        "CHASSIS": _chassis(env, service, base_dir, events_consumed, verifies_tokens, required),
        **_project(verifies_tokens),
        **_celery(env, service, broker_url, var_dir, events_consumed),
        # Security: safe by default; the local runner relaxes HTTPS-only bits explicitly.
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
        "SECURE_SSL_REDIRECT": env.bool("SECURE_SSL_REDIRECT", default=not debug),
        "SECURE_HSTS_SECONDS": env.int("SECURE_HSTS_SECONDS", default=0 if debug else 31_536_000),
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": env.bool("SECURE_HSTS_PRELOAD", default=True),
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_REFERRER_POLICY": "same-origin",
        "SESSION_COOKIE_SECURE": secure,
        "CSRF_COOKIE_SECURE": secure,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_NAME": f"{service}_sessionid",
        "CSRF_COOKIE_NAME": f"{service}_csrftoken",
        "CSRF_FAILURE_VIEW": "chassis.errors.csrf_failure",
        "X_FRAME_OPTIONS": "DENY",
        "APPEND_SLASH": False,
        "DATA_UPLOAD_MAX_MEMORY_SIZE": env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1_048_576),
        "DATA_UPLOAD_MAX_NUMBER_FIELDS": 1000,
        "STATIC_URL": f"/static/{service}/",
        "STATIC_ROOT": var_dir / "static" / service,
        "STORAGES": {
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
        },
        "USE_TZ": True,
        "TIME_ZONE": "UTC",
        "LANGUAGE_CODE": "en-us",
        "USE_I18N": True,
        "DJANGO_GUID": {
            "GUID_HEADER_NAME": "X-Request-ID",
            "VALIDATE_GUID": False,  # keep the gateway's / caller's id as Kong does
            "RETURN_HEADER": True,
            "EXPOSE_HEADER": True,
            "UUID_LENGTH": 32,
        },
        "LOGGING": logging_config(
            level=env.str("LOG_LEVEL", default="INFO"),
            json=env.str("LOG_FORMAT", default="json") == "json",
            service=service,
        ),
    }


class _Required:
    """Reads a setting production cannot do without: in production, an empty value is an
    ImproperlyConfigured naming the variable; otherwise it falls back to a local stand-in."""

    def __init__(self, *, production: bool) -> None:
        self.production = production

    def __call__(self, name: str, value: str, *, local: str) -> str:
        if value:
            return value
        if self.production:
            raise ImproperlyConfigured(
                f"{name} is required in production (DEBUG off): set it in the environment "
                "(see .env.example)."
            )
        return local


def _chassis(
    env: environ.Env,
    service: str,
    base_dir: Path,
    events_consumed: Mapping[str, str] | None,
    verifies_tokens: bool,
    required: _Required,
) -> dict[str, Any]:
    """The ``CHASSIS`` setting (chassis.settings): the service's name, its events, the
    readiness probe's broker check and, for a resource service, where tokens are verified."""
    # The proxies whose X-Forwarded-For names the client (chassis.addresses): none unless
    # configured (with DEBUG on: this machine).
    proxies = env.list("TRUSTED_PROXIES", default=[] if required.production else _LOCAL_PROXIES)
    trusted_networks(proxies)  # a malformed network stops the start, naming it
    chassis: dict[str, Any] = {
        "SERVICE_NAME": service,
        "TRUSTED_PROXIES": proxies,
        "BACKOFFICE": {
            "ADMINS": env.list("BACKOFFICE_ADMINS", default=["users", "catalog", "orders"])
        },
        "EVENTS": {
            "SCHEMAS_DIR": base_dir / service / "event_schemas",
            "CONSUMES": _consumed(events_consumed),
        },
        # /readyz reports the broker (chassis.health): when a process has observed nothing
        # for this long, a background connection attempt (0: never; publishes still inform
        # the report), with this connect timeout.
        "HEALTH": {
            "BROKER_CHECK_SECONDS": env.int("HEALTH_BROKER_CHECK_SECONDS", default=30),
            "BROKER_TIMEOUT_SECONDS": env.int("HEALTH_BROKER_TIMEOUT_SECONDS", default=2),
        },
    }
    if verifies_tokens:
        chassis["JWT"] = {
            "JWKS_URL": required(
                "JWKS_URL", env.str("JWKS_URL", default=""), local=f"{_LOCAL_USERS}{_JWKS_PATH}"
            ),
            "ISSUER": env.str("JWT_ISSUER", default="users"),
        }
        chassis["SSO"] = {
            "TOKEN_URL": required(
                "USERS_TOKEN_URL",
                env.str("USERS_TOKEN_URL", default=""),
                local=f"{_LOCAL_USERS}{_TOKEN_PATH}",
            ),
            "RECHECK_SECONDS": env.int("SSO_RECHECK_SECONDS", default=60),
            "HARD_LIMIT_SECONDS": env.int("SSO_HARD_LIMIT_SECONDS", default=900),
        }
    return chassis


def _consumed(events_consumed: Mapping[str, str] | None) -> dict[str, str]:
    """``{event type: producer service}``; a list of types alone is refused: the consumer
    must know whom to trust for each (chassis.events.producers)."""
    consumed = {} if events_consumed is None else events_consumed
    if not isinstance(consumed, Mapping) or not all(
        isinstance(t, str) and isinstance(p, str) and t and p for t, p in consumed.items()
    ):
        raise ImproperlyConfigured(
            "events_consumed maps each consumed event type to the service producing it, "
            f'e.g. {{"user.deactivated": "users"}}; got {consumed!r}'
        )
    return dict(consumed)


def _database(url: str, env: environ.Env) -> dict[str, Any]:
    database: dict[str, Any] = dict(environ.Env.db_url_config(url))
    database["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    database["CONN_HEALTH_CHECKS"] = True
    if database["ENGINE"] == "django.db.backends.sqlite3":
        # The embedded default has several writers per file (web workers, the worker, its
        # beat's outbox sweep): a deferred transaction that reads and then writes fails at
        # once with "database is locked" when another one writes. IMMEDIATE takes the write
        # lock at BEGIN (waiting up to the timeout), and WAL lets reads run meanwhile.
        database.setdefault("OPTIONS", {}).update(
            {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL;",
            }
        )
    return database


def _celery(
    env: environ.Env,
    service: str,
    broker_url: str,
    var_dir: Path,
    consumes: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The ``CELERY_*`` settings: the broker, the queues (the service's own and its events'),
    the beat entries of chassis.events (merge a service's own), and task time limits.

    Every task runs under a soft time limit (``SoftTimeLimitExceeded`` is raised in it: its
    transaction rolls back, a late-acked message is redelivered) and a hard one (the worker
    process is killed and replaced), so one stuck task (a lock, a dead peer without a
    timeout) cannot hold a worker forever. The chassis's own tasks are built to stop
    anywhere: the sweep and the purge resume on their next run. A task that needs longer
    says so with ``@shared_task(soft_time_limit=..., time_limit=...)``.
    """
    soft = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
    hard = env.int("CELERY_TASK_TIME_LIMIT", default=360)
    if hard <= soft:
        raise ImproperlyConfigured(
            f"CELERY_TASK_TIME_LIMIT ({hard}) must exceed CELERY_TASK_SOFT_TIME_LIMIT ({soft}): "
            "the soft limit lets a task clean up before the hard one kills it."
        )
    return {
        "CELERY_BROKER_URL": broker_url,
        "CELERY_BROKER_TRANSPORT": broker_transport(broker_url),
        "CELERY_BROKER_TRANSPORT_OPTIONS": broker_transport_options(broker_url, var_dir),
        "CELERY_TASK_QUEUES": event_queues(service, list(consumes or {})),
        "CELERY_BEAT_SCHEDULE": beat_schedule(),
        "CELERY_TASK_SOFT_TIME_LIMIT": soft,
        "CELERY_TASK_TIME_LIMIT": hard,
    }


def rest_framework(**overrides: Any) -> dict[str, Any]:
    """``REST_FRAMEWORK`` with the platform defaults, plus a service's own keys.

    Throttle rates: the login scopes every admin login form counts (chassis.throttling:
    ``login`` per client address, ``login-account`` per account; ``THROTTLE_LOGIN`` and
    ``THROTTLE_LOGIN_ACCOUNT`` in the environment, 10/min each), then the service's own.
    Throttles key clients by their real address (chassis.addresses, ``TRUSTED_PROXIES``),
    not by DRF's ``NUM_PROXIES``.
    """
    env = environ.Env()
    rates: dict[str, Any] = {
        "login": env.str("THROTTLE_LOGIN", default="10/min"),
        "login-account": env.str("THROTTLE_LOGIN_ACCOUNT", default="10/min"),
        **overrides.pop("DEFAULT_THROTTLE_RATES", {}),
    }
    return {**REST_FRAMEWORK_BASE, "DEFAULT_THROTTLE_RATES": rates, **overrides}


def _cache(redis_url: str, prefix: str) -> dict[str, Any]:
    """Redis when ``REDIS_URL`` is set (shared by the service's processes), else per process.
    Keys start with ``CACHE_KEY_PREFIX`` + the service's name: platforms sharing one Redis
    (test platforms, benchmarks, ``make up`` on one machine) keep apart by the prefix, and
    clearing one's cache deletes its keys only (chassis.cache)."""
    if redis_url:
        return {
            "BACKEND": "chassis.cache.RedisCache",  # JSON, not pickle: reading runs no code
            "LOCATION": redis_url,
            "KEY_PREFIX": prefix,
            "TIMEOUT": 300,
        }
    return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": prefix}
