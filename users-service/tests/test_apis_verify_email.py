"""Email verification (users.verification): the link mailed at registration, the resend, the
``email_verified`` claim, re-verification after an address change; attacks first."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from rest_framework.test import APIClient

from tests.conftest import HTTPS, issue_tokens
from tests.factories import UserFactory
from tests.utils import assert_problem, claims_of
from users import emails, links, verification
from users.models import User

VERIFY = "/api/v1/auth/verify-email"
RESEND = "/api/v1/auth/verify-email/resend"
ACCEPTED = {"detail": "If an unverified account uses this address, a link is on its way."}

pytestmark = pytest.mark.django_db


def assert_hourly_throttled(response) -> None:
    assert_problem(response, 429, "throttled", errors=[])
    assert 1 <= int(response["Retry-After"]) <= 3600


def client() -> APIClient:
    return APIClient(**HTTPS)


def mailed_token(email: str) -> str:
    mail.outbox.clear()
    assert emails.verification_email_send(email=email) is True
    (message,) = mail.outbox
    assert message.subject == "Confirm your email address"
    assert message.alternatives[0][1] == "text/html"
    match = re.search(r"/verify-email\?token=(\S+)", message.body)
    assert match is not None
    return match[1]


def assert_bad_token(response) -> None:
    body = assert_problem(response, 400, "validation-error")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("token", "invalid-token")]


def test_registration_queues_the_verification_mail(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = client().post(
            "/api/v1/auth/register",
            {"email": "new@example.com", "password": "violet-Kettle-drum-42"},
        )
    assert response.status_code == 201
    assert response.json()["email_verified"] is False
    # the outbox relay, the welcome mail and the verification mail
    assert len(callbacks) == 3


def test_verifying_sets_the_flag_and_the_next_tokens_carry_it(user: User):
    assert claims_of(issue_tokens(user).access)["email_verified"] is False
    token = mailed_token(user.email)

    response = client().post(VERIFY, {"token": token})

    assert response.status_code == 204
    user.refresh_from_db()
    assert user.email_verified is True
    assert claims_of(issue_tokens(user).access)["email_verified"] is True


def test_a_used_token_is_refused(user: User):
    token = mailed_token(user.email)
    assert client().post(VERIFY, {"token": token}).status_code == 204

    assert_bad_token(client().post(VERIFY, {"token": token}))


def test_a_token_for_a_former_address_does_not_verify_the_new_one(user: User):
    token = mailed_token(user.email)
    verification.user_email_change(user=user, email="alice.new@example.com")

    assert_bad_token(client().post(VERIFY, {"token": token}))
    user.refresh_from_db()
    assert (user.email, user.email_verified) == ("alice.new@example.com", False)


def test_changing_the_address_needs_verification_again(
    user: User, django_capture_on_commit_callbacks
):
    verification.email_verify(token=mailed_token(user.email))
    with django_capture_on_commit_callbacks() as callbacks:
        verification.user_email_change(user=user, email="Alice.New@example.com")

    user.refresh_from_db()
    assert (user.email, user.email_verified) == ("alice.new@example.com", False)
    assert len(callbacks) == 1
    assert claims_of(issue_tokens(user).access)["email_verified"] is False


def test_foreign_tampered_and_reset_tokens_are_refused(user: User):
    other = UserFactory(email="other@example.com")
    theirs = mailed_token(other.email)
    reset = links.token_make(generator=links.PasswordResetTokens(), user=user)

    for token in (f"{user.pk.hex}.{theirs.partition('.')[2]}", reset, theirs + "0", "x" * 200):
        assert_bad_token(client().post(VERIFY, {"token": token}))
    user.refresh_from_db()
    assert user.email_verified is False


def test_resend_answers_the_same_and_mails_only_the_unverified(user: User):
    verified = UserFactory(email="done@example.com", email_verified=True)
    answers = [client().post(RESEND, {"email": e}) for e in (user.email, verified.email, "no@x.io")]

    assert [(r.status_code, r.json()) for r in answers] == [(202, ACCEPTED)] * 3
    addresses = (user.email, verified.email, "no@x.io")
    sent = [emails.verification_email_send(email=e) for e in addresses]
    assert sent == [True, False, False]


def test_resend_is_throttled_per_address_asked(settings, user: User):
    from tests.test_apis_password_reset import lower_rates

    lower_rates(settings, **{"verify-email-account": "1/hour"})
    first = APIClient(REMOTE_ADDR="192.0.2.1", **HTTPS).post(RESEND, {"email": user.email})
    second = APIClient(REMOTE_ADDR="192.0.2.2", **HTTPS).post(RESEND, {"email": user.email})

    assert first.status_code == 202
    assert_hourly_throttled(second)
