"""users.services: the write side, including races decided by PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from chassis.errors import Conflict
from django.db import connections, transaction
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from tests.conftest import HTTPS, issue_tokens
from tests.factories import PASSWORD, UserFactory
from tests.utils import claims_of, in_threads, wait_for_lock_waiter
from users import services
from users.models import User

EMAIL_TAKEN = {
    "field": "email",
    "code": "unique",
    "message": "An account with this email already exists.",
}

pytestmark = pytest.mark.django_db


# --- user_register -------------------------------------------------------------------------


def test_user_register_normalises_the_email():
    user = services.user_register(email="Mixed.Case@EXAMPLE.org", password=PASSWORD)

    assert user.email == "mixed.case@example.org"
    assert User.objects.get().email == "mixed.case@example.org"


def test_user_register_refuses_a_weak_password_before_looking_at_the_email(user: User):
    with pytest.raises(services.InvalidInput) as caught:
        services.user_register(email=user.email, password="short")

    assert [e["field"] for e in caught.value.errors] == ["password"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_of_one_email_yield_one_201_and_one_400():
    data = {"email": "race@example.com", "password": PASSWORD}

    def post() -> tuple[int, list]:
        response = APIClient(**HTTPS).post("/api/v1/auth/register", data)
        return response.status_code, response.json().get("errors", [])

    results = sorted(in_threads(post, post))

    assert [status for status, _ in results] == [201, 400]
    assert results[1][1] == [EMAIL_TAKEN]
    assert User.objects.filter(email="race@example.com").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_registration_losing_the_insert_race_is_a_400_not_a_500():
    """Deterministic: B passes the exists() check, then waits on A's uncommitted insert."""
    outcome: list[object] = []

    def register_b() -> None:
        try:
            services.user_register(email="race@example.com", password=PASSWORD)
            outcome.append("created")
        except services.InvalidInput as exc:
            outcome.append(exc.errors)
        finally:
            connections.close_all()

    with transaction.atomic():
        UserFactory(email="race@example.com")
        thread = threading.Thread(target=register_b)
        thread.start()
        wait_for_lock_waiter()
    thread.join(timeout=30)

    assert outcome == [[EMAIL_TAKEN]]
    assert User.objects.count() == 1


# --- user_update / user_deactivate ---------------------------------------------------------


def test_user_update_changes_only_the_profile(user: User):
    services.user_update(user=user, data={"full_name": "New Name", "is_staff": True})

    user.refresh_from_db()
    assert (user.full_name, user.is_staff) == ("New Name", False)


def test_user_deactivate_refuses_oneself(staff: User):
    with pytest.raises(Conflict, match=r"^Staff cannot deactivate their own account\.$"):
        services.user_deactivate(user=staff, by=staff)


# --- tokens --------------------------------------------------------------------------------


def test_tokens_revoke_all_skips_expired_and_already_revoked_tokens(user: User):
    live, revoked, expired = issue_tokens(user), issue_tokens(user), issue_tokens(user)
    services.token_revoke(refresh=revoked.refresh)
    OutstandingToken.objects.filter(jti=claims_of(expired.refresh)["jti"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    other = issue_tokens(UserFactory())

    count = services.tokens_revoke_all(user=user)

    assert count == 1
    assert set(BlacklistedToken.objects.values_list("token__jti", flat=True)) == {
        claims_of(live.refresh)["jti"],
        claims_of(revoked.refresh)["jti"],
    }
    assert not BlacklistedToken.objects.filter(token__jti=claims_of(other.refresh)["jti"]).exists()


def test_token_pair_obtain_refuses_inactive_accounts():
    inactive = UserFactory(is_active=False)

    with pytest.raises(services.InvalidCredentials):
        issue_tokens(inactive)


def test_token_refresh_refuses_a_revoked_token(user: User):
    pair = issue_tokens(user)
    services.token_revoke(refresh=pair.refresh)

    with pytest.raises(services.InvalidRefreshToken):
        services.token_refresh(refresh=pair.refresh)


def test_user_password_set_none_disables_password_login(user: User):
    issue_tokens(user)

    services.user_password_set(user=user, password=None)

    user.refresh_from_db()
    assert user.has_usable_password() is False
    assert user.password_changed_at is not None
    assert BlacklistedToken.objects.count() == 1
    with pytest.raises(services.InvalidCredentials):
        issue_tokens(user)
