"""The OpenAPI document at /api/v1/orders/schema/, the self-hosted Swagger UI, the probes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from chassis.pytest_plugin import HTTPS
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework.views import APIView

SCHEMA = "/api/v1/orders/schema/"
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
API_PATHS = {
    "/api/v1/orders/": {"get", "post"},
    "/api/v1/orders/{order_id}": {"get"},
    "/api/v1/orders/{order_id}/cancel": {"post"},
    "/api/v1/orders/{order_id}/ship": {"post"},
}
ERRORS = {
    ("/api/v1/orders/", "get"): {"400", "401"},
    ("/api/v1/orders/", "post"): {"400", "401", "403", "413", "422", "429"},
    ("/api/v1/orders/{order_id}", "get"): {"400", "401", "404"},
    ("/api/v1/orders/{order_id}/cancel", "post"): {"400", "401", "403", "404", "409", "413"},
    ("/api/v1/orders/{order_id}/ship", "post"): {"400", "401", "403", "404", "409", "413"},
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


def test_the_schema_documents_exactly_every_route(schema: dict[str, Any]):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "orders-service API"
    assert {path: set(item) for path, item in schema["paths"].items()} == API_PATHS
    assert api_routes() == set(API_PATHS)


def test_every_operation_documents_its_errors_as_problems(schema: dict[str, Any]):
    for (path, method), codes in ERRORS.items():
        responses = schema["paths"][path][method]["responses"]
        assert {code for code in responses if code >= "400"} == codes, (path, method)
        for code in codes:
            assert responses[code]["content"] == PROBLEM, (path, method, code)
            assert responses[code]["description"], (path, method, code)


def test_placing_documents_the_idempotency_key(schema: dict[str, Any]):
    operation = schema["paths"]["/api/v1/orders/"]["post"]

    assert operation["parameters"] == [
        {
            "in": "header",
            "name": "Idempotency-Key",
            "schema": {"type": "string"},
            "description": (
                "A unique key per order attempt (a UUID): a retry with the same key and body "
                "returns the first answer (with `Idempotent-Replayed: true`) and never places a "
                "second order."
            ),
            "required": True,
        }
    ]
    assert set(operation["responses"]["201"]["headers"]) == {"Location", "Idempotent-Replayed"}
    assert "Idempotency-Key" in operation["responses"]["422"]["description"]
    assert "account-deactivated" in operation["responses"]["403"]["description"]
    assert operation["requestBody"]["required"] is True


def test_the_conflicts_are_documented(schema: dict[str, Any]):
    for action in ("cancel", "ship"):
        response = schema["paths"][f"/api/v1/orders/{{order_id}}/{action}"]["post"]["responses"]
        assert response["409"]["description"] == "The order's status does not allow this."


def test_the_request_bodies_refuse_unknown_fields(schema: dict[str, Any]):
    components = schema["components"]["schemas"]

    place = components["OrderPlaceInputRequest"]
    line = components["OrderLineInputRequest"]
    assert (place["additionalProperties"], line["additionalProperties"]) == (False, False)
    assert place["required"] == ["lines"]
    assert line["properties"]["quantity"] == {
        "type": "integer",
        "minimum": 1,
        "description": "At most ORDERS_MAX_UNITS_PER_LINE (default 100): more is a 422 "
        "`limit-units-per-line`.",
    }
    assert components["OrderCancelInputRequest"]["additionalProperties"] is False


def test_the_order_shape(schema: dict[str, Any]):
    order = schema["components"]["schemas"]["OrderOutput"]

    assert list(order["properties"]) == [
        "id",
        "user_id",
        "status",
        "currency",
        "total",
        "lines",
        "rejection_reasons",
        "cancel_reason",
        "created_at",
        "updated_at",
    ]
    assert sorted(order["required"]) == sorted(order["properties"])
    assert order["properties"]["status"]["allOf"] == [{"$ref": "#/components/schemas/StatusEnum"}]
    assert order["properties"]["total"]["type"] == "string"
    assert schema["components"]["schemas"]["StatusEnum"]["enum"] == [
        "PENDING",
        "CONFIRMED",
        "REJECTED",
        "CANCELLED",
        "SHIPPED",
    ]


def test_the_list_documents_its_filters(schema: dict[str, Any]):
    parameters = schema["paths"]["/api/v1/orders/"]["get"]["parameters"]

    assert sorted(p["name"] for p in parameters) == [
        "created_after",
        "created_before",
        "cursor",
        "page_size",
        "status",
        "user_id",
    ]
    status = next(p for p in parameters if p["name"] == "status")
    assert status["schema"]["type"] == "array"
    assert status["schema"]["items"]["enum"] == [
        "CANCELLED",
        "CONFIRMED",
        "PENDING",
        "REJECTED",
        "SHIPPED",
    ]


def test_the_schema_needs_no_credentials():
    assert APIClient(**HTTPS).get(SCHEMA).status_code == 200


def test_the_docs_render(client: Client, collected_static: Path):
    response = client.get("/docs/orders/")

    assert response.status_code == 200
    assert b"swagger-ui" in response.content
    assert SCHEMA.encode() in response.content
    assert b"/static/orders/" in response.content  # self-hosted, no CDN


def test_healthz(client: Client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_answers_plain_http_and_any_host():
    response = Client().get("/healthz", HTTP_HOST="10.1.2.3:8000")

    assert response.status_code == 200


def test_the_403s_name_the_roles_needed(schema: dict[str, Any]):
    ship = schema["paths"]["/api/v1/orders/{order_id}/ship"]["post"]["responses"]["403"]
    cancel = schema["paths"]["/api/v1/orders/{order_id}/cancel"]["post"]["responses"]["403"]

    assert ship["description"] == (
        "Authenticated but not allowed. Needs the role order-managers or superuser."
    )
    assert cancel["description"] == "Another buyer's order: needs the role order-managers."
