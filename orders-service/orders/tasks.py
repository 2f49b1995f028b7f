"""Celery tasks of orders-service (thin: they call a service; safe to run twice)."""

import logging
from smtplib import SMTPException

from celery import shared_task

from orders import emails, services

logger = logging.getLogger(__name__)


@shared_task(name="orders.tasks.idempotency_keys_purge", ignore_result=True)
def idempotency_keys_purge() -> int:
    """Delete Idempotency-Key answers older than their replay window (hourly, beat)."""
    return services.idempotency_keys_purge()


@shared_task(
    name="orders.tasks.order_email_send",
    ignore_result=True,
    autoretry_for=(SMTPException, OSError),
    retry_backoff=10,
    retry_backoff_max=600,
    max_retries=8,
)
def order_email_send(email_id: int) -> bool:
    """Send the buyer's email about an order's status change (orders.emails): once, recorded
    in ``sent_at``; a second run sends nothing. Retried with backoff while the mail server
    fails."""
    return emails.order_email_send(email_id=email_id)


@shared_task(name="orders.tasks.order_emails_sweep", ignore_result=True)
def order_emails_sweep() -> int:
    """Queue again the order emails left unsent (every minute, beat); returns how many."""
    pending = emails.order_emails_pending()
    for email_id in pending:
        order_email_send.delay(email_id)
    return len(pending)


def order_email_enqueue(email_id: int) -> None:
    """Queue an order email; called after commit. Never raises: the change has committed,
    and the sweep queues the email again while the broker is down."""
    try:
        order_email_send.delay(email_id)
    except Exception:
        logger.exception("orders.email_not_queued", extra={"email_id": email_id})
