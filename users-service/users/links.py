"""The single-use tokens mailed to an account's address: password reset and email verification.

Both are Django's ``PasswordResetTokenGenerator`` (an HMAC of the account's state and a
timestamp under ``SECRET_KEY``, with its own salt per purpose), prefixed by the account's id:
``<user id hex>.<timestamp>-<hmac>``. Nothing is stored. A token stops being valid when what
it signs changes:

* password reset: the password hash and ``last_login`` (Django's), so a token is used once (it
  sets the password) and any later password change or login voids it; ``PASSWORD_RESET_TIMEOUT``.
* verification: the address and ``email_verified``, so a token verifies once and a token for
  an old address never verifies a new one; ``EMAIL_VERIFICATION_TIMEOUT``.

:func:`token_user` answers None for a malformed, tampered, expired, used or foreign token
alike (the API says 400 ``invalid-token`` for all of them).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.utils.crypto import constant_time_compare
from django.utils.http import base36_to_int

from users.models import User

TOKEN_MAX = 200  # far above a real token's length (32 + 1 + ~40)


class _Generator(PasswordResetTokenGenerator):
    """Django's generator with its own lifetime and a clock tests can set (naive local time,
    as Django's ``_now``)."""

    timeout_setting = "PASSWORD_RESET_TIMEOUT"

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.clock = clock

    def _now(self) -> datetime:
        return self.clock() if self.clock else super()._now()

    def check_token(self, user: Any, token: Any) -> bool:
        """Django's check, with this generator's timeout (Django's reads one setting only)."""
        if not (user and isinstance(token, str)):
            return False
        try:
            ts_b36, _ = token.split("-")
            ts = base36_to_int(ts_b36)
        except ValueError:
            return False
        valid = any(
            constant_time_compare(self._make_token_with_timestamp(user, ts, secret), token)
            for secret in [self.secret, *self.secret_fallbacks]
        )
        age = self._num_seconds(self._now()) - ts
        return valid and 0 <= age <= getattr(settings, self.timeout_setting)


class PasswordResetTokens(_Generator):
    key_salt = "users.links.PasswordResetTokens"


class VerificationTokens(_Generator):
    key_salt = "users.links.VerificationTokens"
    timeout_setting = "EMAIL_VERIFICATION_TIMEOUT"

    def _make_hash_value(self, user: Any, timestamp: int) -> str:
        return f"{user.pk}{user.email}{user.email_verified}{timestamp}"


def token_make(*, generator: _Generator, user: User) -> str:
    return f"{user.pk.hex}.{generator.make_token(user)}"


def token_user(*, generator: _Generator, token: str) -> User | None:
    """The active, not erased account ``token`` was made for, if the token is valid now."""
    user_hex, _, rest = token.partition(".")
    if not re.fullmatch(r"[0-9a-f]{32}", user_hex):  # the one spelling token_make writes
        return None
    user = User.objects.filter(
        pk=uuid.UUID(hex=user_hex), is_active=True, erased_at__isnull=True
    ).first()
    if user is None or not generator.check_token(user, rest):
        return None
    return user


def link(*, page: str, token: str) -> str:
    """The shop page that takes ``token`` (ACCOUNT_LINKS_BASE_URL + ``page``)."""
    return f"{settings.ACCOUNT_LINKS_BASE_URL.rstrip('/')}/{page}?token={token}"
