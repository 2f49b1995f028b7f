from django.apps import AppConfig

__all__ = ["ChassisConfig"]


class ChassisConfig(AppConfig):
    """Installed by every service for the chassis's management commands and checks."""

    name = "chassis"
    verbose_name = "Microservice chassis"

    def ready(self) -> None:
        from chassis import checks, openapi  # noqa: F401 - register the checks, the auth extension
        from chassis.settings import chassis_settings

        # A CHASSIS key the chassis does not know stops the start (ImproperlyConfigured).
        chassis_settings.validate()
