"""The OpenAPI document at /api/v1/catalog/schema/ and the self-hosted Swagger UI."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from chassis.pytest_plugin import HTTPS
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework.views import APIView

SCHEMA = "/api/v1/catalog/schema/"
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
API_PATHS = {
    "/api/v1/catalog/products/": {"get", "post"},
    "/api/v1/catalog/products/{product_id}": {"get", "patch"},
    "/api/v1/catalog/products/by-slug/{slug}": {"get"},
    "/api/v1/catalog/products/{product_id}/deactivate": {"post"},
    "/api/v1/catalog/products/{product_id}/stock": {"post"},
    "/api/v1/catalog/products/{product_id}/stock-movements": {"get"},
    "/api/v1/catalog/categories/": {"get", "post"},
    "/api/v1/catalog/categories/tree": {"get"},
    "/api/v1/catalog/categories/{category_id}": {"get", "patch", "delete"},
}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    response = APIClient(**HTTPS).get(SCHEMA, {"format": "json"})
    assert response.status_code == 200
    return response.json()


def api_routes(resolver: URLResolver | None = None, prefix: str = "") -> set[str]:
    """Every route of the URLconf served by an APIView, but the schema view itself."""
    found = set()
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found |= api_routes(pattern, route)
        elif isinstance(pattern, URLPattern):
            view = getattr(pattern.callback, "cls", None)
            if view and issubclass(view, APIView) and pattern.name not in ("schema", "docs"):
                found.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))
    return found


def test_schema_documents_exactly_every_route(schema: dict[str, Any]):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "catalog-service API"
    assert {path: set(item) for path, item in schema["paths"].items()} == API_PATHS
    assert api_routes() == set(API_PATHS)


def test_schema_is_served_as_yaml_by_default():
    response = Client(**HTTPS).get(SCHEMA)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")


def test_schema_generation_has_no_warnings_and_validates():
    out = StringIO()

    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )

    assert '"openapi"' in out.getvalue()


def test_the_product_list_documents_its_query_and_its_400(schema: dict[str, Any]):
    operation = schema["paths"]["/api/v1/catalog/products/"]["get"]

    assert {p["name"] for p in operation["parameters"]} == {
        "q",
        "category",
        "min_price",
        "max_price",
        "in_stock",
        "ordering",
        "cursor",
        "page_size",
    }
    ordering = next(p for p in operation["parameters"] if p["name"] == "ordering")
    assert set(ordering["schema"]["enum"]) == {
        "name",
        "-name",
        "price",
        "-price",
        "newest",
        "oldest",
    }
    assert operation["responses"]["400"]["content"] == PROBLEM
    assert "security" not in operation  # public


def test_lists_document_their_400(schema: dict[str, Any]):
    for path in (
        "/api/v1/catalog/categories/",
        "/api/v1/catalog/products/{product_id}/stock-movements",
    ):
        assert schema["paths"][path]["get"]["responses"]["400"]["content"] == PROBLEM


def test_writes_need_a_token_and_document_their_errors(schema: dict[str, Any]):
    writes = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in ("post", "patch", "delete")
    ]
    assert len(writes) == 7
    for path, method, operation in writes:
        assert operation["security"] == [{"jwtAuth": []}], (path, method)
        for code in ("401", "403"):
            assert operation["responses"][code]["content"] == PROBLEM, (path, method, code)
        if method != "delete":
            assert operation["responses"]["400"]["content"] == PROBLEM


def test_product_reads_take_a_token_optionally(schema: dict[str, Any]):
    for path in (
        "/api/v1/catalog/products/{product_id}",
        "/api/v1/catalog/products/by-slug/{slug}",
    ):
        assert schema["paths"][path]["get"]["security"] == [{"jwtAuth": []}, {}]


def test_the_stock_request_is_documented(schema: dict[str, Any]):
    body = schema["paths"]["/api/v1/catalog/products/{product_id}/stock"]["post"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    component = schema["components"]["schemas"][ref]

    assert set(component["properties"]) == {"mode", "quantity", "reason", "reference"}
    assert component["properties"]["quantity"]["type"] == "integer"
    assert component["additionalProperties"] is False


def test_swagger_ui_is_served_with_self_hosted_assets(collected_static: Path):
    client = Client(**HTTPS)

    response = client.get("/docs/catalog/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    html = response.content.decode()
    assert SCHEMA in html
    assets = re.findall(r'(?:src|href)="(/static/catalog/[^"]+)"', html)
    assert len(assets) == 4  # css, bundle, standalone preset, favicon
    assert "//cdn" not in html
    assert "unpkg" not in html
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        b"".join(served.streaming_content)


def test_conflicts_are_documented_where_services_raise_them(schema: dict[str, Any]):
    conflicts = sorted(
        (path, method)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "409" in operation.get("responses", {})
    )

    assert conflicts == [
        ("/api/v1/catalog/categories/", "post"),
        ("/api/v1/catalog/categories/{category_id}", "delete"),
        ("/api/v1/catalog/categories/{category_id}", "patch"),
        ("/api/v1/catalog/products/", "post"),
        ("/api/v1/catalog/products/{product_id}", "patch"),
        ("/api/v1/catalog/products/{product_id}/stock", "post"),
    ]
    for path, method in conflicts:
        content = schema["paths"][path][method]["responses"]["409"]["content"]
        assert content == PROBLEM
