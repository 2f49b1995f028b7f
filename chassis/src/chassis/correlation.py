"""The correlation id (``X-Request-ID``)."""

from __future__ import annotations

__all__ = ["CORRELATION_ID"]

CORRELATION_ID = r"[A-Za-z0-9._:-]{1,100}"
