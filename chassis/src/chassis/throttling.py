"""Cache-backed throttles that read their rates at request time (so settings can change)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache as shared_cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework import throttling
from rest_framework.settings import api_settings

__all__ = ["ScopedRateThrottle"]

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
    """DRF's scoped throttle, keyed by client IP for anonymous and user id otherwise.

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
