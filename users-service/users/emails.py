"""Emails users-service sends. Each is sent by a Celery task (users.tasks), never inside a
request: SMTP is slow and fails on its own schedule."""

from __future__ import annotations

from uuid import UUID

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from users.models import User

WELCOME_SUBJECT = "Welcome to the shop"
WELCOME_BODY = """Hello {name},

your account {email} is ready: sign in and start shopping.

If you did not register, ignore this message or write to us.
"""


@transaction.atomic
def welcome_email_send(*, user_id: UUID | str) -> bool:
    """Send the welcome email of ``user_id`` unless it was sent; True when sent now.

    Records ``welcome_email_sent_at`` under a lock of the user's row, so two runs of the task
    send it once. The mail leaves inside the transaction: when sending fails (raises
    SMTPException / OSError) nothing is recorded and the task's retry sends it; only a crash
    between the server's acceptance and the commit can send it twice (at least once, not
    exactly once: no mail server takes part in our transaction). Inactive or unknown accounts
    get nothing.
    """
    user = (
        User.objects.select_for_update()
        .filter(pk=user_id, is_active=True, welcome_email_sent_at__isnull=True)
        .first()
    )
    if user is None:
        return False
    send_mail(
        WELCOME_SUBJECT,
        WELCOME_BODY.format(name=user.get_short_name(), email=user.email),
        from_email=None,  # DEFAULT_FROM_EMAIL
        recipient_list=[user.email],
    )
    user.welcome_email_sent_at = timezone.now()
    user.save(update_fields=["welcome_email_sent_at"])
    return True
