"""users-service's own request authentication: stateful (it owns the accounts).

simplejwt's JWTAuthentication with two additions: the user must still be active (simplejwt
checks) and the token must have been issued after the user's last password change.
"""

from __future__ import annotations

from typing import Any

from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from users.models import User


class AccessTokenAuthentication(JWTAuthentication):
    www_authenticate_realm = "api"

    def get_user(self, validated_token: Any) -> User:
        user = super().get_user(validated_token)
        changed = user.password_changed_at
        if changed is not None and int(validated_token["iat"]) < int(changed.timestamp()):
            raise AuthenticationFailed(
                "Token was issued before the last password change.", code="token-not-valid"
            )
        return user
