"""Emails users-service sends. Each is sent by a Celery task (users.tasks), never inside a
request: SMTP is slow and fails on its own schedule."""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from users import links
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


PASSWORD_RESET_SUBJECT = "Reset your password"  # noqa: S105 - a subject line
VERIFY_EMAIL_SUBJECT = "Confirm your email address"


def _send(*, user: User, subject: str, template: str, context: dict[str, object]) -> None:
    """Send ``users/emails/<template>.txt`` with its ``.html`` alternative to ``user``."""
    context = {"name": user.get_short_name(), "email": user.email, **context}
    message = EmailMultiAlternatives(
        subject, render_to_string(f"users/emails/{template}.txt", context), to=[user.email]
    )
    html = render_to_string(f"users/emails/{template}.html", context)
    message.attach_alternative(html, "text/html")
    message.send()


def _mailable(email: str) -> User | None:
    """The active, not erased account at ``email`` (its normal form), if any."""
    key = User.objects.normalize_email(email)
    return User.objects.filter(email=key, is_active=True, erased_at__isnull=True).first()


def password_reset_email_send(*, email: str) -> bool:
    """Mail a password-reset link to the account at ``email``; True when sent. Nothing is sent
    for an unknown, inactive or erased account, or one whose password login staff disabled
    (an unusable password): the API answered the same either way (no enumeration)."""
    user = _mailable(email)
    if user is None or not user.has_usable_password():
        return False
    token = links.token_make(generator=links.PasswordResetTokens(), user=user)
    _send(
        user=user,
        subject=PASSWORD_RESET_SUBJECT,
        template="password_reset",
        context={
            "link": links.link(page="reset-password", token=token),
            "valid_minutes": settings.PASSWORD_RESET_TIMEOUT // 60,
        },
    )
    return True


def verification_email_send(*, email: str) -> bool:
    """Mail an email-verification link to the account at ``email``; True when sent. Nothing is
    sent when there is no such active account or its address is already verified."""
    user = _mailable(email)
    if user is None or user.email_verified:
        return False
    token = links.token_make(generator=links.VerificationTokens(), user=user)
    _send(
        user=user,
        subject=VERIFY_EMAIL_SUBJECT,
        template="verify_email",
        context={"link": links.link(page="verify-email", token=token)},
    )
    return True
