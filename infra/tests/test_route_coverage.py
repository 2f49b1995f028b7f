"""Gateway route coverage: every path a service serves is reachable through a kong.yml route
of that service, and every route leads to something its service serves.

Each service reports its paths with the chassis command `manage.py api_paths` (OpenAPI paths,
URL pattern prefixes, static URL) and its operations with `manage.py spectacular`; routes are
matched as Kong matches them (methods, then the longest prefix). A service that adds an
endpoint (or a method) no route exposes fails here.
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
# Every method a client may send for a path: its operations, plus HEAD with GET (Django serves
# it) and OPTIONS (CORS preflights must match a route before Kong's cors plugin answers).
Route = tuple[str, str, str, tuple[str, ...]]  # path prefix, route name, service, methods


def routes() -> list[Route]:
    """(path prefix, route name, service name, methods or ()) for every route in kong.yml."""
    document = yaml.safe_load(KONG.read_text())
    return [
        (path, route["name"], service["name"], tuple(route.get("methods") or ()))
        for service in document["services"]
        for route in service["routes"]
        for path in route["paths"]
    ]


def route_for(path: str, table: list[Route], method: str = "GET") -> Route | None:
    """Kong's choice for ``method path``: among the routes whose prefix and methods match, a
    route with methods before any without, then the longest prefix; None is Kong's 404."""
    matches = [e for e in table if path.startswith(e[0]) and (not e[3] or method in e[3])]
    return max(matches, key=lambda e: (bool(e[3]), len(e[0])), default=None)


@cache
def served(service: str) -> dict:
    # Production settings; the URLs they require are placeholders nothing connects to.
    env = {
        **os.environ,
        "SECRET_KEY": "route-coverage-check-only",
        "DEBUG": "false",
        "DATABASE_URL": "sqlite:///:memory:",
        "CELERY_BROKER_URL": "memory://",
        "JWKS_URL": "http://unused.invalid/.well-known/jwks.json",
        "USERS_TOKEN_URL": "http://unused.invalid/api/v1/auth/token",
    }

    def manage(*args: str) -> str:
        return subprocess.run(
            [ROOT / service / ".venv/bin/python", "manage.py", *args],
            cwd=ROOT / service,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    paths = json.loads(manage("api_paths"))
    schema = json.loads(manage("spectacular", "--format", "openapi-json"))
    paths["operations"] = sorted(
        (method.upper(), concrete(path))
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "head", "options", "post", "put", "patch", "delete"}
    )
    return paths


def requests_served(service: str) -> list[tuple[str, str]]:
    """(method, path) of every request the service answers, as a client would send it."""
    paths = served(service)
    wanted = set(paths["operations"])
    for method, path in paths["operations"]:
        wanted.add(("OPTIONS", path))
        if method == "GET":
            wanted.add(("HEAD", path))
    for prefix in [*paths["url_prefixes"], paths["static_url"]]:  # admin forms post too
        wanted |= {("GET", prefix), ("POST", prefix)}
    return sorted(wanted)


def concrete(path: str) -> str:
    """An OpenAPI path template with sample values: /users/{user_id} -> /users/x."""
    return re.sub(r"\{[^}]+\}", "x", path)


def test_route_table_matches_kong_router_rules() -> None:
    table: list[Route] = [
        ("/api/v1/users/", "api", "users", ()),
        ("/api/v1/users/schema/", "schema", "users", ()),
        ("/api/v1/catalog/", "read", "catalog", ("GET", "HEAD")),
        ("/api/v1/catalog/", "write", "catalog", ("POST",)),
        ("/api/v1/catalog/products/", "longer", "catalog", ()),
    ]
    assert route_for("/api/v1/users/schema/", table)[1] == "schema"
    assert route_for("/api/v1/users/me", table)[1] == "api"
    assert route_for("/api/v1/orders/", table) is None
    assert route_for("/api/v1/catalog/tree", table, "HEAD")[1] == "read"
    assert route_for("/api/v1/catalog/tree", table, "PUT") is None
    # methods outrank a longer path without them
    assert route_for("/api/v1/catalog/products/1", table, "POST")[1] == "write"
    assert route_for("/api/v1/catalog/products/1", table, "PUT")[1] == "longer"


def test_an_endpoint_without_a_route_is_reported() -> None:
    """The check's own failure mode: a new path (or method) outside every route is caught."""
    table = routes()
    unrouted = [
        (m, p)
        for m, p in [
            ("GET", "/api/v1/users/me"),
            ("GET", "/api/v1/brand-new/"),
            ("PURGE", "/api/v1/catalog/products/"),
        ]
        if route_for(p, table, m) is None
    ]
    assert unrouted == [("GET", "/api/v1/brand-new/"), ("PURGE", "/api/v1/catalog/products/")]


@pytest.mark.parametrize("service", SERVICES)
def test_every_path_of_the_service_is_reachable_through_its_routes(service: str) -> None:
    table = routes()
    misrouted = {(m, p): route_for(p, table, m) for m, p in requests_served(service)}
    assert {k: r for k, r in misrouted.items() if r is None or r[2] != service} == {}


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_leads_to_a_path_its_service_serves(service: str) -> None:
    known = requests_served(service)
    dead = [
        (prefix, name)
        for prefix, name, owner, methods in routes()
        if owner == service
        and not any(p.startswith(prefix) and (not methods or m in methods) for m, p in known)
    ]
    assert dead == []


def test_every_route_belongs_to_a_known_service() -> None:
    assert sorted({owner for _, _, owner, _ in routes()}) == sorted(SERVICES)
