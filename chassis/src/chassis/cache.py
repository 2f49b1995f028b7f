"""Django's Redis cache with values stored as JSON (reading the cache runs no code) and a
``clear()`` that removes this platform's keys only.

Django's ``RedisCache`` pickles values and un-pickles whatever it reads: anyone who can write
to the Redis (unauthenticated, local, shared by every process of every service) could run code
in every service by planting a pickle under a key a service reads (a throttle's, for one).
:class:`RedisCache` is Django's backend with :class:`JSONSerializer` as its serializer and a
value that does not decode read as a miss (logged as a warning, never an error).

``chassis.conf`` configures it whenever ``REDIS_URL`` is set. What can be cached: what
``json`` writes (dicts with string keys, lists, strings, numbers, booleans, ``None``); a tuple
comes back as a list; any other value is a ``TypeError`` on writing. Integers are stored as
Redis integers, as Django's serializer does, so ``incr``/``decr`` stay atomic.

Platforms on one machine (``make up``, the system tests' and benchmarks' platforms, the unit
suites under ``infra/local/isolated``) share one Redis database; each has a key prefix of its
own (``CACHE_KEY_PREFIX``, set by the runner and by ``isolated``; chassis.conf adds the
service's name). Django's ``RedisCache.clear()`` is ``FLUSHDB``: it would empty every other
platform's throttle counters too. Here ``clear()`` deletes the keys under this cache's prefix.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any

from django.core.cache.backends import redis

from chassis import metrics

__all__ = ["JSONSerializer", "RedisCache", "UndecodableValue"]

logger = logging.getLogger(__name__)

_BATCH = 500

Key = str | bytes | memoryview  # what redis-py takes as a key


class UndecodableValue(ValueError):
    """A value read from the cache is not one :class:`JSONSerializer` wrote."""


class JSONSerializer:
    """Values as compact UTF-8 JSON; integers as they are (Redis counts them in ``INCR``)."""

    def dumps(self, obj: Any) -> bytes | int:
        if type(obj) is int:  # not bool: a bool must come back as a bool
            return obj
        return json.dumps(obj, separators=(",", ":")).encode()

    def loads(self, data: bytes) -> Any:
        """Raises UndecodableValue for anything but an integer or JSON."""
        try:
            return int(data)
        except ValueError:
            pass
        try:
            return json.loads(data)
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise UndecodableValue(str(exc)) from None


class RedisCacheClient(redis.RedisCacheClient):
    """Django's client, reading a value its serializer refuses as a miss."""

    _serializer: Any  # set by Django's __init__ (which django-stubs does not declare)

    def get(self, key: Key, default: Any) -> Any:
        value = self.get_client(key).get(key)
        metrics.cache_read(hits=int(value is not None), misses=int(value is None))
        if value is None:
            return default
        try:
            return self._serializer.loads(value)
        except UndecodableValue as exc:
            _log_refused(key, exc)
            return default

    def get_many(self, keys: Iterable[Key]) -> dict[Key, Any]:
        names = list(keys)
        found: dict[Key, Any] = {}
        for key, value in zip(names, self.get_client(None).mget(names), strict=True):
            if value is None:
                continue
            try:
                found[key] = self._serializer.loads(value)
            except UndecodableValue as exc:
                _log_refused(key, exc)
        metrics.cache_read(hits=len(found), misses=len(names) - len(found))
        return found


class RedisCache(redis.RedisCache):
    """Django's ``RedisCache`` with :class:`JSONSerializer` unless ``OPTIONS`` names another
    ``serializer``, and ``clear()`` limited to its own ``KEY_PREFIX``."""

    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
        self._options: dict[str, Any] = {"serializer": JSONSerializer, **params.get("OPTIONS", {})}

    def clear(self) -> None:
        """Delete the keys under this cache's ``KEY_PREFIX`` only (never ``FLUSHDB``)."""
        client = self._cache.get_client(write=True)
        # Django's keys are "<prefix>:<version>:<key>"; the prefix's glob characters escaped.
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.key_prefix) + ":*"
        batch: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=_BATCH):
            batch.append(key)
            if len(batch) >= _BATCH:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)


def _log_refused(key: Key, exc: UndecodableValue) -> None:
    # Someone other than this cache wrote the value: the platform's operators want to know.
    logger.warning("cache.value_refused", extra={"key": key, "error": str(exc)})
