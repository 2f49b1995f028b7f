"""The one error shape outside the views (URLs, hosts, crashes) and the transport rules."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import HTTPS
from tests.factories import PASSWORD
from tests.utils import assert_problem
from users import services

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/nope",
        "/api/v1/",
        "/api/v1/auth/token/",  # no slash appending: one URL per resource
        "/api/v1/users/me/",
        "/api/v2/users/me",
        "/.well-known/jwks.json/",
    ],
)
def test_unknown_urls_are_a_404_problem(api_client: APIClient, path: str):
    response = api_client.get(path)

    assert_problem(response, 404, "not-found", detail="No resource matches the request.")
    assert response.json()["title"] == "Not found."


def test_the_correlation_id_of_the_caller_is_kept(api_client: APIClient):
    response = api_client.post(
        "/api/v1/auth/token", {"email": "x@example.com"}, HTTP_X_REQUEST_ID="req-abc-123"
    )

    assert response["X-Request-ID"] == "req-abc-123"
    assert assert_problem(response, 400, "validation-error")["correlation_id"] == "req-abc-123"


def test_a_correlation_id_is_made_up_when_missing(api_client: APIClient):
    response = api_client.get("/nope")

    correlation_id = assert_problem(response, 404, "not-found")["correlation_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", correlation_id)
    assert response["X-Request-ID"] == correlation_id


def test_a_disallowed_host_is_a_400_problem():
    client = Client(HTTP_HOST="evil.example.net", **HTTPS)

    response = client.get("/api/v1/users/me")

    assert_problem(
        response, 400, "bad-request", detail="The request could not be understood.", errors=[]
    )


def test_an_unexpected_exception_is_a_500_problem(monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "user_register", explode)
    client = APIClient(raise_request_exception=False, **HTTPS)

    response = client.post(
        "/api/v1/auth/register", {"email": "x@example.com", "password": PASSWORD}
    )

    body = assert_problem(
        response, 500, "internal-error", detail="An unexpected error occurred.", errors=[]
    )
    assert "boom" not in response.content.decode()
    assert body["title"] == "Internal server error."


def test_an_unacceptable_accept_header_is_a_406_problem(api_client: APIClient):
    response = api_client.get("/.well-known/jwks.json", HTTP_ACCEPT="application/xml")

    assert_problem(response, 406, "not-acceptable")


def test_plain_http_is_redirected_to_https():
    response = Client().get("/api/v1/users/me")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/api/v1/users/me"


def test_https_responses_carry_the_security_headers(api_client: APIClient):
    response = api_client.get("/.well-known/jwks.json")

    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_an_oversized_form_post_outside_the_api_is_a_413_problem(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    client = Client(**HTTPS)

    response = client.post(
        "/admin/users/login/",
        "username=" + "x" * 2048,
        content_type="application/x-www-form-urlencoded",
    )

    assert_problem(
        response,
        413,
        "payload-too-large",
        detail="Request body exceeds the size limit.",
        errors=[],
    )


def test_too_many_form_fields_outside_the_api_is_a_400_problem(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    client = Client(**HTTPS)

    response = client.post(
        "/admin/users/login/",
        "&".join(f"f{i}=x" for i in range(20)),
        content_type="application/x-www-form-urlencoded",
    )

    assert_problem(response, 400, "bad-request", errors=[])
