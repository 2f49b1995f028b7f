"""Account erasure (users.erasure): DELETE /api/v1/users/me with the password, and the
admin's action; anonymised, no login, tokens revoked, ``user.erased`` published once."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from tests.conftest import HTTPS, bearer, issue_tokens
from tests.factories import PASSWORD
from tests.test_events import outbox
from tests.utils import assert_problem
from users import emails, erasure, services
from users.models import User

ME = "/api/v1/users/me"

pytestmark = pytest.mark.django_db


def erased_events() -> list[dict]:
    return outbox("user.erased")  # validated against users' user.erased.v1 schema


def test_a_wrong_password_erases_nothing(user: User):
    response = bearer(issue_tokens(user).access).delete(ME, {"password": "not-my-password"})

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[{"field": "password", "code": "invalid", "message": "The password is wrong."}],
    )
    user.refresh_from_db()
    assert (user.email, user.erased_at, erased_events()) == ("alice@example.com", None, [])


def test_erasing_anonymises_revokes_and_publishes(user: User):
    user.groups.add(Group.objects.get(name="support"))  # made by the roles sync
    pair = issue_tokens(user)

    response = bearer(pair.access).delete(ME, {"password": PASSWORD})

    assert response.status_code == 204
    user.refresh_from_db()
    assert user.email == f"erased-{user.pk.hex}@erased.invalid"
    assert (user.full_name, user.last_login) == ("", None)
    assert (user.is_active, user.is_staff) == (False, False)
    assert user.has_usable_password() is False
    assert list(user.groups.all()) == []
    assert user.erased_at is not None
    assert erased_events() == [{"user_id": str(user.pk)}]
    # no session survives, no login, no reset mail
    assert bearer(pair.access).get(ME).status_code == 401
    client = APIClient(**HTTPS)
    assert client.post("/api/v1/auth/token/refresh", {"refresh": pair.refresh}).status_code == 401
    login = client.post("/api/v1/auth/token", {"email": "alice@example.com", "password": PASSWORD})
    assert login.status_code == 401
    assert BlacklistedToken.objects.filter(token__user=user).count() == 1
    assert emails.password_reset_email_send(email=user.email) is False


def test_erasing_scrubs_the_copies_of_the_address(db: None):
    user = services.user_register(email="bea@example.com", password=PASSWORD, full_name="Bea")
    LogEntry.objects.log_actions(
        user_id=user.pk, queryset=[user], action_flag=CHANGE, change_message="renamed"
    )

    erasure.user_erasure_apply(user=user)

    erased = f"erased-{user.pk.hex}@erased.invalid"
    assert outbox("user.registered") == [
        {"user_id": str(user.pk), "email": erased, "full_name": ""}
    ]
    assert list(LogEntry.objects.values_list("object_repr", flat=True)) == [erased]


def test_erasing_twice_publishes_once(user: User):
    assert erasure.user_erasure_apply(user=user) is True
    assert erasure.user_erasure_apply(user=user) is False
    assert erased_events() == [{"user_id": str(user.pk)}]


def test_the_address_is_free_again_after_erasure(user: User):
    erasure.user_erasure_apply(user=user)
    again = APIClient(**HTTPS).post(
        "/api/v1/auth/register", {"email": "alice@example.com", "password": PASSWORD}
    )
    assert again.status_code == 201
