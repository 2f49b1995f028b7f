from typing import Any

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate

__all__ = ["AdminConfig", "ChassisConfig"]


class AdminConfig(admin_apps.AdminConfig):
    """``django.contrib.admin`` with the chassis's site (chassis.admin.AdminSite): every
    changelist refuses filter values the database cannot compare, with Django's ``?e=1``."""

    default = False  # named in INSTALLED_APPS; "chassis" means ChassisConfig
    default_site = "chassis.admin.AdminSite"


class ChassisConfig(AppConfig):
    """Installed by every service for the chassis's management commands and checks."""

    name = "chassis"
    verbose_name = "Microservice chassis"

    def ready(self) -> None:
        from chassis import (  # noqa: F401 - the checks, the auth extension, the login signals
            checks,
            openapi,
            sessions,
        )
        from chassis.settings import chassis_settings

        # A CHASSIS key the chassis does not know stops the start (ImproperlyConfigured).
        chassis_settings.validate()
        from chassis import metrics

        metrics.instrument_database()
        post_migrate.connect(_roles_sync, dispatch_uid="chassis.roles")


def _roles_sync(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """After the last app's migrations (every app's permissions exist): chassis.roles."""
    from django.apps import apps

    last = [config for config in apps.get_app_configs() if config.models_module][-1]
    if sender.label == last.label:
        from chassis.roles import post_migrate_sync

        post_migrate_sync(using=using)
