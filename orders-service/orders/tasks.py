"""Celery tasks of orders-service (thin: they call a service; safe to run twice)."""

from celery import shared_task

from orders import services


@shared_task(name="orders.tasks.idempotency_keys_purge", ignore_result=True)
def idempotency_keys_purge() -> int:
    """Delete Idempotency-Key answers older than their replay window (hourly, beat)."""
    return services.idempotency_keys_purge()
