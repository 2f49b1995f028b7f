"""The chassis's settings: one ``CHASSIS`` dict in a service's settings, read through
:data:`chassis_settings` (the model is DRF's ``api_settings``)::

    CHASSIS = {
        "SERVICE_NAME": "catalog",
        "EVENTS": {"SCHEMAS_DIR": BASE_DIR / "catalog" / "event_schemas", "CONSUMES": {...}},
        "JWT": {"JWKS_URL": "https://users.example.com/.well-known/jwks.json"},
    }

    from chassis.settings import chassis_settings
    chassis_settings.EVENTS.MAX_RETRIES  # 5 unless the service set it

``chassis.conf.common_settings`` builds this dict from the environment; a service rarely
writes it by hand. Every key has a default (:data:`DEFAULTS`); a key the chassis does not
know is an error, in the service's dict (:class:`~django.core.exceptions.ImproperlyConfigured`
at start-up, naming it: the chassis app's ``ready()`` validates) and in code
(``AttributeError``), so a typo never silently falls back to a default. The values are
read again after ``override_settings(CHASSIS=...)`` (the ``setting_changed`` signal).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

__all__ = ["DEFAULTS", "ChassisSettings", "Section", "chassis_settings"]

SETTING = "CHASSIS"

DEFAULTS: dict[str, Any] = {
    # The service's name: the producer of its events, its queues' names.
    "SERVICE_NAME": None,
    # chassis.events (see chassis.events.conf for what each key means).
    "EVENTS": {
        "SCHEMAS_DIR": None,
        "CONSUMES": {},
        "BROKER_USER_FORMAT": "{vhost}.{service}",
        "MAX_RETRIES": 5,
        "RETRY_BACKOFF_SECONDS": 1,
        "RETRY_BACKOFF_MAX_SECONDS": 60,
        "RELAY_BATCH": 100,
        "RELAY_IN_BACKGROUND": True,
        "BROKER_COOLDOWN_SECONDS": 5,
        "OUTBOX_RETENTION_SECONDS": 7 * 86_400,
        "INBOX_RETENTION_SECONDS": 14 * 86_400,
        "PARKED_RETENTION_SECONDS": 30 * 86_400,
        "PURGE_BATCH": 1000,
    },
    # chassis.auth: verifying users-service's access tokens. No default URL: a resource
    # service that verifies tokens must say where the keys are.
    "JWT": {
        "JWKS_URL": None,
        "ISSUER": "users",
        "ALGORITHMS": ["RS256"],
        "LEEWAY_SECONDS": 0,
        "JWKS_CACHE_SECONDS": 300,
        "JWKS_MIN_REFRESH_SECONDS": 30,
        "JWKS_TIMEOUT_SECONDS": 3,
    },
    # chassis.addresses: networks of the proxies whose X-Forwarded-For is believed (none).
    "TRUSTED_PROXIES": [],
    # chassis.sso: staff sign-in to the admin with a users-service account.
    # An admin session's rights are re-checked against users-service (its refresh token) at
    # most every RECHECK_SECONDS; while users-service cannot be reached the session keeps its
    # last known rights, until HARD_LIMIT_SECONDS after the last successful check.
    "SSO": {
        "TOKEN_URL": None,
        "TIMEOUT_SECONDS": 5,
        "RECHECK_SECONDS": 60,
        "HARD_LIMIT_SECONDS": 900,
    },
    # chassis.roles: {group: ["app_label.codename", ...]}, synced after every migrate.
    "ROLES": {"GROUP_PERMISSIONS": {}},
    # chassis.backoffice: the admins linked in every admin's header (``/admin/<name>/``), and
    # the dotted path of the function listing this admin's "needs attention" panels.
    "BACKOFFICE": {"ADMINS": [], "ATTENTION": None},
    # chassis.health: /readyz's background broker check (0: never).
    "HEALTH": {"BROKER_CHECK_SECONDS": 30, "BROKER_TIMEOUT_SECONDS": 2},
}


class Section(Mapping[str, Any]):
    """One section of the settings (``EVENTS``, ``JWT``, ...): the defaults with the
    service's values over them. Read as attributes or items; an unknown name raises."""

    def __init__(self, path: str, values: dict[str, Any]) -> None:
        self._path = path
        self._values = values

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"Invalid chassis setting: {self._path}.{name}") from None

    def __getitem__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise KeyError(f"Invalid chassis setting: {self._path}.{name}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"<chassis settings {self._path}: {self._values!r}>"


class ChassisSettings:
    """``chassis_settings.EVENTS.MAX_RETRIES``: the service's value, else the default.

    Values are merged once, on first use, and again after ``reload()`` (which the
    ``setting_changed`` signal calls for ``CHASSIS``).
    """

    def __init__(
        self, user_settings: dict[str, Any] | None = None, defaults: dict[str, Any] | None = None
    ) -> None:
        self._user_settings = user_settings
        self._defaults = defaults or DEFAULTS
        self._merged: dict[str, Any] | None = None

    @property
    def user_settings(self) -> dict[str, Any]:
        if self._user_settings is None:
            self._user_settings = getattr(settings, SETTING, None) or {}
        return self._user_settings

    def validate(self) -> None:
        """Raise ImproperlyConfigured naming the first key the chassis does not know."""
        self._merge()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        merged = self._merge()
        if name not in merged:
            raise AttributeError(f"Invalid chassis setting: {name}")
        return merged[name]

    def reload(self) -> None:
        self._merged = None
        self._user_settings = None

    def _merge(self) -> dict[str, Any]:
        if self._merged is None:
            user = self.user_settings
            if not isinstance(user, dict):
                raise ImproperlyConfigured(f"{SETTING} must be a dict, not {type(user).__name__}")
            _refuse_unknown(SETTING, user, self._defaults)
            merged: dict[str, Any] = {}
            for name, default in self._defaults.items():
                if isinstance(default, dict):
                    given = user.get(name) or {}
                    _refuse_unknown(f"{SETTING}[{name!r}]", given, default)
                    merged[name] = Section(name, {**default, **given})
                else:
                    merged[name] = user.get(name, default)
            self._merged = merged
        return self._merged


def _refuse_unknown(where: str, given: Any, known: dict[str, Any]) -> None:
    if not isinstance(given, dict):
        raise ImproperlyConfigured(f"{where} must be a dict, not {type(given).__name__}")
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ImproperlyConfigured(
            f"Unknown chassis setting {where}[{unknown[0]!r}] (known: {', '.join(sorted(known))})"
        )


chassis_settings = ChassisSettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING:
        chassis_settings.reload()


setting_changed.connect(_reload)
