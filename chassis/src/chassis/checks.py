"""System checks of the chassis (``manage.py check``, and every ``runserver`` / ``migrate``).

``chassis.E001``: an event type the service consumes (``CHASSIS["EVENTS"]["CONSUMES"]``, its
queue is bound to it) has no handler: every such event would be logged and dropped.
``chassis.E002``: a handler is registered for a type the service does not consume: its queue
never receives that event, so the handler never runs (a type missing from the list, or a
handler left behind). Both lists must be equal; the registry (infra/services.toml) names the
same list, checked by the repository's tests.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.checks import CheckMessage, Error, register

from chassis.settings import chassis_settings

__all__ = ["consumed_events_match_handlers"]


@register()
def consumed_events_match_handlers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E001/E002: the consumed event types and the registered handlers are the same set."""
    if not apps.is_installed("chassis.events"):
        return []
    from chassis.events.consumer import handlers

    consumed = set(chassis_settings.EVENTS.CONSUMES)
    handled = set(handlers())
    errors: list[CheckMessage] = [
        Error(
            f"The service consumes {event_type!r} but registers no handler for it.",
            hint="Add an @event_handler in an app's handlers.py, or remove the type from "
            'CHASSIS["EVENTS"]["CONSUMES"] (EVENTS_CONSUMED).',
            id="chassis.E001",
        )
        for event_type in sorted(consumed - handled)
    ]
    errors += [
        Error(
            f"A handler is registered for {event_type!r}, which the service does not consume "
            "(its queue is not bound to it: the handler never runs).",
            hint='Add the type to CHASSIS["EVENTS"]["CONSUMES"] (EVENTS_CONSUMED), or remove '
            "the handler.",
            obj=handlers()[event_type],
            id="chassis.E002",
        )
        for event_type in sorted(handled - consumed)
    ]
    return errors
