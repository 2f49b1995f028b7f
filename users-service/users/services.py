"""Writes: accounts and the token lifecycle. APIs call these; nothing else writes users."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chassis.errors import Conflict, DomainError
from chassis.events.outbox import publish
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.models import update_last_login
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from rest_framework import exceptions
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from users.models import User
from users.tasks import account_email_enqueue, user_welcome_email_enqueue
from users.tokens import RefreshToken, access_claims, password_stamp


class InvalidInput(DomainError):
    code = "validation-error"
    title = "Invalid input."


class InvalidCredentials(exceptions.AuthenticationFailed):
    default_detail = "No active account matches these credentials."
    default_code = "invalid-credentials"


class InvalidRefreshToken(exceptions.AuthenticationFailed):
    default_detail = "Refresh token is invalid, expired or revoked."
    default_code = "token-not-valid"


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    expires_in: int


def _field_error(field: str, code: str, messages: list[str]) -> InvalidInput:
    return InvalidInput(
        "The request did not pass validation.",
        errors=[{"field": field, "code": code, "message": m} for m in messages],
    )


def _validate_password(password: str, user: User, field: str) -> None:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise _field_error(field, "password-too-weak", list(exc.messages)) from exc


@transaction.atomic
def user_register(*, email: str, password: str, full_name: str = "") -> User:
    """Create an active, non-staff account; publishes ``user.registered`` in the same
    transaction and queues the welcome and verification emails after commit. Raises
    InvalidInput (taken email, weak password). The address is stored in its normal form; one
    whose normal form is another account's is taken (see users.models)."""
    email = User.objects.normalize_email(email)
    user = User(email=email, full_name=full_name)
    _validate_password(password, user, "password")
    if User.objects.filter(email=email).exists():
        raise _field_error("email", "unique", ["An account with this email already exists."])
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save(force_insert=True)
    except IntegrityError as exc:  # a concurrent registration won the race
        raise _field_error(
            "email", "unique", ["An account with this email already exists."]
        ) from exc
    publish(
        "user.registered",
        {"user_id": str(user.pk), "email": user.email, "full_name": user.full_name},
    )
    user_id = str(user.pk)
    transaction.on_commit(lambda: user_welcome_email_enqueue(user_id))
    transaction.on_commit(lambda: account_email_enqueue("verification", email))
    return user


def user_update(*, user: User, data: dict[str, Any]) -> User:
    """Update the profile fields a user may change themselves (``full_name``)."""
    fields = [name for name in ("full_name",) if name in data]
    for name in fields:
        setattr(user, name, data[name])
    if fields:
        user.save(update_fields=fields)
    return user


@transaction.atomic
def user_password_change(*, user: User, current_password: str, new_password: str) -> None:
    """Set a new password and revoke every outstanding refresh token of the user.

    Raises InvalidInput when the current password is wrong or the new one is too weak.
    """
    if not user.check_password(current_password):
        raise _field_error("current_password", "invalid", ["The current password is wrong."])
    _validate_password(new_password, user, "new_password")
    user_password_set(user=user, password=new_password)


@transaction.atomic
def user_password_set(*, user: User, password: str | None) -> None:
    """Set ``user``'s password (``None``: disable password login) with no questions asked, as
    staff do in the admin. Records the change and revokes every refresh token of the user, so
    every session opened with the old password ends (access tokens included, see
    AccessTokenAuthentication). Validating the password is the caller's business.
    """
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.password_changed_at = timezone.now()
    user.save(update_fields=["password", "password_changed_at"])
    tokens_revoke_all(user=user)


@transaction.atomic
def user_deactivate(*, user: User, by: User) -> User:
    """Deactivate ``user`` (no login, no refresh): see :func:`user_deactivation_apply`.
    Idempotent: an inactive account changes nothing and publishes nothing. Raises Conflict
    when staff deactivate their own account."""
    if user.pk == by.pk:
        raise Conflict("Staff cannot deactivate their own account.")
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
        user_deactivation_apply(user=user)
    return user


@transaction.atomic
def user_deactivation_apply(*, user: User) -> None:
    """What follows an account's deactivation (``is_active`` just saved as False): revokes
    its refresh tokens and publishes ``user.deactivated``, in the caller's transaction.
    :func:`user_deactivate` calls it; so does the admin's edit form, which saves
    ``is_active`` itself."""
    tokens_revoke_all(user=user)
    publish("user.deactivated", {"user_id": str(user.pk)})


@transaction.atomic
def user_reactivation_apply(*, user: User) -> None:
    """What follows an account's reactivation (``is_active`` just saved as True, by the
    admin's edit form: the only way back): publishes ``user.reactivated``, in the caller's
    transaction, so orders lets the account order again (its refresh tokens stay revoked:
    it signs in anew)."""
    publish("user.reactivated", {"user_id": str(user.pk)})


def tokens_revoke_all(*, user: User) -> int:
    """Blacklist every unexpired refresh token issued to ``user``; returns how many."""
    pending = OutstandingToken.objects.filter(
        user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    revoked = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in pending], ignore_conflicts=True
    )
    return len(revoked)


def _issue_pair(user: User) -> TokenPair:
    refresh = RefreshToken.for_user(user)  # recorded as outstanding
    refresh["pwd_at"] = password_stamp(user)  # a password change ends this session too
    access = refresh.access_token
    # simplejwt dates the access token's exp from the refresh token's creation but its iat from
    # "now": across a second boundary that claimed a 299 s life. One issue time for the pair.
    access.set_iat(at_time=refresh.current_time)
    for claim, value in access_claims(user).items():
        access[claim] = value
    return TokenPair(
        access=str(access),
        refresh=str(refresh),
        expires_in=int(access.lifetime.total_seconds()),
    )


@transaction.atomic
def token_pair_obtain(*, request: HttpRequest | None, email: str, password: str) -> TokenPair:
    """Log in: verify the password of an active account and issue an access/refresh pair.

    Raises InvalidCredentials (401) for a wrong password, unknown or inactive account alike.
    """
    user = authenticate(request, username=email, password=password)
    if not isinstance(user, User):
        raise InvalidCredentials()
    update_last_login(User, user)
    return _issue_pair(user)


def _locked_outstanding(refresh: str) -> tuple[RefreshToken, OutstandingToken]:
    """Verify ``refresh`` and lock its outstanding-token row (FOR UPDATE) for this transaction.

    Raises InvalidRefreshToken for a bad, expired or revoked token, or one never issued here.
    """
    try:
        token = RefreshToken(refresh)  # type: ignore[arg-type]  # the stubs omit str
    except TokenError as exc:
        raise InvalidRefreshToken() from exc
    outstanding = (
        OutstandingToken.objects.select_for_update(of=("self",)).filter(jti=token["jti"]).first()
    )
    if outstanding is None:
        raise InvalidRefreshToken()
    return token, outstanding


@transaction.atomic
def token_refresh(*, refresh: str) -> TokenPair:
    """Rotate a refresh token: revoke it and issue a new pair with freshly read claims.

    The outstanding-token row is locked, so two concurrent refreshes with one token yield one
    new pair. Raises InvalidRefreshToken (401) for a bad, expired, revoked or orphan token, an
    inactive account, or a token issued under a password that has since changed.
    """
    token, outstanding = _locked_outstanding(refresh)
    if BlacklistedToken.objects.filter(token=outstanding).exists():
        raise InvalidRefreshToken()
    user = User.objects.filter(pk=token["sub"], is_active=True).first()
    if user is None or token.get("pwd_at", 0) != password_stamp(user):
        raise InvalidRefreshToken()
    BlacklistedToken.objects.create(token=outstanding)
    return _issue_pair(user)


@transaction.atomic
def token_revoke(*, refresh: str) -> None:
    """Log out: blacklist ``refresh``. Raises InvalidRefreshToken if it is not valid now."""
    _, outstanding = _locked_outstanding(refresh)
    BlacklistedToken.objects.get_or_create(token=outstanding)
