from django.apps import AppConfig


class ChassisConfig(AppConfig):
    """Installed by every service for the chassis's management commands and checks."""

    name = "chassis"
    verbose_name = "Microservice chassis"

    def ready(self) -> None:
        from chassis import openapi  # noqa: F401 - registers the OpenAPI auth extension
