"""Access and refresh tokens: simplejwt's token classes, signed by the key ring with a ``kid``.

Claims of an access token: ``token_type``, ``exp``, ``iat``, ``jti``, ``iss``, ``sub`` (user
id), ``email``, ``email_verified`` (orders takes orders from verified addresses only),
``name``, ``is_staff``, ``groups``, ``pwd_at`` (see :func:`password_stamp`).
Refresh tokens carry only ``sub``: every refresh mints the access claims again from the
database, so a user who lost staff rights or was deactivated does not keep them through
refreshes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from django.conf import settings
from rest_framework_simplejwt import tokens
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken

from users.keys import keyring

ALGORITHM = "RS256"


class KeyRingTokenBackend(TokenBackend):
    """Signs with the ring's current key (``kid`` header); verifies with the key it names."""

    def __init__(self) -> None:
        conf = settings.SIMPLE_JWT
        super().__init__(ALGORITHM, issuer=conf["ISSUER"], leeway=0)

    def encode(self, payload: dict[str, Any]) -> str:
        ring = keyring()
        return jwt.encode(
            {**payload, "iss": self.issuer},
            ring.signing_key.private_key,
            algorithm=ALGORITHM,
            headers={"kid": ring.signing_kid},
        )

    def decode(self, token: Any, verify: bool = True) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError as exc:
            raise TokenBackendError("Token is invalid") from exc
        key = keyring().get(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenBackendError("Token is signed with an unknown key")
        try:
            return jwt.decode(
                token,
                key.public_key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                options={"verify_signature": verify, "require": ["exp", "iat", "jti", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenBackendExpiredToken("Token is expired") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenBackendError("Token is invalid") from exc


backend = KeyRingTokenBackend()


class AccessToken(tokens.AccessToken):
    def get_token_backend(self) -> TokenBackend:
        return backend


class RefreshToken(tokens.RefreshToken):
    access_token_class = AccessToken

    def get_token_backend(self) -> TokenBackend:
        return backend


def access_claims(user: Any) -> dict[str, Any]:
    """The identity claims resource services read (see chassis.auth.TokenUser)."""
    return {
        "email": user.email,
        "email_verified": user.email_verified,
        "name": user.full_name,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "pwd_at": password_stamp(user),
    }


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def password_stamp(user: Any) -> int:
    """When the password last changed, in microseconds since the epoch (0: never).

    users-service refuses access tokens whose ``pwd_at`` is not the account's current stamp.
    Comparing ``iat`` instead cannot work: it has a one-second resolution, so a token issued
    in the same second as the change, before it, would stay valid.
    """
    changed = user.password_changed_at
    return (changed - _EPOCH) // timedelta(microseconds=1) if changed else 0
