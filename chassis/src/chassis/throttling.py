"""Cache-backed throttles that read their rates at request time (so settings can change)."""

from __future__ import annotations

from rest_framework import throttling
from rest_framework.settings import api_settings


class ScopedRateThrottle(throttling.ScopedRateThrottle):
    """DRF's scoped throttle, keyed by client IP for anonymous and user id otherwise.

    DRF binds ``THROTTLE_RATES`` at import time; this one looks the rate up on each request.
    """

    def get_rate(self) -> str | None:
        rates = api_settings.DEFAULT_THROTTLE_RATES
        return rates.get(self.scope) if self.scope else None
