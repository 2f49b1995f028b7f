"""Celery tasks of users-service: thin, id-taking, safe to run twice."""

import logging
from smtplib import SMTPException

from celery import shared_task
from django.core.management import call_command

from users import emails

logger = logging.getLogger(__name__)


@shared_task
def tokens_flush_expired() -> None:
    """Delete expired outstanding/blacklisted refresh tokens (simplejwt's flush command)."""
    call_command("flushexpiredtokens")


@shared_task(
    autoretry_for=(SMTPException, OSError),
    retry_backoff=10,
    retry_backoff_max=600,
    max_retries=8,
)
def user_welcome_email_send(user_id: str) -> bool:
    """Send a newly registered user's welcome email (users.emails.welcome_email_send): once,
    recorded in ``welcome_email_sent_at``; a second run sends nothing. Retried with backoff
    while the mail server fails (SMTPException, OSError)."""
    return emails.welcome_email_send(user_id=user_id)


def user_welcome_email_enqueue(user_id: str) -> None:
    """Queue the welcome email; called after commit. Never raises: the registration has
    succeeded, and a broker that is down costs the email, not the account (the user's
    ``welcome_email_sent_at`` stays empty, so such accounts can be found and mailed)."""
    try:
        user_welcome_email_send.delay(user_id)
    except Exception:
        logger.exception("users.welcome_email_not_queued", extra={"user_id": user_id})


_MAIL_RETRY = {
    "autoretry_for": (SMTPException, OSError),
    "retry_backoff": 10,
    "retry_backoff_max": 600,
    "max_retries": 8,
}


@shared_task(**_MAIL_RETRY)
def password_reset_email_send(email: str) -> bool:
    """Mail a password-reset link to the account at ``email`` if there is one
    (users.emails.password_reset_email_send). Running it twice mails two valid links."""
    return emails.password_reset_email_send(email=email)


@shared_task(**_MAIL_RETRY)
def verification_email_send(email: str) -> bool:
    """Mail an email-verification link to the account at ``email`` if it is unverified
    (users.emails.verification_email_send)."""
    return emails.verification_email_send(email=email)


def account_email_enqueue(task: str, email: str) -> None:
    """Queue ``task`` (password_reset_email_send, verification_email_send) for ``email``, for
    every address asked, known or not (the request does the same work either way). Never
    raises: a broker that is down costs the email (the caller may ask again)."""
    try:
        {"password_reset": password_reset_email_send, "verification": verification_email_send}[
            task
        ].delay(email)
    except Exception:
        logger.exception("users.account_email_not_queued", extra={"task": task})
