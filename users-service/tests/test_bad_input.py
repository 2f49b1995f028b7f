"""Hostile and broken input on every write endpoint: always a 4xx problem, never a row."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.conftest import HTTPS, bearer, issue_tokens
from tests.factories import PASSWORD, UserFactory
from tests.utils import assert_problem, row_counts
from users import links
from users.models import User

JSON = "application/json"


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    required: tuple[str, ...]  # fields that must be present
    optional: tuple[str, ...] = ()
    authenticated: bool = False
    # field -> value of a valid request (callable: needs the user)
    valid: Callable[[User], dict[str, Any]] = field(default=lambda user: {})

    @property
    def fields(self) -> tuple[str, ...]:
        return self.required + self.optional


ENDPOINTS = [
    Endpoint(
        "register",
        "post",
        "/api/v1/auth/register",
        required=("email", "password"),
        optional=("full_name",),
        valid=lambda user: {"email": "new@example.com", "password": PASSWORD, "full_name": "N"},
    ),
    Endpoint(
        "token",
        "post",
        "/api/v1/auth/token",
        required=("email", "password"),
        valid=lambda user: {"email": user.email, "password": PASSWORD},
    ),
    Endpoint(
        "refresh",
        "post",
        "/api/v1/auth/token/refresh",
        required=("refresh",),
        valid=lambda user: {"refresh": issue_tokens(user).refresh},
    ),
    Endpoint(
        "logout",
        "post",
        "/api/v1/auth/logout",
        required=("refresh",),
        valid=lambda user: {"refresh": issue_tokens(user).refresh},
    ),
    Endpoint(
        "me",
        "patch",
        "/api/v1/users/me",
        required=(),
        optional=("full_name",),
        authenticated=True,
        valid=lambda user: {"full_name": "Alice"},
    ),
    Endpoint(
        "password",
        "post",
        "/api/v1/users/me/password",
        required=("current_password", "new_password"),
        authenticated=True,
        valid=lambda user: {"current_password": PASSWORD, "new_password": "a-New-secret-99"},
    ),
    Endpoint(
        "password-reset",
        "post",
        "/api/v1/auth/password-reset",
        required=("email",),
        valid=lambda user: {"email": user.email},
    ),
    Endpoint(
        "password-reset-confirm",
        "post",
        "/api/v1/auth/password-reset/confirm",
        required=("token", "new_password"),
        valid=lambda user: {
            "token": links.token_make(generator=links.PasswordResetTokens(), user=user),
            "new_password": "a-New-secret-99",
        },
    ),
    Endpoint(
        "verify-email",
        "post",
        "/api/v1/auth/verify-email",
        required=("token",),
        valid=lambda user: {
            "token": links.token_make(generator=links.VerificationTokens(), user=user)
        },
    ),
    Endpoint(
        "verify-email-resend",
        "post",
        "/api/v1/auth/verify-email/resend",
        required=("email",),
        valid=lambda user: {"email": user.email},
    ),
    Endpoint(
        "erase",
        "delete",
        "/api/v1/users/me",
        required=("password",),
        authenticated=True,
        valid=lambda user: {"password": PASSWORD},
    ),
]
MAX_LENGTHS = {
    "email": 254,
    "password": 128,
    "current_password": 128,
    "new_password": 128,
    "full_name": 150,
    "refresh": 4096,
    "token": 200,
}


@pytest.fixture(params=ENDPOINTS, ids=[e.name for e in ENDPOINTS])
def endpoint(request) -> Endpoint:
    return request.param


@pytest.fixture
def account(db: None) -> User:
    return UserFactory(email="alice@example.com", full_name="Alice Liddell")


@pytest.fixture
def send(endpoint: Endpoint, account: User) -> Callable[..., Any]:
    """``send(body: bytes, content_type)``: the request, asserting that no row changed."""
    client = bearer(issue_tokens(account).access) if endpoint.authenticated else APIClient(**HTTPS)

    def call(body: bytes | str, content_type: str = JSON) -> Any:
        before = row_counts()
        password = User.objects.get(pk=account.pk).password
        response = client.generic(endpoint.method.upper(), endpoint.path, body, content_type)
        assert row_counts() == before
        assert User.objects.get(pk=account.pk).password == password
        return response

    return call


def not_a_string(endpoint: Endpoint, name: str) -> str:
    """Every text field, EmailField included, refuses a non-string as a wrong type (the
    chassis InputSerializer) before its own validation runs."""
    return "Not a valid string."


def fields_of(body: dict[str, Any]) -> set[str | None]:
    return {item["field"] for item in body["errors"]}


def codes_of(body: dict[str, Any], name: str) -> set[str]:
    return {item["code"] for item in body["errors"] if item["field"] == name}


# --- not JSON at all ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b'{"email": ', b"{'email': 'single quotes'}", b"\xff\xfe{}", b"[" * 50_000, b"NaN-ish"],
    ids=["truncated", "single-quotes", "invalid-utf8", "nested-too-deeply", "garbage"],
)
def test_malformed_json_is_400(send, body: bytes):
    response = send(body)

    body = assert_problem(response, 400, "parse-error", errors=[])
    assert body["detail"].startswith("JSON parse error")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", "email=a%40example.com&password=x"),
        ("multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=a\r\n"),
        ("text/plain", '{"email": "a@example.com"}'),
        ("application/xml", "<email/>"),
    ],
    ids=["form", "multipart", "text", "xml"],
)
def test_non_json_media_types_are_415(send, content_type: str, body: str):
    response = send(body, content_type)

    media = content_type.split(";")[0]
    assert_problem(
        response,
        415,
        "unsupported-media-type",
        detail=f'Unsupported media type "{content_type}" in request.',
        errors=[],
    )
    assert media in response.json()["detail"]


def test_a_body_over_the_upload_limit_is_413(send, endpoint: Endpoint):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    name = endpoint.fields[0]
    padding = "x" * (limit + 1 - len(json.dumps({name: ""})))
    body = json.dumps({name: padding})
    assert len(body) == limit + 1

    response = send(body)

    assert_problem(
        response,
        413,
        "payload-too-large",
        detail="Request body exceeds the size limit.",
        errors=[],
    )
    assert response.json()["title"] == "Payload too large."


def test_a_body_at_the_upload_limit_is_parsed(send, endpoint: Endpoint, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    name = endpoint.fields[0]
    value = "x" * (2048 - len(json.dumps({name: ""})))
    body = json.dumps({name: value})
    assert len(body) == 2048

    response = send(body)

    # Parsed, then refused by validation or authentication, not by the size limit.
    if len(value) > MAX_LENGTHS[name]:
        assert_problem(response, 400, "validation-error")
    else:  # a 2 KB refresh token is within its limit, and invalid
        assert_problem(response, 401, "token-not-valid")


# --- JSON, but not an object -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "kind"),
    [("[]", "list"), ('[{"email": "a@example.com"}]', "list"), ('"text"', "str"), ("42", "int")],
    ids=["empty-list", "list-of-objects", "string", "number"],
)
def test_json_that_is_not_an_object_is_400(send, body: str, kind: str):
    response = send(body)

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[
            {
                "field": None,
                "code": "invalid",
                "message": f"Invalid data. Expected a dictionary, but got {kind}.",
            }
        ],
    )


def test_json_null_is_400(send):
    response = send("null")

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[{"field": None, "code": "null", "message": "No data provided"}],
    )


# --- objects with wrong content ----------------------------------------------------------


@pytest.mark.parametrize("body", ["", "{}"], ids=["empty-body", "empty-object"])
def test_missing_required_fields_are_each_reported(send, endpoint: Endpoint, body: str):
    response = send(body)

    if not endpoint.required:  # PATCH /me: nothing is required, an empty PATCH changes nothing
        assert response.status_code == 200
        assert response.json()["full_name"] == "Alice Liddell"
        return

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[
            {"field": name, "code": "required", "message": "This field is required."}
            for name in endpoint.required
        ],
    )


def test_each_missing_required_field_is_reported(send, endpoint: Endpoint, account: User):
    for name in endpoint.required:
        payload = {k: v for k, v in endpoint.valid(account).items() if k != name}

        response = send(json.dumps(payload))

        assert_problem(
            response,
            400,
            "validation-error",
            errors=[{"field": name, "code": "required", "message": "This field is required."}],
        )


@pytest.mark.parametrize("value", [{"a": 1}, ["a"], True], ids=["object", "list", "bool"])
def test_fields_of_the_wrong_type_are_each_reported(send, endpoint: Endpoint, value):
    payload = {name: value for name in endpoint.fields}

    response = send(json.dumps(payload))

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[
            {"field": name, "code": "invalid", "message": not_a_string(endpoint, name)}
            for name in endpoint.fields
        ],
    )


def test_null_values_are_400(send, endpoint: Endpoint):
    response = send(json.dumps({name: None for name in endpoint.fields}))

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[
            {"field": name, "code": "null", "message": "This field may not be null."}
            for name in endpoint.fields
        ],
    )


def test_a_number_is_not_an_email(api_client: APIClient, db: None):
    before = row_counts()

    response = api_client.post("/api/v1/auth/register", {"email": 12345, "password": PASSWORD})

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[{"field": "email", "code": "invalid", "message": "Not a valid string."}],
    )
    assert row_counts() == before


def test_oversized_strings_are_400(send, endpoint: Endpoint, account: User):
    for name in endpoint.fields:
        limit = MAX_LENGTHS[name]
        value = "a" * (limit + 1)
        if name == "email":
            value = "a" * (300 - len("@example.com")) + "@example.com"
        payload = {**endpoint.valid(account), name: value}

        response = send(json.dumps(payload))

        body = assert_problem(response, 400, "validation-error")
        assert fields_of(body) == {name}
        assert "max_length" in codes_of(body, name)
        message = f"Ensure this field has no more than {limit} characters."
        assert message in [e["message"] for e in body["errors"]]


def test_unknown_fields_are_refused(send, endpoint: Endpoint, account: User):
    payload = {**endpoint.valid(account), "is_staff": True, "emial": "typo@example.com"}

    response = send(json.dumps(payload))

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[
            {"field": "emial", "code": "unknown_field", "message": "Unknown field."},
            {"field": "is_staff", "code": "unknown_field", "message": "Unknown field."},
        ],
    )


def test_null_characters_are_400(send, endpoint: Endpoint, account: User):
    payload = {name: f"{value}\u0000" for name, value in endpoint.valid(account).items()}

    response = send(json.dumps(payload))

    body = assert_problem(response, 400, "validation-error")
    assert fields_of(body) == set(payload)
    for name in payload:
        assert "null_characters_not_allowed" in codes_of(body, name)


def test_raw_control_characters_in_json_are_a_parse_error(send):
    response = send(b'{"email": "a\x00@example.com"}')

    assert_problem(response, 400, "parse-error")
