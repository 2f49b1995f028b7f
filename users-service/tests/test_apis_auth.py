"""POST /api/v1/auth/{register,token,token/refresh,logout} and GET /.well-known/jwks.json."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from tests.conftest import KIDS, issue_tokens
from tests.factories import PASSWORD, UserFactory
from tests.utils import assert_problem, claims_of, iso, row_counts
from users.models import User

REGISTER = "/api/v1/auth/register"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/token/refresh"
LOGOUT = "/api/v1/auth/logout"
JWKS = "/.well-known/jwks.json"

BEARER_CHALLENGE = 'Bearer realm="api"'
BAD_REFRESH = "Refresh token is invalid, expired or revoked."
BAD_CREDENTIALS = "No active account matches these credentials."
VALIDATION = "The request did not pass validation."

pytestmark = pytest.mark.django_db


# --- register ------------------------------------------------------------------------------


def test_register_creates_an_active_account_with_a_lower_cased_email(api_client: APIClient):
    response = api_client.post(
        REGISTER,
        {"email": "Alice.Liddell@Example.COM", "password": PASSWORD, "full_name": "Alice Liddell"},
    )

    assert response.status_code == 201, response.content
    user = User.objects.get()
    assert response.json() == {
        "id": str(user.id),
        "email": "alice.liddell@example.com",
        "full_name": "Alice Liddell",
        "email_verified": False,
        "is_active": True,
        "is_staff": False,
        "groups": [],
        "date_joined": iso(user.date_joined),
        "last_login": None,
    }
    assert user.email == "alice.liddell@example.com"
    assert (user.is_active, user.is_staff, user.is_superuser) == (True, False, False)
    assert user.check_password(PASSWORD)
    assert user.password_changed_at is None


def test_register_without_full_name_defaults_to_blank(api_client: APIClient):
    response = api_client.post(REGISTER, {"email": "bob@example.com", "password": PASSWORD})

    assert response.status_code == 201
    assert response.json()["full_name"] == ""
    assert User.objects.get().full_name == ""


def test_a_registered_account_can_log_in(api_client: APIClient):
    api_client.post(REGISTER, {"email": "Bob@Example.com", "password": PASSWORD})

    response = api_client.post(TOKEN, {"email": "bob@example.com", "password": PASSWORD})

    assert response.status_code == 200


@pytest.mark.parametrize("email", ["alice@example.com", "ALICE@EXAMPLE.COM", "Alice@example.com"])
def test_register_refuses_an_email_taken_in_any_case(api_client: APIClient, user: User, email):
    before = row_counts()

    response = api_client.post(REGISTER, {"email": email, "password": PASSWORD})

    assert_problem(
        response,
        400,
        "validation-error",
        detail=VALIDATION,
        errors=[
            {
                "field": "email",
                "code": "unique",
                "message": "An account with this email already exists.",
            }
        ],
    )
    assert response.json()["title"] == "Invalid input."
    assert row_counts() == before


@pytest.mark.parametrize(
    ("email", "password", "messages"),
    [
        (
            "carol@example.com",
            "Xy7#short",
            ["This password is too short. It must contain at least 10 characters."],
        ),
        ("carol@example.com", "password123", ["This password is too common."]),
        ("carol@example.com", "8306519247", ["This password is entirely numeric."]),
        (
            "carol.lewis@example.com",
            "carol.lewis@example.com",
            ["The password is too similar to the email address."],
        ),
        (
            "carol@example.com",
            "12345678",
            [
                "This password is too short. It must contain at least 10 characters.",
                "This password is too common.",
                "This password is entirely numeric.",
            ],
        ),
    ],
    ids=["too-short", "common", "numeric", "similar-to-email", "all-at-once"],
)
def test_register_refuses_weak_passwords_listing_every_reason(
    api_client: APIClient, email, password, messages
):
    response = api_client.post(REGISTER, {"email": email, "password": password})

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[{"field": "password", "code": "password-too-weak", "message": m} for m in messages],
    )
    assert User.objects.count() == 0


def test_register_password_similar_to_the_full_name_is_refused(api_client: APIClient):
    response = api_client.post(
        REGISTER,
        {"email": "dan@example.com", "password": "Bartholomew", "full_name": "Bartholomew"},
    )

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[
            {
                "field": "password",
                "code": "password-too-weak",
                "message": "The password is too similar to the full name.",
            }
        ],
    )


def test_register_reports_an_invalid_email(api_client: APIClient):
    response = api_client.post(REGISTER, {"email": "not-an-email", "password": PASSWORD})

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[{"field": "email", "code": "invalid", "message": "Enter a valid email address."}],
    )


def test_register_ignores_a_stale_authorization_header(api_client: APIClient):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")

    response = api_client.post(REGISTER, {"email": "erin@example.com", "password": PASSWORD})

    assert response.status_code == 201


# --- token (log in) ----------------------------------------------------------------------


def test_login_returns_a_token_pair_and_records_the_login(api_client: APIClient, user: User):
    response = api_client.post(TOKEN, {"email": "alice@example.com", "password": PASSWORD})

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access", "refresh", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert response["Cache-Control"] == "no-store"
    assert claims_of(body["access"])["token_type"] == "access"
    assert claims_of(body["refresh"])["token_type"] == "refresh"
    outstanding = OutstandingToken.objects.get()
    assert outstanding.jti == claims_of(body["refresh"])["jti"]
    assert outstanding.user == user
    user.refresh_from_db()
    assert user.last_login is not None


def test_login_email_is_case_insensitive(api_client: APIClient, user: User):
    response = api_client.post(TOKEN, {"email": "ALICE@Example.com", "password": PASSWORD})

    assert response.status_code == 200


def test_login_works_with_a_stale_authorization_header(api_client: APIClient, user: User):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer expired.or.garbage")

    response = api_client.post(TOKEN, {"email": user.email, "password": PASSWORD})

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("alice@example.com", "wrong-password-42"),
        ("nobody@example.com", PASSWORD),
        ("alice@example.com", PASSWORD.upper()),
        ("alice@example.com", f" {PASSWORD}"),
    ],
    ids=["wrong-password", "unknown-email", "password-is-case-sensitive", "not-trimmed"],
)
def test_login_with_bad_credentials_is_401(api_client: APIClient, user: User, email, password):
    response = api_client.post(TOKEN, {"email": email, "password": password})

    assert_problem(response, 401, "invalid-credentials", detail=BAD_CREDENTIALS, errors=[])
    assert response["WWW-Authenticate"] == BEARER_CHALLENGE
    assert OutstandingToken.objects.count() == 0


def test_login_of_a_deactivated_account_is_401(api_client: APIClient):
    UserFactory(email="gone@example.com", is_active=False)

    response = api_client.post(TOKEN, {"email": "gone@example.com", "password": PASSWORD})

    assert_problem(response, 401, "invalid-credentials", detail=BAD_CREDENTIALS)
    assert OutstandingToken.objects.count() == 0


# --- token/refresh -----------------------------------------------------------------------


def test_refresh_rotates_the_pair_and_revokes_the_old_refresh_token(
    api_client: APIClient, user: User
):
    first = issue_tokens(user)

    response = api_client.post(REFRESH, {"refresh": first.refresh})

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access", "refresh", "token_type", "expires_in"}
    assert response["Cache-Control"] == "no-store"
    assert body["refresh"] != first.refresh
    assert claims_of(body["access"])["sub"] == str(user.id)
    old = OutstandingToken.objects.get(jti=claims_of(first.refresh)["jti"])
    assert BlacklistedToken.objects.filter(token=old).exists()
    assert OutstandingToken.objects.count() == 2

    reused = api_client.post(REFRESH, {"refresh": first.refresh})
    assert_problem(reused, 401, "token-not-valid", detail=BAD_REFRESH)
    assert reused["WWW-Authenticate"] == BEARER_CHALLENGE

    again = api_client.post(REFRESH, {"refresh": body["refresh"]})
    assert again.status_code == 200


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 4096])
def test_refresh_with_a_malformed_token_is_401(api_client: APIClient, token: str):
    response = api_client.post(REFRESH, {"refresh": token})

    assert_problem(response, 401, "token-not-valid", detail=BAD_REFRESH)


def test_refresh_with_an_access_token_is_401(api_client: APIClient, user: User):
    pair = issue_tokens(user)

    response = api_client.post(REFRESH, {"refresh": pair.access})

    assert_problem(response, 401, "token-not-valid", detail=BAD_REFRESH)


def test_refresh_of_a_token_missing_from_the_outstanding_list_is_401(
    api_client: APIClient, user: User
):
    pair = issue_tokens(user)
    OutstandingToken.objects.all().delete()  # e.g. flushed, or a token from another database

    response = api_client.post(REFRESH, {"refresh": pair.refresh})

    assert_problem(response, 401, "token-not-valid", detail=BAD_REFRESH)
    assert OutstandingToken.objects.count() == 0


def test_refresh_of_a_deactivated_account_is_401_even_if_not_revoked(
    api_client: APIClient, user: User
):
    pair = issue_tokens(user)
    User.objects.filter(pk=user.pk).update(is_active=False)  # bypassing the service on purpose

    response = api_client.post(REFRESH, {"refresh": pair.refresh})

    assert_problem(response, 401, "token-not-valid", detail=BAD_REFRESH)
    assert OutstandingToken.objects.count() == 1


def test_refresh_mints_claims_from_the_current_account(api_client: APIClient, user: User):
    user.is_staff = True
    user.save()
    pair = issue_tokens(user)
    assert claims_of(pair.access)["is_staff"] is True
    user.is_staff = False
    user.full_name = "Alice Pleasance"
    user.save()
    user.groups.add(Group.objects.create(name="editors"), Group.objects.create(name="buyers"))

    response = api_client.post(REFRESH, {"refresh": pair.refresh})

    claims = claims_of(response.json()["access"])
    assert claims["is_staff"] is False
    assert claims["name"] == "Alice Pleasance"
    assert claims["groups"] == ["buyers", "editors"]


# --- logout --------------------------------------------------------------------------------


def test_logout_revokes_the_refresh_token(api_client: APIClient, user: User):
    pair = issue_tokens(user)

    response = api_client.post(LOGOUT, {"refresh": pair.refresh})

    assert response.status_code == 204
    assert response.content == b""
    assert BlacklistedToken.objects.get().token.jti == claims_of(pair.refresh)["jti"]
    refused = api_client.post(REFRESH, {"refresh": pair.refresh})
    assert_problem(refused, 401, "token-not-valid", detail=BAD_REFRESH)


def test_logout_twice_is_401_the_second_time(api_client: APIClient, user: User):
    pair = issue_tokens(user)
    api_client.post(LOGOUT, {"refresh": pair.refresh})

    response = api_client.post(LOGOUT, {"refresh": pair.refresh})

    assert_problem(response, 401, "token-not-valid", detail=BAD_REFRESH)
    assert BlacklistedToken.objects.count() == 1


def test_logout_revokes_only_that_session(api_client: APIClient, user: User):
    laptop, phone = issue_tokens(user), issue_tokens(user)

    api_client.post(LOGOUT, {"refresh": laptop.refresh})

    assert api_client.post(REFRESH, {"refresh": phone.refresh}).status_code == 200


@pytest.mark.parametrize("token", ["garbage", "access"])
def test_logout_with_an_invalid_token_is_401(api_client: APIClient, user: User, token: str):
    raw = issue_tokens(user).access if token == "access" else token

    response = api_client.post(LOGOUT, {"refresh": raw})

    assert_problem(response, 401, "token-not-valid", detail=BAD_REFRESH)
    assert response["WWW-Authenticate"] == BEARER_CHALLENGE
    assert BlacklistedToken.objects.count() == 0


# --- JWKS ----------------------------------------------------------------------------------


def test_jwks_publishes_every_public_key_of_the_ring(api_client: APIClient):
    response = api_client.get(JWKS)

    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=300"
    assert response["Content-Type"] == "application/json"
    keys = response.json()["keys"]
    assert [key["kid"] for key in keys] == list(KIDS)
    for key in keys:
        # Public members only: no "d", "p", "q", "dp", "dq", "qi".
        assert set(key) - {"key_ops"} == {"kty", "kid", "use", "alg", "n", "e"}
        assert (key["kty"], key["use"], key["alg"], key["e"]) == ("RSA", "sig", "RS256", "AQAB")


def test_jwks_needs_no_credentials_and_ignores_bad_ones(api_client: APIClient):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer nonsense")

    assert api_client.get(JWKS).status_code == 200


def test_jwks_refuses_writes(api_client: APIClient):
    response = api_client.post(JWKS, {})

    assert_problem(response, 405, "method-not-allowed")


# --- look-alike addresses: one normal form (chassis.accounts.account_key) ----------------------

SUE = "sue@example.com"
LOOK_ALIKES = [
    "\u017fue@example.com",  # LATIN SMALL LETTER LONG S: casefolds to s
    "sue@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com",  # a full-width domain: NFKC
    "SUE@Example.COM",
    "\u017fUE@\uff25XAMPLE.com",
]


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
def test_register_refuses_a_look_alike_of_a_taken_address(api_client: APIClient, look_alike):
    """Attack: a look-alike of a registered address registered a second account."""
    assert api_client.post(REGISTER, {"email": SUE, "password": PASSWORD}).status_code == 201

    response = api_client.post(REGISTER, {"email": look_alike, "password": PASSWORD})

    assert_problem(
        response,
        400,
        "validation-error",
        detail=VALIDATION,
        errors=[
            {
                "field": "email",
                "code": "unique",
                "message": "An account with this email already exists.",
            }
        ],
    )
    assert list(User.objects.values_list("email", flat=True)) == [SUE]


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
def test_an_address_is_stored_in_its_normal_form(api_client: APIClient, look_alike):
    response = api_client.post(REGISTER, {"email": look_alike, "password": PASSWORD})

    assert response.status_code == 201, response.content
    assert response.json()["email"] == SUE
    assert User.objects.get().email == SUE


@pytest.mark.parametrize("look_alike", LOOK_ALIKES)
def test_login_compares_addresses_in_their_normal_form(api_client: APIClient, look_alike):
    """By design a look-alike names the same account (there is one per normal form): it
    opens that account with that account's password, and the token says its address."""
    sue = UserFactory(email=SUE)

    response = api_client.post(TOKEN, {"email": look_alike, "password": PASSWORD})

    assert response.status_code == 200, response.content
    claims = claims_of(response.json()["access"])
    assert (claims["sub"], claims["email"]) == (str(sue.id), SUE)


def test_a_legacy_look_alike_row_does_not_break_the_login(api_client: APIClient):
    """Rows from before the normal form (the migration leaves colliding ones as they were):
    the login finds the account whose address is the normal form, never two."""
    sue = UserFactory(email=SUE)
    UserFactory(email="\u017fue@example.com", password="Another-password-77")

    response = api_client.post(TOKEN, {"email": "\u017fue@example.com", "password": PASSWORD})
    legacy = api_client.post(
        TOKEN, {"email": "\u017fue@example.com", "password": "Another-password-77"}
    )

    assert response.status_code == 200, response.content
    assert claims_of(response.json()["access"])["sub"] == str(sue.id)
    assert legacy.status_code == 401
