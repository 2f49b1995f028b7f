"""Admin sessions that follow users-service (single sign-on, chassis.sso).

A staff member signed in to catalog's (or orders') admin through users-service keeps, in the
server-side session, the refresh token users-service gave at login.
:class:`SessionRecheckMiddleware` uses it at most every ``CHASSIS["SSO"]["RECHECK_SECONDS"]``
per session: users-service
refreshes it only for an active account whose password did not change, and the new access
token carries the account's current staff flags and groups, copied onto the shadow user. So
within that interval an account deactivated, demoted or removed from a group in users-service
loses the admin, or the rights it lost, here:

* refresh refused (401/400: deactivated, password changed, token revoked) or the account is
  no longer staff: the session ends (the next page is the login form);
* users-service unreachable (timeout, 5xx, its 429): the session keeps its last known rights,
  until ``HARD_LIMIT_SECONDS`` after the last successful check; then it ends.

Signing out of an admin (Django's logout) revokes that session's refresh token at
users-service: the staff member is signed out of this service only, their sessions in the
other admins follow their own tokens. Sessions of local accounts (``createsuperuser``, no
refresh token) are left alone.
"""

from __future__ import annotations

import hashlib
import logging
import time
import urllib.error
from collections.abc import Callable
from typing import Any

from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from chassis.addresses import client_address
from chassis.auth import InvalidToken, decode_access_token
from chassis.settings import chassis_settings
from chassis.sso import _post, auth_url, shadow_user_sync

__all__ = ["SESSION_KEY", "SessionRecheckMiddleware", "session_recheck"]

logger = logging.getLogger(__name__)

SESSION_KEY = "chassis_sso"  # {"refresh": str, "checked_at": float, "ok_at": float}


def _logged_in(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    refresh = getattr(user, "sso_refresh", None)
    if refresh and hasattr(request, "session"):
        now = time.time()
        request.session[SESSION_KEY] = {"refresh": refresh, "checked_at": now, "ok_at": now}


def _logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    state = request.session.get(SESSION_KEY) if request is not None else None
    if not state:
        return
    try:  # best effort: the session ends here whatever users-service says
        _post(auth_url("logout"), {"refresh": state["refresh"]}, client_ip=None)
    except (OSError, ValueError):
        logger.warning("sso.logout_unrevoked")


user_logged_in.connect(_logged_in, dispatch_uid="chassis.sessions.logged_in")
user_logged_out.connect(_logged_out, dispatch_uid="chassis.sessions.logged_out")


def session_recheck(request: HttpRequest, *, now: float) -> bool:
    """Re-check the session's account against users-service when it is due; False when the
    session must end (it is then ended). Changes the shadow user to the token's claims."""
    state = request.session.get(SESSION_KEY)
    conf = chassis_settings.SSO
    if not state or now - state["checked_at"] < conf["RECHECK_SECONDS"]:
        return True
    # One re-check per session at a time: a refresh rotates the token, so a concurrent request
    # of the same session (loaded before this one saves the new token) would present the old
    # one, be refused, and end a session that is fine. It skips, keeping the rights it has.
    if _checking_elsewhere(request, now=now, hold=max(1, min(conf["RECHECK_SECONDS"], 30))):
        return True
    try:
        pair = _post(
            auth_url("refresh"), {"refresh": state["refresh"]}, client_ip=client_address(request)
        )
        claims = decode_access_token(str(pair.get("access")))
    except urllib.error.HTTPError as exc:
        if exc.code in (400, 401, 403):
            return _end(request, reason=f"refused ({exc.code})")
        return _unreachable(request, state, now=now, error=f"HTTP {exc.code}")
    except InvalidToken:
        return _end(request, reason="token rejected")
    except (OSError, ValueError) as exc:
        return _unreachable(request, state, now=now, error=str(exc))
    if claims.get("is_staff") is not True or str(claims.get("sub")) != request.user.get_username():
        return _end(request, reason="no longer staff")
    shadow_user_sync(claims)
    request.session[SESSION_KEY] = {"refresh": pair.get("refresh"), "checked_at": now, "ok_at": now}
    return True


def _checking_elsewhere(request: HttpRequest, *, now: float, hold: float) -> bool:
    """True when another request of this session started a re-check less than ``hold``
    seconds ago; else this one takes the turn."""
    session_key = request.session.session_key
    if not session_key:
        return False
    key = f"chassis:sso-recheck:{hashlib.sha256(session_key.encode()).hexdigest()}"
    if cache.add(key, now, timeout=int(hold)):
        return False
    started = cache.get(key)
    if isinstance(started, (int, float)) and now - started < hold:
        return True
    cache.set(key, now, timeout=int(hold))
    return False


def _unreachable(request: HttpRequest, state: dict[str, Any], *, now: float, error: str) -> bool:
    if now - state["ok_at"] > chassis_settings.SSO["HARD_LIMIT_SECONDS"]:
        return _end(request, reason=f"users-service unreachable past the hard limit: {error}")
    logger.warning("sso.recheck_unavailable", extra={"error": error})
    request.session[SESSION_KEY] = {**state, "checked_at": now}
    return True


def _end(request: HttpRequest, *, reason: str) -> bool:
    logger.info("sso.session_ended", extra={"user": request.user.get_username(), "reason": reason})
    request.session.pop(SESSION_KEY, None)  # nothing left to revoke
    logout(request)
    return False


class SessionRecheckMiddleware:
    """After AuthenticationMiddleware: :func:`session_recheck` for signed-in sessions."""

    clock: Callable[[], float] = staticmethod(time.time)

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and SESSION_KEY in session and request.user.is_authenticated:
            session_recheck(request, now=self.clock())
        return self.get_response(request)
