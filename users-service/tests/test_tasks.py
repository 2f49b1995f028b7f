"""Celery tasks, run eagerly (no worker): users.tasks."""

from __future__ import annotations

from datetime import timedelta
from smtplib import SMTPException

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from tests.conftest import issue_tokens
from tests.factories import PASSWORD, UserFactory
from tests.utils import claims_of
from users import services
from users.emails import welcome_email_send
from users.models import User
from users.tasks import tokens_flush_expired, user_welcome_email_send

pytestmark = pytest.mark.django_db


def expire(refresh: str) -> None:
    OutstandingToken.objects.filter(jti=claims_of(refresh)["jti"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_tokens_flush_expired_deletes_expired_tokens_only(user: User):
    live = issue_tokens(user)
    expired, expired_revoked = issue_tokens(user), issue_tokens(user)
    revoked_live = issue_tokens(user)
    services.token_revoke(refresh=expired_revoked.refresh)
    services.token_revoke(refresh=revoked_live.refresh)
    expire(expired.refresh)
    expire(expired_revoked.refresh)

    result = tokens_flush_expired.apply()

    assert result.successful()
    remaining = set(OutstandingToken.objects.values_list("jti", flat=True))
    assert remaining == {claims_of(live.refresh)["jti"], claims_of(revoked_live.refresh)["jti"]}
    assert list(BlacklistedToken.objects.values_list("token__jti", flat=True)) == [
        claims_of(revoked_live.refresh)["jti"]
    ]


def test_tokens_flush_expired_is_safe_to_run_twice(user: User):
    expire(issue_tokens(user).refresh)
    live = issue_tokens(user)

    tokens_flush_expired()
    tokens_flush_expired()

    assert list(OutstandingToken.objects.values_list("jti", flat=True)) == [
        claims_of(live.refresh)["jti"]
    ]


def test_tokens_flush_expired_is_scheduled_nightly(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["flush-expired-tokens"]

    assert entry["task"] == tokens_flush_expired.name == "users.tasks.tokens_flush_expired"


# --- user_welcome_email_send ---------------------------------------------------------------


def test_the_welcome_email_is_sent_once(mailoutbox, settings):
    settings.DEFAULT_FROM_EMAIL = "Shop <no-reply@shop.test>"
    user = services.user_register(
        email="carol@example.com", password=PASSWORD, full_name="Carol Ann"
    )

    first = user_welcome_email_send.apply(args=[str(user.pk)])
    second = user_welcome_email_send.apply(args=[str(user.pk)])

    assert (first.result, second.result) == (True, False)
    [mail] = mailoutbox
    assert (mail.to, mail.from_email, mail.subject) == (
        ["carol@example.com"],
        "Shop <no-reply@shop.test>",
        "Welcome to the shop",
    )
    assert mail.body.startswith("Hello Carol,\n\nyour account carol@example.com is ready")
    user.refresh_from_db()
    assert user.welcome_email_sent_at is not None


def test_no_welcome_email_for_an_inactive_or_unknown_account(mailoutbox):
    inactive = UserFactory(is_active=False)

    assert user_welcome_email_send(str(inactive.pk)) is False
    assert user_welcome_email_send("7d0c6f7e-5b1a-4a43-9d64-0a1f6f1b0999") is False
    assert mailoutbox == []


def test_a_failed_send_records_nothing_so_the_retry_sends(mailoutbox, settings):
    user = UserFactory()
    settings.EMAIL_BACKEND = "tests.test_tasks.BrokenBackend"

    with pytest.raises(SMTPException):
        welcome_email_send(user_id=user.pk)
    user.refresh_from_db()
    assert user.welcome_email_sent_at is None

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert welcome_email_send(user_id=user.pk) is True
    assert len(mailoutbox) == 1


class BrokenBackend(BaseEmailBackend):
    """A mail server that refuses every message."""

    def send_messages(self, email_messages):
        raise SMTPException("451 try again later")


def test_the_task_retries_on_mail_server_errors():
    assert user_welcome_email_send.autoretry_for == (SMTPException, OSError)
    assert user_welcome_email_send.max_retries == 8
