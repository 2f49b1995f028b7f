"""Declare this service's event exchange, queues and bindings on the broker (idempotent).

Run before the first worker starts (``make up`` does): an event published before its
consumer's queue exists would otherwise be dropped by the exchange.
"""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.core.management.base import BaseCommand

from chassis.events.broker import declare, event_queues
from chassis.events.conf import service_name
from chassis.settings import chassis_settings


class Command(BaseCommand):
    help = "Declare the events exchange and this service's queues on the broker."

    def handle(self, *args: Any, **options: Any) -> None:
        queues = event_queues(service_name(), chassis_settings.EVENTS.CONSUMES)
        with current_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=3)
            declare(connection, queues)
        names = ", ".join(q.name for q in queues)
        self.stdout.write(f"declared the events exchange and queue(s) {names}")
