"""Admin sessions follow users-service (chassis.sessions): re-checked with the session's
refresh token at most every RECHECK_SECONDS, ended when users-service refuses or the account
is no longer staff, kept while users-service is unreachable until the hard limit; signing out
revokes the session's refresh token. users-service is a real HTTP server here."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import authenticate, get_user, login, logout
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.test import RequestFactory

from chassis.sessions import SESSION_KEY, session_recheck
from chassis.testing import IdentityServer, TokenSigner, chassis_with

SUB = "0b7a4f1e-2c3d-4e5f-8a9b-000000000002"
BACKENDS = ["chassis.sso.UsersServiceBackend", "django.contrib.auth.backends.ModelBackend"]
RECHECK, HARD_LIMIT = 60, 900

pytestmark = pytest.mark.django_db


@pytest.fixture
def identity(settings) -> Iterator[IdentityServer]:
    claims = {"sub": SUB, "name": "Ed", "is_staff": True, "groups": ["catalog-editors"]}
    server = IdentityServer(TokenSigner.generate("sso-key"), {"ed@example.com": ("pw-ed", claims)})
    settings.AUTHENTICATION_BACKENDS = BACKENDS
    settings.CHASSIS = chassis_with(
        JWT={"JWKS_URL": server.url, "ISSUER": "users", "JWKS_TIMEOUT_SECONDS": 1},
        SSO={
            "TOKEN_URL": server.token_url,
            "TIMEOUT_SECONDS": 1,
            "RECHECK_SECONDS": RECHECK,
            "HARD_LIMIT_SECONDS": HARD_LIMIT,
        },
    )
    Group.objects.get_or_create(name="catalog-editors")
    yield server
    server.stop()


def signed_in(identity: IdentityServer) -> Any:
    """A request of a session signed in through users-service; its clock starts at the login."""
    request = RequestFactory().get("/admin/", REMOTE_ADDR="203.0.113.9")
    request.session = SessionStore()
    user = authenticate(request, username="ed@example.com", password="pw-ed")
    login(request, user)
    request.user = user
    return request


def again(request: Any) -> Any:
    """The session's next request (its user loaded from the session, as the middleware is)."""
    following = RequestFactory().get("/admin/", REMOTE_ADDR="203.0.113.9")
    following.session = request.session
    following.user = get_user(following)
    return following


def test_login_keeps_the_refresh_token_in_the_session(identity):
    request = signed_in(identity)

    state = request.session[SESSION_KEY]
    assert state["refresh"] == "refresh-1-ed@example.com"
    assert state["checked_at"] == state["ok_at"]


def test_no_recheck_before_the_interval(identity):
    request = again(signed_in(identity))
    start = request.session[SESSION_KEY]["checked_at"]

    assert session_recheck(request, now=start + RECHECK - 1) is True
    assert identity.refreshes == 0


def test_a_removed_group_is_lost_at_the_next_check(identity):
    request = again(signed_in(identity))
    start = request.session[SESSION_KEY]["checked_at"]
    assert list(request.user.groups.values_list("name", flat=True)) == ["catalog-editors"]
    identity.accounts["ed@example.com"][1]["groups"] = []

    assert session_recheck(request, now=start + RECHECK) is True

    user = again(request).user
    assert list(user.groups.values_list("name", flat=True)) == []
    assert identity.refreshes == 1
    assert request.session[SESSION_KEY] == {
        "refresh": "refresh-2-ed@example.com",  # rotated
        "checked_at": start + RECHECK,
        "ok_at": start + RECHECK,
    }


def test_a_concurrent_request_of_the_session_does_not_check_again(identity):
    """It loaded the session before the first check saved the rotated token: presenting the
    old one would be refused (401) and end a session that is fine."""
    request = again(signed_in(identity))
    request.session.save()  # a session key: what the lock is per
    start = request.session[SESSION_KEY]["checked_at"]
    stale = dict(request.session[SESSION_KEY])

    assert session_recheck(request, now=start + RECHECK) is True
    request.session[SESSION_KEY] = stale  # the concurrent request's copy of the session
    assert session_recheck(request, now=start + RECHECK) is True

    assert identity.refreshes == 1
    assert again(request).user.is_authenticated is True


def test_a_deactivated_account_is_signed_out(identity):
    request = again(signed_in(identity))
    start = request.session[SESSION_KEY]["checked_at"]
    del identity.accounts["ed@example.com"]  # users-service refuses its refresh: 401

    assert session_recheck(request, now=start + RECHECK) is False

    assert again(request).user.is_authenticated is False
    assert SESSION_KEY not in request.session


def test_an_account_no_longer_staff_is_signed_out(identity):
    request = again(signed_in(identity))
    start = request.session[SESSION_KEY]["checked_at"]
    identity.accounts["ed@example.com"][1]["is_staff"] = False

    assert session_recheck(request, now=start + RECHECK) is False
    assert again(request).user.is_authenticated is False


def test_users_service_unreachable_keeps_the_rights_until_the_hard_limit(identity):
    request = again(signed_in(identity))
    start = request.session[SESSION_KEY]["checked_at"]
    identity.down = True

    assert session_recheck(request, now=start + RECHECK) is True
    assert session_recheck(request, now=start + HARD_LIMIT) is True
    assert again(request).user.is_authenticated is True
    assert request.session[SESSION_KEY]["ok_at"] == start

    assert session_recheck(request, now=start + HARD_LIMIT + RECHECK) is False
    assert again(request).user.is_authenticated is False


def test_back_within_the_hard_limit_the_check_succeeds_again(identity):
    request = again(signed_in(identity))
    start = request.session[SESSION_KEY]["checked_at"]
    identity.down = True
    session_recheck(request, now=start + RECHECK)
    identity.down = False

    assert session_recheck(request, now=start + 2 * RECHECK) is True
    assert request.session[SESSION_KEY]["ok_at"] == start + 2 * RECHECK


def test_signing_out_revokes_the_sessions_refresh_token(identity):
    request = again(signed_in(identity))
    token = request.session[SESSION_KEY]["refresh"]

    logout(request)

    assert identity.revoked == [token]
    assert SESSION_KEY not in request.session


def test_local_accounts_are_never_rechecked(identity, django_user_model):
    request = RequestFactory().get("/admin/")
    request.session = SessionStore()
    local = django_user_model.objects.create_user("root", password="local-password-1")
    login(request, local, backend="django.contrib.auth.backends.ModelBackend")

    assert SESSION_KEY not in request.session
    assert session_recheck(again(request), now=10**10) is True
    assert identity.refreshes == 0
