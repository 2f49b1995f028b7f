"""Celery tasks, run eagerly (no worker): users.tasks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from tests.conftest import issue_tokens
from tests.utils import claims_of
from users import services
from users.models import User
from users.tasks import tokens_flush_expired

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
