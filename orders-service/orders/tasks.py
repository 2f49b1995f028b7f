"""Celery tasks of orders-service (thin: they call a service; safe to run twice)."""

from smtplib import SMTPException

from celery import shared_task

from orders import emails, services


@shared_task(name="orders.tasks.idempotency_keys_purge", ignore_result=True)
def idempotency_keys_purge() -> int:
    """Delete Idempotency-Key answers older than their replay window (hourly, beat)."""
    return services.idempotency_keys_purge()


@shared_task(
    name="orders.tasks.order_emails_send_batch",
    ignore_result=True,
    autoretry_for=(SMTPException, OSError),
    retry_backoff=10,
    retry_backoff_max=600,
    max_retries=8,
)
def order_emails_send_batch() -> int:
    """Send the buyers' unsent emails about their orders' status changes (orders.emails), in
    batches over one SMTP connection each, until none is left (or one stays, refused or
    failing: the sweep tries it again); returns how many were recorded. Retried with backoff
    while the mail server fails; a second run sends nothing twice."""
    recorded = 0
    while True:
        taken, done = emails.order_emails_send()
        recorded += done
        if taken < emails.BATCH or done < taken:
            return recorded


@shared_task(name="orders.tasks.order_email_send", ignore_result=True)
def order_email_send(email_id: int) -> None:
    """Queued by releases before the batches (one task per email): asks for a batch."""
    order_emails_send_batch.delay()


@shared_task(name="orders.tasks.order_emails_sweep", ignore_result=True)
def order_emails_sweep() -> int:
    """Ask for a batch when emails wait longer than orders.emails.SWEEP_AFTER (the broker
    lost the request; every minute, beat); returns how many wait."""
    pending = emails.order_emails_pending()
    if pending:
        order_emails_send_batch.delay()
    return len(pending)
