"""Cache-backed throttles that read their rates at request time (so settings can change),
keyed by the client's real address (chassis.addresses) or by the account a login names.

Logins are limited twice, through the API and the admin login form alike (chassis.admin):
per client address (scope ``login``) and per account (scope ``login-account``, keyed by the
account's caseless normal form, chassis.accounts), so neither one address guessing many
accounts nor many addresses guessing one account get far, and one address's guesses at one
account lock out neither other addresses nor other accounts.
:func:`login_attempt_check` applies both outside DRF; a refusal is :class:`LoginThrottled`,
carrying the wait in seconds.
"""

from __future__ import annotations

import hashlib
import logging
import math
from types import SimpleNamespace
from typing import Any

from django.core.cache import cache as shared_cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework import throttling
from rest_framework.settings import api_settings

from chassis.accounts import account_key
from chassis.addresses import client_address

__all__ = [
    "AccountRateThrottle",
    "AddressRateThrottle",
    "LoginThrottled",
    "ScopedRateThrottle",
    "login_attempt_check",
]

LOGIN_SCOPE = "login"
LOGIN_ACCOUNT_SCOPE = "login-account"


class LoginThrottled(Exception):
    """Too many login attempts (from this address or for this account): retry in ``wait`` s."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"too many attempts, try again in {wait} s")
        self.wait = wait


logger = logging.getLogger(__name__)


class _Histories:
    """The cache as a throttle reads it: a value that is not a list of timestamps (written by
    someone else than a throttle: anyone can write to a local Redis) reads as no history, never
    as an error. DRF's throttle calls ``get`` and ``set`` only."""

    def get(self, key: str, default: list[float]) -> list[float]:
        value = shared_cache.get(key, default)
        if isinstance(value, list) and all(type(t) in (int, float) for t in value):
            return value
        logger.warning("throttle.history_refused", extra={"key": shared_cache.make_key(key)})
        return default

    def set(self, key: str, value: list[float], timeout: Any) -> None:
        shared_cache.set(key, value, timeout)


class ScopedRateThrottle(throttling.ScopedRateThrottle):
    """DRF's scoped throttle, keyed by the client's real address for anonymous requests and
    user id otherwise.

    DRF binds ``THROTTLE_RATES`` at import time; this one looks the rate up on each request.
    """

    cache = _Histories()  # type: ignore[assignment] # the two methods DRF's throttle calls

    def get_rate(self) -> str | None:
        if not self.scope:
            return None
        rates = api_settings.DEFAULT_THROTTLE_RATES
        if self.scope not in rates:  # fail closed: a typo must not remove a rate limit
            raise ImproperlyConfigured(f"No default throttle rate set for '{self.scope}' scope")
        rate = rates[self.scope]
        return None if rate is None else str(rate)

    def get_ident(self, request: Any) -> str:
        return client_address(request)


class AddressRateThrottle(ScopedRateThrottle):
    """The view's ``throttle_scope``, always per client address (signed in or not)."""

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class AccountRateThrottle(ScopedRateThrottle):
    """The view's ``throttle_account_scope``, per account: the view's
    ``throttle_account(request)`` names it (None: not counted), compared caseless."""

    scope_attr = "throttle_account_scope"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        account = view.throttle_account(request)
        if not isinstance(account, str) or not account:
            return None
        digest = hashlib.sha256(account_key(account).encode()).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": digest}


def login_attempt_check(request: Any, *, account: str) -> None:
    """Count one login attempt for ``account`` from ``request``'s client address, in the same
    buckets as the API's login endpoint. Raises LoginThrottled when either is spent."""
    view: Any = SimpleNamespace(
        throttle_scope=LOGIN_SCOPE,
        throttle_account_scope=LOGIN_ACCOUNT_SCOPE,
        throttle_account=lambda request: account,
    )
    waits = []
    for throttle in (AddressRateThrottle(), AccountRateThrottle()):
        if not throttle.allow_request(request, view):
            waits.append(throttle.wait() or 0)
    if waits:
        raise LoginThrottled(wait=max(1, math.ceil(max(waits))))
