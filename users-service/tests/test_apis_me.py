"""GET/PATCH /api/v1/users/me and POST /api/v1/users/me/password: an account's own APIs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from tests.conftest import bearer, issue_tokens
from tests.factories import PASSWORD, GroupFactory
from tests.utils import assert_problem, claims_of, user_json
from users.models import User
from users.tokens import password_stamp

ME = "/api/v1/users/me"
PASSWORD_URL = "/api/v1/users/me/password"
NEW_PASSWORD = "another-Quiet-river-77"

pytestmark = pytest.mark.django_db

AuthClient = Callable[[User], APIClient]


# --- me ------------------------------------------------------------------------------------


def test_me_returns_my_account(auth_client: AuthClient, user: User):
    user.groups.add(GroupFactory(name="buyers"))

    response = auth_client(user).get(ME)

    assert response.status_code == 200
    user.refresh_from_db()
    assert response.json() == user_json(user)
    assert response.json()["groups"] == ["buyers"]
    assert response["Content-Type"] == "application/json"


def test_me_patch_updates_the_full_name(auth_client: AuthClient, user: User):
    response = auth_client(user).patch(ME, {"full_name": "Alice P. Liddell"})

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.full_name == "Alice P. Liddell"
    assert response.json() == user_json(user)


def test_me_patch_may_blank_the_full_name(auth_client: AuthClient, user: User):
    response = auth_client(user).patch(ME, {"full_name": ""})

    assert response.status_code == 200
    assert User.objects.get().full_name == ""


def test_me_patch_with_an_empty_object_changes_nothing(auth_client: AuthClient, user: User):
    response = auth_client(user).patch(ME, {})

    assert response.status_code == 200
    assert response.json()["full_name"] == "Alice Liddell"


@pytest.mark.parametrize(
    "payload",
    [{"email": "mallory@example.com"}, {"is_staff": True}, {"is_active": False}],
)
def test_me_patch_cannot_change_email_or_rights(auth_client: AuthClient, user: User, payload):
    (field,) = payload

    response = auth_client(user).patch(ME, payload)

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[{"field": field, "code": "unknown_field", "message": "Unknown field."}],
    )
    user.refresh_from_db()
    assert (user.email, user.is_staff, user.is_active) == ("alice@example.com", False, True)


def test_me_put_is_not_allowed(auth_client: AuthClient, user: User):
    response = auth_client(user).put(ME, {"full_name": "x"})

    assert_problem(response, 405, "method-not-allowed", detail='Method "PUT" not allowed.')


# --- me/password ---------------------------------------------------------------------------


def test_password_change_sets_the_password_and_revokes_every_refresh_token(user: User):
    first, second = issue_tokens(user), issue_tokens(user)
    client = bearer(first.access)

    response = client.post(
        PASSWORD_URL, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 204
    assert response.content == b""
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert not user.check_password(PASSWORD)
    assert user.password_changed_at is not None
    assert BlacklistedToken.objects.count() == 2
    jtis = {claims_of(first.refresh)["jti"], claims_of(second.refresh)["jti"]}
    assert set(BlacklistedToken.objects.values_list("token__jti", flat=True)) == jtis
    new = issue_tokens(user, password=NEW_PASSWORD)
    assert claims_of(new.access)["pwd_at"] == password_stamp(user)


def test_password_change_with_a_wrong_current_password_is_400(auth_client: AuthClient, user):
    client = auth_client(user)
    before = user.password

    response = client.post(
        PASSWORD_URL, {"current_password": "not-my-password", "new_password": NEW_PASSWORD}
    )

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[
            {
                "field": "current_password",
                "code": "invalid",
                "message": "The current password is wrong.",
            }
        ],
    )
    user.refresh_from_db()
    assert (user.password, user.password_changed_at) == (before, None)
    assert BlacklistedToken.objects.count() == 0


@pytest.mark.parametrize(
    ("new_password", "messages"),
    [
        ("alice@example.com", ["The password is too similar to the email address."]),
        ("Alice Liddell", ["The password is too similar to the full name."]),
        (
            "1234",
            [
                "This password is too short. It must contain at least 10 characters.",
                "This password is too common.",
                "This password is entirely numeric.",
            ],
        ),
    ],
)
def test_password_change_to_a_weak_password_is_400(
    auth_client: AuthClient, user: User, new_password: str, messages: list[str]
):
    client = auth_client(user)

    response = client.post(
        PASSWORD_URL, {"current_password": PASSWORD, "new_password": new_password}
    )

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[
            {"field": "new_password", "code": "password-too-weak", "message": m} for m in messages
        ],
    )
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert BlacklistedToken.objects.count() == 0
