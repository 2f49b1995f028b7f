"""Cache-backed throttles that read their rates at request time (so settings can change)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from rest_framework import throttling
from rest_framework.settings import api_settings

__all__ = ["ScopedRateThrottle"]


class ScopedRateThrottle(throttling.ScopedRateThrottle):
    """DRF's scoped throttle, keyed by client IP for anonymous and user id otherwise.

    DRF binds ``THROTTLE_RATES`` at import time; this one looks the rate up on each request.
    """

    def get_rate(self) -> str | None:
        if not self.scope:
            return None
        rates = api_settings.DEFAULT_THROTTLE_RATES
        if self.scope not in rates:  # fail closed: a typo must not remove a rate limit
            raise ImproperlyConfigured(f"No default throttle rate set for '{self.scope}' scope")
        rate = rates[self.scope]
        return None if rate is None else str(rate)
