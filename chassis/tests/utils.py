"""Helpers shared by the chassis's tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from rest_framework.throttling import SimpleRateThrottle

from chassis.celery import make_celery
from tests.celery_app import app

DEAD_BROKER = "amqp://guest:guest@127.0.0.1:1//"  # nothing listens there
THROTTLED = "/api/v1/throttled/"  # tests.apis.ThrottledApi, throttle scope "probe"
# The key DRF's throttle reads for an anonymous request of the test client to THROTTLED.
PROBE_KEY = SimpleRateThrottle.cache_format % {"scope": "probe", "ident": "127.0.0.1"}


def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll ``condition`` until it returns something truthy (returned); fail at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


class Clock:
    """A clock that moves only when told to (``clock.now += 5``)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@contextmanager
def dead_broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Within the block the current Celery app (the one the relay sends through, as in a
    service) has a broker that refuses connections."""
    # Celery prefers CELERY_BROKER_URL from the environment to its configuration: without
    # this, a test run given the variable would reach the live broker.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    dead = make_celery("chassis", "tests.settings")
    dead.conf.broker_url = DEAD_BROKER
    dead.set_current()
    try:
        yield
    finally:
        app.set_current()
