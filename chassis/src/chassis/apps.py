from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps

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
        from chassis import checks, openapi  # noqa: F401 - register the checks, the auth extension
        from chassis.settings import chassis_settings

        # A CHASSIS key the chassis does not know stops the start (ImproperlyConfigured).
        chassis_settings.validate()
        from chassis import metrics

        metrics.instrument_database()
