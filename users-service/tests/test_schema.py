"""The OpenAPI 3 document (drf-spectacular + chassis.openapi) and the self-hosted Swagger UI."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework.views import APIView

from tests.conftest import HTTPS

SCHEMA = "/api/v1/users/schema/"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
API_PATHS = {
    "/.well-known/jwks.json": {"get"},
    "/api/v1/auth/register": {"post"},
    "/api/v1/auth/token": {"post"},
    "/api/v1/auth/token/refresh": {"post"},
    "/api/v1/auth/logout": {"post"},
    "/api/v1/auth/password-reset": {"post"},
    "/api/v1/auth/password-reset/confirm": {"post"},
    "/api/v1/auth/verify-email": {"post"},
    "/api/v1/auth/verify-email/resend": {"post"},
    "/api/v1/users/": {"get"},
    "/api/v1/users/me": {"get", "patch", "delete"},
    "/api/v1/users/me/password": {"post"},
    "/api/v1/users/{user_id}": {"get"},
    "/api/v1/users/{user_id}/deactivate": {"post"},
}
PUBLIC = {
    "/.well-known/jwks.json",
    "/api/v1/auth/register",
    "/api/v1/auth/token",
    "/api/v1/auth/token/refresh",
    "/api/v1/auth/logout",
    "/api/v1/auth/password-reset",
    "/api/v1/auth/password-reset/confirm",
    "/api/v1/auth/verify-email",
    "/api/v1/auth/verify-email/resend",
}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    response = APIClient(**HTTPS).get(SCHEMA, {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operations(schema: dict[str, Any]):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def api_views(resolver: URLResolver | None = None, prefix: str = "") -> list[tuple[str, type]]:
    """Every (route, APIView class) of the URLconf but the schema and Swagger UI views."""
    found = []
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += api_views(pattern, route)
        elif isinstance(pattern, URLPattern):
            view = getattr(pattern.callback, "cls", None)
            if view and issubclass(view, APIView) and pattern.name not in ("schema", "docs"):
                found.append((route, view))
    return found


def test_schema_is_openapi_3_and_lists_exactly_the_api(schema: dict[str, Any]):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "users-service API"
    assert {path: set(item) for path, item in schema["paths"].items()} == API_PATHS


def test_every_api_route_of_the_urlconf_is_in_the_schema(schema: dict[str, Any]):
    routes = {"/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route) for route, _ in api_views()}
    assert routes == set(schema["paths"])


def test_protected_operations_document_401_with_the_problem_schema(schema: dict[str, Any]):
    protected = [(p, m, op) for p, m, op in operations(schema) if p not in PUBLIC]
    assert len(protected) == 7
    for path, method, operation in protected:
        assert operation["security"] == [{"jwtAuth": []}], (path, method)
        response = operation["responses"]["401"]
        assert response["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}


def test_credential_endpoints_document_their_401_too(schema: dict[str, Any]):
    for path in ("/api/v1/auth/token", "/api/v1/auth/token/refresh", "/api/v1/auth/logout"):
        response = schema["paths"][path]["post"]["responses"]["401"]
        assert response["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}


def test_public_operations_need_no_credentials(schema: dict[str, Any]):
    for path in PUBLIC:
        for operation in schema["paths"][path].values():
            assert operation["security"] == [{}]


def test_write_operations_document_400_and_413(schema: dict[str, Any]):
    writes = [(p, m, op) for p, m, op in operations(schema) if m in ("post", "patch", "put")]
    assert len(writes) == 11
    for _path, _method, operation in writes:
        for code in ("400", "413"):
            content = operation["responses"][code]["content"]
            assert content == {"application/problem+json": {"schema": PROBLEM_REF}}


def test_staff_operations_document_403_and_path_parameters_404(schema: dict[str, Any]):
    for path in ("/api/v1/users/", "/api/v1/users/{user_id}", "/api/v1/users/{user_id}/deactivate"):
        for operation in schema["paths"][path].values():
            assert "403" in operation["responses"]
            assert ("404" in operation["responses"]) == ("{" in path)
    deactivate = schema["paths"]["/api/v1/users/{user_id}/deactivate"]["post"]["responses"]
    assert deactivate["409"]["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}


def test_throttled_operations_document_429(schema: dict[str, Any]):
    throttled = {p for p, _m, op in operations(schema) if "429" in op["responses"]}
    assert throttled == {
        "/api/v1/auth/register",
        "/api/v1/auth/token",
        "/api/v1/auth/token/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/password-reset",
        "/api/v1/auth/password-reset/confirm",
        "/api/v1/auth/verify-email",
        "/api/v1/auth/verify-email/resend",
        "/api/v1/users/me",  # its DELETE takes the password
        "/api/v1/users/me/password",
    }


def test_the_problem_schema_is_the_one_error_shape(schema: dict[str, Any]):
    problem = schema["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) == {
        "type",
        "title",
        "status",
        "detail",
        "errors",
        "correlation_id",
    }
    assert schema["components"]["securitySchemes"] == {
        "jwtAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }


def test_the_list_documents_its_filters_and_cursor(schema: dict[str, Any]):
    parameters = schema["paths"]["/api/v1/users/"]["get"]["parameters"]
    assert {p["name"] for p in parameters} == {
        "cursor",
        "page_size",
        "q",
        "is_active",
        "is_staff",
        "group",
    }


def test_schema_is_served_as_yaml_by_default():
    response = Client(**HTTPS).get(SCHEMA)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml.safe_load(response.content)["openapi"].startswith("3.")


def test_schema_generation_has_no_warnings_and_validates():
    out = StringIO()

    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )

    assert '"openapi"' in out.getvalue()


def test_swagger_ui_is_served_with_self_hosted_assets(collected_static: Path):
    client = Client(**HTTPS)

    response = client.get("/docs/users/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    html = response.content.decode()
    assert SCHEMA in html
    assets = re.findall(r'(?:src|href)="(/static/users/[^"]+)"', html)
    assert len(assets) == 4  # css, bundle, standalone preset, favicon
    assert all("drf_spectacular_sidecar/swagger-ui-dist/" in asset for asset in assets)
    assert "//cdn" not in html
    assert "unpkg" not in html
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        b"".join(served.streaming_content)


def test_link_endpoints_document_their_bad_token_400(schema: dict[str, Any]):
    for path in ("/api/v1/auth/password-reset/confirm", "/api/v1/auth/verify-email"):
        response = schema["paths"][path]["post"]["responses"]["400"]
        assert response["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}
        assert "invalid-token" in response["description"]


def test_erasing_documents_its_body_and_204(schema: dict[str, Any]):
    operation = schema["paths"]["/api/v1/users/me"]["delete"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert (body["required"], body["additionalProperties"]) == (["password"], False)
    assert "204" in operation["responses"]
