"""Celery tasks of users-service: thin, id-taking, safe to run twice."""

from celery import shared_task
from django.core.management import call_command


@shared_task
def tokens_flush_expired() -> None:
    """Delete expired outstanding/blacklisted refresh tokens (simplejwt's flush command)."""
    call_command("flushexpiredtokens")
