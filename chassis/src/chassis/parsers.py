"""A JSON parser that enforces a body size limit and survives hostile nesting.

DRF's parsers read the request stream directly, so Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``
never applies to JSON bodies; this parser applies it (as a 413) before decoding.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers

from chassis.errors import PayloadTooLarge

__all__ = ["JSONParser"]


class JSONParser(parsers.JSONParser):
    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise PayloadTooLarge()
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError as exc:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from exc
