"""Password reset by email (users.verification, users.links): attacks first.

Enumeration (the same 202 for any address), replayed, tampered, expired and foreign tokens,
throttling per client address and per address asked; then the happy path from the mail.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.core import mail
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from tests.conftest import HTTPS, bearer, issue_tokens
from tests.factories import PASSWORD, UserFactory
from tests.utils import assert_problem
from users import emails, links, services, verification
from users.models import User

RESET = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
NEW_PASSWORD = "a-Fresh-marmalade-77"
ACCEPTED = {"detail": "If an account uses this address, a password-reset link is on its way."}

pytestmark = pytest.mark.django_db


def assert_hourly_throttled(response) -> None:
    assert_problem(response, 429, "throttled", errors=[])
    assert 1 <= int(response["Retry-After"]) <= 3600


def lower_rates(settings, **scopes: str) -> None:
    """Lower the given throttle scopes for this test."""
    conf = settings.REST_FRAMEWORK
    rates = {**conf["DEFAULT_THROTTLE_RATES"], **scopes}
    settings.REST_FRAMEWORK = {**conf, "DEFAULT_THROTTLE_RATES": rates}


def client() -> APIClient:
    return APIClient(**HTTPS)


def mailed_token(email: str) -> str:
    """Send the reset mail as the worker does; the token of the link it carries."""
    mail.outbox.clear()
    assert emails.password_reset_email_send(email=email) is True
    (message,) = mail.outbox
    match = re.search(r"/reset-password\?token=(\S+)", message.body)
    assert match is not None
    return match[1]


def assert_bad_token(response) -> None:
    assert_problem(
        response,
        400,
        "validation-error",
        errors=[
            {
                "field": "token",
                "code": "invalid-token",
                "message": "The link is invalid, expired or already used.",
            }
        ],
    )


# --- enumeration ---------------------------------------------------------------------------


def test_known_unknown_inactive_and_erased_addresses_get_the_same_202(
    user: User, django_capture_on_commit_callbacks
):
    UserFactory(email="gone@example.com", is_active=False)
    addresses = [user.email, "nobody@example.com", "gone@example.com", "ALICE@example.com"]
    with django_capture_on_commit_callbacks() as callbacks:
        answers = [client().post(RESET, {"email": a}) for a in addresses]

    assert [(r.status_code, r.json()) for r in answers] == [(202, ACCEPTED)] * 4
    assert len(callbacks) == 4  # the same work queued for every address, known or not


def test_only_an_account_that_can_log_in_is_mailed(user: User):
    UserFactory(email="gone@example.com", is_active=False)
    no_password = UserFactory(email="sso@example.com")
    services.user_password_set(user=no_password, password=None)

    sent = [
        emails.password_reset_email_send(email=a)
        for a in ("nobody@example.com", "gone@example.com", "sso@example.com", "ALICE@Example.com")
    ]

    assert sent == [False, False, False, True]
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    message = mail.outbox[0]
    assert message.subject == "Reset your password"
    assert "https://shop.example.com/reset-password?token=" in message.body
    (html, kind) = message.alternatives[0]
    assert kind == "text/html"
    assert 'href="https://shop.example.com/reset-password?token=' in html


# --- tokens --------------------------------------------------------------------------------


def test_a_token_works_once(user: User):
    token = mailed_token(user.email)

    first = client().post(CONFIRM, {"token": token, "new_password": NEW_PASSWORD})
    replay = client().post(CONFIRM, {"token": token, "new_password": "yet-Another-pass-88"})

    assert first.status_code == 204
    assert_bad_token(replay)
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_a_token_dies_when_the_password_changes_otherwise(user: User):
    token = mailed_token(user.email)
    services.user_password_change(
        user=user, current_password=PASSWORD, new_password="changed-Myself-55"
    )

    assert_bad_token(client().post(CONFIRM, {"token": token, "new_password": NEW_PASSWORD}))


def test_an_expired_token_is_refused(user: User, settings):
    settings.PASSWORD_RESET_TIMEOUT = 3600
    then = datetime.now() - timedelta(seconds=3601)  # noqa: DTZ005 - naive, as Django's clock
    old = links.PasswordResetTokens(clock=lambda: then)
    token = links.token_make(generator=old, user=user)

    assert_bad_token(client().post(CONFIRM, {"token": token, "new_password": NEW_PASSWORD}))
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-1] + ("a" if t[-1] != "a" else "b"),  # the signature
        lambda t: t.replace(".", ".1", 1),  # the timestamp
        lambda t: "not-a-token",
        lambda t: "0" * 32 + "." + t.partition(".")[2],  # another id
        lambda t: t + "-x",
        lambda t: t.partition(".")[2],  # no id
        lambda t: "{" + t,  # a UUID spelling uuid.UUID would forgive
    ],
)
def test_a_tampered_token_is_refused(user: User, tamper):
    token = tamper(mailed_token(user.email))

    assert_bad_token(client().post(CONFIRM, {"token": token, "new_password": NEW_PASSWORD}))
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_another_accounts_token_does_not_reset_mine(user: User):
    mallory = UserFactory(email="mallory@example.com")
    theirs = mailed_token(mallory.email)
    mine_id = user.pk.hex

    forged = f"{mine_id}.{theirs.partition('.')[2]}"

    assert_bad_token(client().post(CONFIRM, {"token": forged, "new_password": NEW_PASSWORD}))
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_a_verification_token_is_no_reset_token(user: User):
    token = links.token_make(generator=links.VerificationTokens(), user=user)

    assert_bad_token(client().post(CONFIRM, {"token": token, "new_password": NEW_PASSWORD}))


def test_a_weak_new_password_is_refused_and_the_token_stays_usable(user: User):
    token = mailed_token(user.email)

    weak = client().post(CONFIRM, {"token": token, "new_password": "12345"})
    good = client().post(CONFIRM, {"token": token, "new_password": NEW_PASSWORD})

    body = assert_problem(weak, 400, "validation-error")
    assert {e["field"] for e in body["errors"]} == {"new_password"}
    assert {e["code"] for e in body["errors"]} == {"password-too-weak"}
    assert good.status_code == 204


# --- what a reset ends ---------------------------------------------------------------------


def test_a_reset_revokes_refresh_tokens_and_ends_sessions(user: User):
    pair = issue_tokens(user)
    token = mailed_token(user.email)

    assert client().post(CONFIRM, {"token": token, "new_password": NEW_PASSWORD}).status_code == 204

    assert bearer(pair.access).get("/api/v1/users/me").status_code == 401
    refresh = client().post("/api/v1/auth/token/refresh", {"refresh": pair.refresh})
    assert refresh.status_code == 401
    assert BlacklistedToken.objects.filter(token__user=user).count() == 1
    login = client().post("/api/v1/auth/token", {"email": user.email, "password": NEW_PASSWORD})
    assert login.status_code == 200
    user.refresh_from_db()
    assert user.email_verified is True  # the mail reached its owner


def test_an_erased_or_deactivated_account_cannot_use_a_token_it_got_before(user: User):
    token = mailed_token(user.email)
    services.user_deactivate(user=user, by=UserFactory(is_staff=True))

    assert_bad_token(client().post(CONFIRM, {"token": token, "new_password": NEW_PASSWORD}))


def test_requests_are_throttled_per_address_asked(settings, user: User):
    lower_rates(settings, **{"password-reset-account": "2/hour"})
    answers = [
        APIClient(REMOTE_ADDR=f"192.0.2.{n}", **HTTPS).post(RESET, {"email": e})
        for n, e in enumerate([user.email, "Alice@Example.com", user.email, "bob@example.com"])
    ]

    assert [r.status_code for r in answers[:2]] == [202, 202]
    assert_hourly_throttled(answers[2])  # another client, the same address (caseless)
    assert answers[3].status_code == 202  # another address


def test_requests_are_throttled_per_client_address(settings):
    lower_rates(settings, **{"password-reset": "2/min"})
    answers = [client().post(RESET, {"email": f"u{n}@example.com"}) for n in range(3)]

    assert [r.status_code for r in answers[:2]] == [202, 202]
    assert_hourly_throttled(answers[2])


def test_the_request_service_queues_after_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        verification.password_reset_request(email="x@example.com")
    assert len(callbacks) == 1
