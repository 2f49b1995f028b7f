"""Writes that prove an address: password reset by email and email verification.

The requests (:func:`password_reset_request`, :func:`verification_resend`) answer the same
for every address, known or not: they queue a task for any address (after commit), and the
task mails only an account that exists (users.emails), so neither the answer nor the work
done in the request tells who has an account. The APIs throttle them per client address and
per address asked (chassis.throttling). The confirmations take the token the mail carried
(users.links): a malformed, tampered, expired, used or foreign one is InvalidInput
``invalid-token`` (400).
"""

from __future__ import annotations

from django.db import transaction

from users import links
from users.models import User
from users.services import InvalidInput, _field_error, _validate_password, user_password_set
from users.tasks import account_email_enqueue

INVALID_TOKEN_MESSAGE = "The link is invalid, expired or already used."  # noqa: S105


def _invalid_token() -> InvalidInput:
    return _field_error("token", "invalid-token", [INVALID_TOKEN_MESSAGE])


def password_reset_request(*, email: str) -> None:
    """Queue a password-reset mail for ``email`` (sent only if an account can use it)."""
    transaction.on_commit(lambda: account_email_enqueue("password_reset", email))


@transaction.atomic
def password_reset_confirm(*, token: str, new_password: str) -> User:
    """Set the password of the account ``token`` was mailed to, once: the new password is
    validated by Django's validators (InvalidInput ``password-too-weak``), every refresh token
    is revoked and every session opened under the old password ends (user_password_set). The
    mail reached its owner, so the address counts as verified. Raises InvalidInput
    ``invalid-token`` for a token that is not valid now."""
    user = links.token_user(generator=links.PasswordResetTokens(), token=token)
    if user is None:
        raise _invalid_token()
    user = User.objects.select_for_update().get(pk=user.pk)
    if not links.PasswordResetTokens().check_token(user, token.partition(".")[2]):
        raise _invalid_token()  # a concurrent confirmation used it first
    _validate_password(new_password, user, "new_password")
    user_password_set(user=user, password=new_password)
    if not user.email_verified:
        user.email_verified = True
        user.save(update_fields=["email_verified"])
    return user


def verification_resend(*, email: str) -> None:
    """Queue a verification mail for ``email`` (sent only to an unverified account)."""
    transaction.on_commit(lambda: account_email_enqueue("verification", email))


@transaction.atomic
def email_verify(*, token: str) -> User:
    """Mark the address ``token`` was mailed to as verified (the next tokens issued carry
    ``email_verified: true``). Raises InvalidInput ``invalid-token`` for a token that is not
    valid now, including one already used or made for a former address."""
    user = links.token_user(generator=links.VerificationTokens(), token=token)
    if user is None:
        raise _invalid_token()
    user = User.objects.select_for_update().get(pk=user.pk)
    if not links.VerificationTokens().check_token(user, token.partition(".")[2]):
        raise _invalid_token()
    user.email_verified = True
    user.save(update_fields=["email_verified"])
    return user


@transaction.atomic
def user_email_change(*, user: User, email: str) -> User:
    """Give ``user`` a new address (its normal form), unverified until its owner follows the
    verification link mailed to it. Raises InvalidInput ``unique`` when it is taken."""
    email = User.objects.normalize_email(email)
    if email == user.email:
        return user
    if User.objects.filter(email=email).exclude(pk=user.pk).exists():
        raise _field_error("email", "unique", ["An account with this email already exists."])
    user.email = email
    user.save(update_fields=["email"])
    email_change_apply(user=user)
    return user


@transaction.atomic
def email_change_apply(*, user: User) -> None:
    """What follows a change of ``user``'s address (just saved; :func:`user_email_change`,
    the admin's edit form): unverified again, and a verification link is mailed to the new
    address after commit."""
    user.email_verified = False
    user.save(update_fields=["email_verified"])
    email = user.email
    transaction.on_commit(lambda: account_email_enqueue("verification", email))
