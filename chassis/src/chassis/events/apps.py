from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules

__all__ = ["EventsConfig"]


class EventsConfig(AppConfig):
    """Events between services: the outbox, the inbox, parked events (see chassis.events)."""

    name = "chassis.events"
    label = "chassis_events"
    verbose_name = "Events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Each app's handlers.py registers its event handlers with @event_handler.
        autodiscover_modules("handlers")
