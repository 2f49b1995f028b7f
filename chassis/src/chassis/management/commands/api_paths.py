"""Print, as JSON, every path this service serves: for the gateway's route coverage check.

manage.py api_paths
{"schema_paths": ["/api/v1/users/me", ...],   # the OpenAPI schema's paths
 "url_prefixes": ["/admin/users/", ...],      # literal prefix of every URL pattern
 "static_url": "/static/users/"}
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator


def _literal_prefixes(patterns: list[Any], prefix: str = "/") -> list[str]:
    """The literal start of every URL pattern (up to its first converter or regex group)."""
    found: list[str] = []
    for pattern in patterns:
        text = str(pattern.pattern).lstrip("^").removesuffix("$")
        literal = prefix + text.split("<", 1)[0].split("(", 1)[0].replace("\\", "")
        if isinstance(pattern, URLResolver):
            found += _literal_prefixes(pattern.url_patterns, literal) or [literal]
        elif isinstance(pattern, URLPattern):
            found.append(literal)
    return sorted(set(found))


class Command(BaseCommand):
    help = "Print the paths this service serves (OpenAPI paths, URL prefixes, static URL)."

    def handle(self, *args: Any, **options: Any) -> None:
        schema = SchemaGenerator().get_schema(request=None, public=True)
        self.stdout.write(
            json.dumps(
                {
                    "schema_paths": sorted(schema["paths"]),
                    "url_prefixes": _literal_prefixes(get_resolver().url_patterns),
                    "static_url": settings.STATIC_URL,
                },
                indent=2,
            )
        )
