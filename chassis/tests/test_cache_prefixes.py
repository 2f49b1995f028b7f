"""The cache of a service on a Redis shared by several platforms (real Redis): each keeps to
its own keys (``CACHE_KEY_PREFIX``), throttle counters included, and clearing one cache
(the tests do it around every test) leaves the other platforms' keys alone."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import CacheHandler
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
from rest_framework.throttling import SimpleRateThrottle

from chassis.conf import _cache

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def platforms() -> Iterator[tuple[Any, Any]]:
    """The users cache of two platforms (``CACHE_KEY_PREFIX`` of each, as the runner sets)."""
    run = secrets.token_hex(4)
    handler = CacheHandler(
        {
            "a": _cache(REDIS, f"a{run}:users"),
            "b": _cache(REDIS, f"b{run}:users"),
        }
    )
    yield handler["a"], handler["b"]
    for cache in (handler["a"], handler["b"]):
        client = cache._cache.get_client(write=True)
        for key in client.scan_iter(match=f"*{run}:users:*"):
            client.delete(key)
    handler.close_all()


class LoginThrottle(SimpleRateThrottle):
    rate = "2/min"
    scope = "login"

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def allowed(cache: Any) -> bool:
    throttle = LoginThrottle()
    throttle.cache = cache
    return throttle.allow_request(Request(APIRequestFactory().post("/login")), None)


def test_a_throttle_counter_of_one_platform_does_not_count_on_another(platforms):
    a, b = platforms

    assert [allowed(a), allowed(a), allowed(a)] == [True, True, False]

    assert [allowed(b), allowed(b), allowed(b)] == [True, True, False]


def test_clearing_one_platforms_cache_leaves_the_others_keys(platforms):
    a, b = platforms
    a.set("jwks", "a's keys")
    b.set("jwks", "b's keys")
    other = b._cache.get_client(write=True)
    other.set("not-a-platform-key", "kept", ex=60)

    a.clear()

    assert a.get("jwks") is None
    assert b.get("jwks") == "b's keys"
    assert other.get("not-a-platform-key") == b"kept"
    other.delete("not-a-platform-key")
