"""Broken and hostile input: always a 4xx in the problem shape, and nothing written."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from chassis.pytest_plugin import HTTPS, bearer
from chassis.testing import TokenSigner
from django.conf import settings
from rest_framework.test import APIClient

from catalog.models import Category, Product
from tests.factories import CategoryFactory, ProductFactory
from tests.utils import CATEGORIES, PRODUCTS, assert_problem, row_counts

pytestmark = pytest.mark.django_db

JSON = "application/json"
# (name, method, path of the existing product / category, a valid body)
WRITES = [
    ("product-create", "POST", "{products}", {"sku": "N-1", "name": "New", "price": "1.00"}),
    ("product-update", "PATCH", "{products}{product}", {"name": "Renamed"}),
    (
        "stock",
        "POST",
        "{products}{product}/stock",
        {"mode": "set", "quantity": 9, "reason": "return"},
    ),
    ("category-create", "POST", "{categories}", {"name": "New"}),
    ("category-update", "PATCH", "{categories}{category}", {"name": "Renamed"}),
]


@pytest.fixture
def existing() -> dict[str, Any]:
    category = CategoryFactory(slug="kitchen", name="Kitchen")
    product = ProductFactory(sku="OLD-1", slug="old-1", name="Old", stock=3, category=category)
    return {"product": product, "category": category}


@pytest.fixture(params=WRITES, ids=[w[0] for w in WRITES])
def write(request, existing: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    _name, method, template, body = request.param
    path = template.format(
        products=PRODUCTS,
        categories=CATEGORIES,
        product=existing["product"].pk,
        category=existing["category"].pk,
    )
    return method, path, body


def snapshot() -> tuple[Any, ...]:
    """Every row the writes can touch, with its values."""
    return (
        row_counts(),
        list(Product.objects.order_by("id").values_list("sku", "name", "slug", "price", "stock")),
        list(Category.objects.order_by("id").values_list("name", "slug", "parent")),
    )


@pytest.fixture
def send(staff_client: APIClient) -> Callable[..., Any]:
    """``send(method, path, body, content_type, client)``: asserting that nothing changed."""

    def call(
        method: str,
        path: str,
        body: bytes | str | dict[str, Any],
        content_type: str = JSON,
        client: APIClient | None = None,
    ) -> Any:
        before = snapshot()
        raw = json.dumps(body) if isinstance(body, dict) else body
        response = (client or staff_client).generic(method, path, raw, content_type)
        assert snapshot() == before
        return response

    return call


# --- on every write endpoint -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b'{"name": ', b"{'name': 'x'}", b"\xff\xfe{}", b"[" * 50_000, b"NaN-ish"],
    ids=["truncated", "single-quotes", "invalid-utf8", "nested-too-deeply", "garbage"],
)
def test_malformed_json_is_400(send, write, body: bytes):
    method, path, _valid = write

    response = send(method, path, body)

    detail = assert_problem(response, 400, "parse-error", errors=[])["detail"]
    assert detail.startswith("JSON parse error")


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (b"[]", "invalid", "Invalid data. Expected a dictionary, but got list."),
        (b'"x"', "invalid", "Invalid data. Expected a dictionary, but got str."),
        (b"null", "null", "No data provided"),
    ],
)
def test_json_that_is_not_an_object_is_400(send, write, body: bytes, code: str, message: str):
    method, path, _valid = write

    response = send(method, path, body)

    errors = assert_problem(response, 400, "validation-error")["errors"]
    assert errors == [{"field": None, "code": code, "message": message}]


def test_non_json_media_type_is_415(send, write):
    method, path, _valid = write

    response = send(method, path, "name=x", "application/x-www-form-urlencoded")

    assert_problem(response, 415, "unsupported-media-type", errors=[])


def test_oversized_body_is_413(send, write):
    method, path, valid = write
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({**valid, "description": "x" * limit})

    response = send(method, path, body)

    assert_problem(
        response,
        413,
        "payload-too-large",
        detail="Request body exceeds the size limit.",
        errors=[],
    )


def test_unknown_fields_are_400(send, write):
    method, path, valid = write

    response = send(method, path, {**valid, "colour": "red", "Name": "x"})

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[
            {"field": "Name", "code": "unknown_field", "message": "Unknown field."},
            {"field": "colour", "code": "unknown_field", "message": "Unknown field."},
        ],
    )


@pytest.fixture(scope="module")
def forger() -> TokenSigner:
    """Another key under the same kid: its tokens must fail the signature check."""
    return TokenSigner.generate("test-key")


@pytest.mark.parametrize(
    "credentials",
    ["forged", "expired", "refresh", "garbage", "no-kid"],
)
def test_bad_tokens_are_401(send, write, token, forger: TokenSigner, credentials: str):
    method, path, valid = write
    access = {
        "forged": lambda: forger.access_token(is_staff=True),
        "expired": lambda: token(is_staff=True, exp=1_600_000_000, iat=1_599_999_000),
        "refresh": lambda: token(is_staff=True, token_type="refresh"),
        "garbage": lambda: "not.a.token",
        "no-kid": lambda: "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
    }[credentials]()

    response = send(method, path, valid, client=bearer(access))

    body = assert_problem(response, 401, "token-not-valid", errors=[])
    assert (
        body["detail"]
        == {
            "forged": "Token is invalid: Signature verification failed",
            "expired": "Token has expired.",
            "refresh": "Token is not an access token.",
            "garbage": "Token is malformed.",
            "no-kid": "Token has no 'kid' header.",
        }[credentials]
    )


def test_a_non_staff_token_is_403_before_the_body_is_read(send, write, user_client):
    method, path, _valid = write

    response = send(method, path, b"{not json", client=user_client)

    assert_problem(response, 403, "permission-denied", errors=[])


# --- products --------------------------------------------------------------------------------


def product_error(send, body: dict[str, Any], method: str = "POST", path: str = PRODUCTS):
    response = send(method, path, body)
    return assert_problem(response, 400, "validation-error")["errors"]


VALID = {"sku": "N-1", "name": "New", "price": "1.00"}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"price": "-0.01"}, ("price", "min_value")),
        ({"price": "1.005"}, ("price", "max_decimal_places")),
        ({"price": "NaN"}, ("price", "invalid")),
        ({"price": "ten"}, ("price", "invalid")),
        ({"price": 9.99}, ("price", "not_a_string")),  # money travels as a string
        ({"price": 10}, ("price", "not_a_string")),
        ({"price": "10000000000.00"}, ("price", "max_digits")),
        ({"stock": -1}, ("stock", "min_value")),
        ({"stock": "ten"}, ("stock", "invalid")),
        ({"stock": "5"}, ("stock", "invalid")),
        ({"stock": 1.5}, ("stock", "invalid")),
        ({"stock": True}, ("stock", "invalid")),
        ({"stock": 10**10}, ("stock", "max_value")),
        ({"name": 42}, ("name", "invalid")),
        ({"name": ""}, ("name", "blank")),
        ({"name": "x" * 201}, ("name", "max_length")),
        ({"sku": "has space"}, ("sku", "invalid")),
        ({"sku": ["A-1"]}, ("sku", "invalid")),
        ({"slug": "Not A Slug"}, ("slug", "invalid")),
        ({"currency": "eur"}, ("currency", "invalid")),
        ({"category": "nope"}, ("category", "does_not_exist")),
        ({"category": 1}, ("category", "does_not_exist")),
        ({"category": ""}, ("category", "blank")),  # not silently "no category"
        ({"is_active": "maybe"}, ("is_active", "invalid")),
    ],
)
def test_product_create_field_errors(send, existing, change: dict[str, Any], error):
    errors = product_error(send, {**VALID, **change})

    assert [(e["field"], e["code"]) for e in errors] == [error]


def test_product_create_missing_fields(send, existing):
    errors = product_error(send, {})

    assert [(e["field"], e["code"]) for e in errors] == [
        ("sku", "required"),
        ("name", "required"),
        ("price", "required"),
    ]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"sku": "OLD-1"}, ["sku"]),
        ({"slug": "old-1"}, ["slug"]),
        ({"sku": "OLD-1", "slug": "old-1"}, ["sku", "slug"]),
    ],
)
def test_duplicate_sku_or_slug_is_409(send, existing, body: dict[str, Any], fields: list[str]):
    created = send("POST", PRODUCTS, {**VALID, "stock": 4, **body})
    other = ProductFactory(sku="OTHER", slug="other")
    updated = send("PATCH", f"{PRODUCTS}{other.pk}", body)

    expected = [{"field": f, "code": "unique", "message": "Already taken."} for f in fields]
    detail = f"Already taken: {', '.join(fields)}."
    assert_problem(created, 409, "duplicate", detail=detail, errors=expected)
    assert_problem(updated, 409, "duplicate", detail=detail, errors=expected)


def test_product_update_field_errors(send, existing):
    path = f"{PRODUCTS}{existing['product'].pk}"

    errors = product_error(send, {"price": "-1", "name": None, "category": "nope"}, "PATCH", path)

    assert sorted((e["field"], e["code"]) for e in errors) == [
        ("category", "does_not_exist"),
        ("name", "null"),
        ("price", "min_value"),
    ]


# --- stock -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"mode": "set", "quantity": -1, "reason": "correction"}, ("quantity", "min_value")),
        ({"mode": "increment", "quantity": 0, "reason": "restock"}, ("quantity", "invalid")),
        ({"mode": "increment", "quantity": 1, "reason": "theft"}, ("reason", "invalid_choice")),
        ({"mode": "set", "quantity": 1, "reason": "reservation"}, ("reason", "invalid_choice")),
        ({"mode": "increment", "quantity": 1, "reason": "initial"}, ("reason", "invalid_choice")),
        ({"mode": "add", "quantity": 1, "reason": "restock"}, ("mode", "invalid_choice")),
        ({"mode": "set", "quantity": "9", "reason": "restock"}, ("quantity", "invalid")),
        ({"mode": "set", "quantity": 10**10, "reason": "restock"}, ("quantity", "max_value")),
        (
            {"mode": "set", "quantity": 1, "reason": "return", "reference": 7},
            ("reference", "invalid"),
        ),
        ({"mode": "set", "reason": "restock"}, ("quantity", "required")),
    ],
)
def test_stock_adjust_errors(send, existing, body: dict[str, Any], error):
    response = send("POST", f"{PRODUCTS}{existing['product'].pk}/stock", body)

    errors = assert_problem(response, 400, "validation-error")["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [error]


def test_stock_set_below_zero_says_why(send, existing):
    response = send(
        "POST",
        f"{PRODUCTS}{existing['product'].pk}/stock",
        {"mode": "set", "quantity": -1, "reason": "correction"},
    )

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[
            {"field": "quantity", "code": "min_value", "message": "Stock cannot be set below zero."}
        ],
    )


# --- categories ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"name": 5}, ("name", "invalid")),
        ({"name": ""}, ("name", "blank")),
        ({"name": "A", "slug": "a b"}, ("slug", "invalid")),
        ({"name": "A", "parent": "nope"}, ("parent", "does_not_exist")),
        ({"name": "A", "parent": ""}, ("parent", "blank")),
        ({"name": "!!!"}, ("slug", "required")),  # no slug can be made from it
        ({}, ("name", "required")),
    ],
)
def test_category_create_errors(send, existing, body: dict[str, Any], error):
    response = send("POST", CATEGORIES, body)

    errors = assert_problem(response, 400, "validation-error")["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [error]


def test_category_cycle_is_400(send, existing):
    child = CategoryFactory(slug="child", parent=existing["category"])

    response = send("PATCH", f"{CATEGORIES}{existing['category'].pk}", {"parent": child.slug})

    assert_problem(response, 400, "invalid-category-parent")


# --- list query ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"category": "nope"}, "category", "does_not_exist"),
        ({"category": "not a slug"}, "category", "invalid"),
        ({"min_price": "cheap"}, "min_price", "invalid"),
        ({"max_price": "-1"}, "max_price", "min_value"),
        ({"min_price": "1.001"}, "min_price", "max_decimal_places"),
        ({"min_price": "5", "max_price": "4"}, "max_price", "invalid"),
        ({"in_stock": "yes"}, "in_stock", "invalid_choice"),
        ({"q": "x" * 201}, "q", "max_length"),
        ({"ordering": ""}, "ordering", "blank"),  # not silently the default ordering
        ({"ordering": "stock"}, "ordering", "invalid_choice"),
        ({"min_price": ""}, "min_price", "blank"),
        ({"category": ""}, "category", "blank"),
    ],
)
def test_bad_list_query_is_400(api_client: APIClient, params: dict[str, str], field, code):
    response = api_client.get(PRODUCTS, params)

    errors = assert_problem(response, 400, "validation-error")["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(field, code)]


def test_an_unknown_url_is_a_404_problem(api_client: APIClient):
    assert_problem(api_client.get(f"{PRODUCTS}nope/"), 404, "not-found", errors=[])


def test_an_unsupported_method_is_405(staff_client: APIClient):
    response = staff_client.put(f"{PRODUCTS}1", {}, **HTTPS)

    assert_problem(response, 405, "method-not-allowed", errors=[])
