"""The Redis cache of every service: keys of one platform only, cleared without touching others.

Platforms on one machine (``make up``, the system tests' and benchmarks' platforms, the unit
suites under ``infra/local/isolated``) share one Redis database; each has a key prefix of
its own (``CACHE_KEY_PREFIX``, set by the runner and by ``isolated``; chassis.conf adds the
service's name). Django's ``RedisCache.clear()`` is ``FLUSHDB``: it would empty every other
platform's throttle counters and cached keys too. Here ``clear()`` deletes the keys under
this cache's prefix only.
"""

from __future__ import annotations

import re

from django.core.cache.backends.redis import RedisCache

__all__ = ["PrefixedRedisCache"]

_BATCH = 500


class PrefixedRedisCache(RedisCache):
    """Django's Redis cache whose ``clear()`` removes its own keys (``KEY_PREFIX``) only."""

    def clear(self) -> None:
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
