"""Staff single sign-on into a resource service's Django admin with a users-service account.

The admin login form of catalog (or orders) takes the staff member's users-service email and
password. :class:`UsersServiceBackend` sends them to users-service's token endpoint (the
password never touches this service's database), verifies the returned access token with
the JWKS exactly as API requests are verified, and signs in a local *shadow* user keyed by
the token's ``sub``: a Django user whose email, name, staff/superuser flags and groups are
copied from the claims at every login. Permissions of non-superuser staff come from the
service's own groups with the same names as their users-service groups, so each service
decides what, say, ``catalog-editors`` may do in its admin (chassis.roles). The session then
follows users-service: chassis.sessions re-checks the account with its refresh token.

Only staff get in (``is_staff`` claim); a non-staff account or bad credentials get the
admin's usual "enter a correct email and password" message. The staff member's real address
(chassis.addresses) goes to users-service in ``X-Forwarded-For``, which users-service believes
because this service's address is in its ``TRUSTED_PROXIES``; its login throttles then count
per staff member and per account, and when one refuses (429) the admin login form says
"too many attempts, try again in N s" (:class:`~chassis.throttling.LoginThrottled`, shown by
chassis.admin.LoginForm). Local accounts made with
``createsuperuser`` keep working through Django's ModelBackend, listed after this one.

Settings: ``CHASSIS["SSO"] = {"TOKEN_URL": ..., "TIMEOUT_SECONDS": 5}`` (``USERS_TOKEN_URL``
in the environment, see chassis.conf).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.db import transaction
from django.http import HttpRequest

from chassis.addresses import client_address
from chassis.auth import InvalidToken, decode_access_token
from chassis.settings import chassis_settings
from chassis.throttling import LoginThrottled

__all__ = [
    "UsersServiceBackend",
    "auth_url",
    "obtain_access_token",
    "obtain_tokens",
    "shadow_user_sync",
]

logger = logging.getLogger(__name__)


def _post(url: str, payload: dict[str, str], *, client_ip: str | None) -> dict[str, Any]:
    """POST JSON to users-service; its JSON answer. Raises urllib's HTTPError for a 4xx/5xx,
    OSError or ValueError when it cannot be reached or answers something else than JSON."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"USERS_TOKEN_URL must be http(s): {url!r}")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if client_ip:
        headers["X-Forwarded-For"] = client_ip
    body = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    timeout = chassis_settings.SSO["TIMEOUT_SECONDS"]
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        answer = json.load(response) if response.status != 204 else {}
    if not isinstance(answer, dict):
        raise ValueError("users-service answered something else than a JSON object")
    return answer


def auth_url(name: str) -> str:
    """users-service's auth endpoint next to the token endpoint (``refresh``: the token's
    refresh, ``logout``: its revocation), from ``CHASSIS["SSO"]["TOKEN_URL"]``."""
    token_url = str(chassis_settings.SSO["TOKEN_URL"])
    base = token_url.removesuffix("/token")
    return f"{token_url}/refresh" if name == "refresh" else f"{base}/{name}"


def obtain_tokens(email: str, password: str, *, client_ip: str | None) -> dict[str, Any] | None:
    """Log in at users-service; its token pair (``access``, ``refresh``), or None for refused
    credentials.

    The staff member's address is passed on in ``X-Forwarded-For`` so users-service's
    per-address login throttle counts them, not this service or the gateway. Raises
    LoginThrottled when users-service refuses for too many attempts (429).
    """
    url = chassis_settings.SSO["TOKEN_URL"]
    try:
        pair = _post(url, {"email": email, "password": password}, client_ip=client_ip)
    except urllib.error.HTTPError as exc:
        if exc.code == 429:
            raise LoginThrottled(wait=_retry_after(exc.headers.get("Retry-After"))) from None
        if exc.code not in (400, 401):
            logger.warning("sso.login_failed", extra={"status": exc.code, "url": url})
        return None
    except (OSError, ValueError):  # users-service down, timeout, not JSON
        logger.exception("sso.login_unavailable", extra={"url": url})
        return None
    return pair if isinstance(pair.get("access"), str) else None


def obtain_access_token(email: str, password: str, *, client_ip: str | None) -> str | None:
    """Log in at users-service; the access token, or None (see :func:`obtain_tokens`)."""
    pair = obtain_tokens(email, password, client_ip=client_ip)
    return None if pair is None else pair["access"]


def _retry_after(value: str | None) -> int:
    """The seconds of a ``Retry-After`` header (a minute when it is missing or a date)."""
    try:
        return max(1, int(str(value)))
    except ValueError:
        return 60


@transaction.atomic
def shadow_user_sync(claims: dict[str, Any]) -> Any:
    """Create or update the local user of the token's subject from its claims."""
    user_model = get_user_model()
    user, _ = user_model.objects.select_for_update().get_or_create(
        username=str(claims["sub"])[:150], defaults={"is_active": True}
    )
    user.email = str(claims.get("email", ""))[:254]
    user.first_name = str(claims.get("name", ""))[:150]
    user.is_staff = claims.get("is_staff") is True
    user.is_superuser = claims.get("is_superuser") is True
    if user.has_usable_password():
        user.set_unusable_password()  # it signs in through users-service only
    user.save()
    names = claims.get("groups") or []
    if isinstance(names, list):
        user.groups.set(Group.objects.filter(name__in=[n for n in names if isinstance(n, str)]))
    return user


class UsersServiceBackend(ModelBackend):
    """Django authentication backend: admin login with a users-service staff account.

    Permissions are ModelBackend's (the shadow user's local groups, or superuser).
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if not username or not password or "@" not in username:
            return None  # local usernames (createsuperuser) are ModelBackend's
        client_ip = client_address(request) if request is not None else None
        pair = obtain_tokens(username, password, client_ip=client_ip)
        if pair is None:
            return None
        try:
            claims = decode_access_token(pair["access"])
        except InvalidToken:
            logger.warning("sso.token_rejected")
            return None
        if claims.get("is_staff") is not True:
            return None
        user = shadow_user_sync(claims)
        # Kept in the session at login (chassis.sessions): the re-checks refresh it.
        user.sso_refresh = pair.get("refresh") if isinstance(pair.get("refresh"), str) else None
        return user
