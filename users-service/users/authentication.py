"""users-service's own request authentication: stateful (it owns the accounts).

simplejwt's JWTAuthentication with two additions: the user must still be active (simplejwt
checks) and the token must have been issued after the user's last password change (its
``pwd_at`` claim names the password it was issued under, see users.tokens.password_stamp).
"""

from __future__ import annotations

from typing import Any, cast

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from users.models import User
from users.tokens import password_stamp


class AccessTokenAuthentication(JWTAuthentication):
    www_authenticate_realm = "api"

    def get_user(self, validated_token: Any) -> User:  # type: ignore[override]
        user = cast(User, super().get_user(validated_token))
        changed = user.password_changed_at
        if changed is not None and validated_token.get("pwd_at") != password_stamp(user):
            raise AuthenticationFailed(
                "Token was issued before the last password change.", code="token-not-valid"
            )
        return user
