"""A Celery application configured for reliability, the same way in every service."""

from __future__ import annotations

import os

from celery import Celery


def make_celery(service: str, settings_module: str = "config.settings") -> Celery:
    """Create the service's Celery app, configured from Django's ``CELERY_*`` settings.

    Reliability defaults: JSON only, late acks, requeue when a worker dies, prefetch of one,
    UTC. Tasks are discovered in the installed apps.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    app = Celery(service)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=service,
        broker_connection_retry_on_startup=True,
        # A publish from a web request (the outbox relay) must not hang on a dead broker.
        broker_connection_timeout=2,
        task_ignore_result=True,
        enable_utc=True,
        worker_hijack_root_logger=False,  # keep Django's LOGGING: JSON lines with correlation id
        worker_redirect_stdouts=False,
    )
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.autodiscover_tasks()
    return app
