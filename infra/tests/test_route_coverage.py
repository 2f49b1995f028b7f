"""Gateway route coverage: every path a service serves is reachable through a kong.yml route
of that service, and every route leads to something its service serves.

Each service reports its paths with the chassis command `manage.py api_paths` (OpenAPI paths,
URL pattern prefixes, static URL); routes are matched as Kong matches them (longest prefix).
A service that adds an endpoint no route exposes fails here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cache

import pytest
import yaml

from conftest import ROOT, SERVICES

KONG = ROOT / "gateway-config" / "kong.yml"


def routes() -> list[tuple[str, str, str]]:
    """(path prefix, route name, service name) for every route in kong.yml."""
    document = yaml.safe_load(KONG.read_text())
    return [
        (path, route["name"], service["name"])
        for service in document["services"]
        for route in service["routes"]
        for path in route["paths"]
    ]


def route_for(path: str, table: list[tuple[str, str, str]]) -> tuple[str, str, str] | None:
    """Kong's choice for ``path``: the longest matching prefix, or None (404)."""
    matches = [entry for entry in table if path.startswith(entry[0])]
    return max(matches, key=lambda entry: len(entry[0]), default=None)


@cache
def served(service: str) -> dict:
    env = {**os.environ, "SECRET_KEY": "route-coverage-check-only", "DEBUG": "false"}
    out = subprocess.run(
        [ROOT / service / ".venv/bin/python", "manage.py", "api_paths"],
        cwd=ROOT / service,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def concrete(path: str) -> str:
    """An OpenAPI path template with sample values: /users/{user_id} -> /users/x."""
    return re.sub(r"\{[^}]+\}", "x", path)


def test_route_table_matches_kong_longest_prefix_rule() -> None:
    table = [("/api/v1/users/", "api", "users"), ("/api/v1/users/schema/", "schema", "users")]
    assert route_for("/api/v1/users/schema/", table)[1] == "schema"
    assert route_for("/api/v1/users/me", table)[1] == "api"
    assert route_for("/api/v1/orders/", table) is None


def test_an_endpoint_without_a_route_is_reported() -> None:
    """The check's own failure mode: a new path outside every route is caught."""
    table = routes()
    unrouted = [
        p for p in ["/api/v1/users/me", "/api/v1/brand-new/"] if route_for(p, table) is None
    ]
    assert unrouted == ["/api/v1/brand-new/"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_path_of_the_service_is_reachable_through_its_routes(service: str) -> None:
    table = routes()
    paths = served(service)
    wanted = (
        [concrete(p) for p in paths["schema_paths"]] + paths["url_prefixes"] + [paths["static_url"]]
    )
    misrouted = {p: route_for(p, table) for p in wanted}
    assert {p: r for p, r in misrouted.items() if r is None or r[2] != service} == {}


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_leads_to_a_path_its_service_serves(service: str) -> None:
    paths = served(service)
    known = (
        [concrete(p) for p in paths["schema_paths"]] + paths["url_prefixes"] + [paths["static_url"]]
    )
    dead = [
        (prefix, name)
        for prefix, name, owner in routes()
        if owner == service and not any(p.startswith(prefix) for p in known)
    ]
    assert dead == []


def test_every_route_belongs_to_a_known_service() -> None:
    assert sorted({owner for _, _, owner in routes()}) == SERVICES
