"""A cache backend standing for an unreachable cache server (Redis down)."""

from typing import Any

from django.core.cache.backends.base import BaseCache


class UnreachableCache(BaseCache):
    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)

    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        raise ConnectionError("cache server unreachable")

    def set(self, key: str, value: Any, timeout: Any = None, version: int | None = None) -> None:
        raise ConnectionError("cache server unreachable")

    def clear(self) -> None:
        pass
