"""POST /api/v1/orders/ refused before any lookup: bad input (400, 413, 415) and missing or
bad credentials (401). Nothing is written."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from chassis.pytest_plugin import USER_ID, bearer
from chassis.testing import TokenSigner
from rest_framework.test import APIClient

from orders.models import IdempotencyKey, Order, Product
from tests.utils import ORDERS, assert_problem, row_counts

pytestmark = pytest.mark.django_db

KEY = "0b5e4a3c-2d1f-4e6a-9b8c-7d6e5f4a3b2c"
NOTHING = {
    "Order": 0,
    "OrderLine": 0,
    "Product": 2,
    "IdempotencyKey": 0,
    "OutboxEvent": 0,
    "InboxEvent": 0,
}


def place(client: APIClient, body: Any, key: str | None = KEY, **extra: Any) -> Any:
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(ORDERS, body, format="json", **headers, **extra)


def lines(*pairs: tuple[int, int]) -> dict[str, Any]:
    return {"lines": [{"product_id": pid, "quantity": qty} for pid, qty in pairs]}


# --- bad input: 400 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "code", "message"),
    [
        (None, "required", "This header is required."),
        ("", "invalid", "1 to 255 printable ASCII characters, no spaces."),
        ("k" * 256, "invalid", "1 to 255 printable ASCII characters, no spaces."),
        ("with space", "invalid", "1 to 255 printable ASCII characters, no spaces."),
        ("tab\tkey", "invalid", "1 to 255 printable ASCII characters, no spaces."),
    ],
    ids=["missing", "empty", "256-chars", "space", "tab"],
)
def test_a_missing_or_malformed_idempotency_key_is_refused(
    user_client: APIClient, lamp: Product, kettle: Product, key: str | None, code: str, message: str
):
    response = place(user_client, lines((lamp.pk, 1)), key=key)

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[{"field": "Idempotency-Key", "code": code, "message": message}],
    )
    assert row_counts() == NOTHING


def test_a_255_character_key_is_accepted(user_client: APIClient, lamp: Product, kettle: Product):
    key = "~" + "k" * 253 + "!"

    response = place(user_client, lines((lamp.pk, 1)), key=key)

    assert response.status_code == 201, response.content
    assert IdempotencyKey.objects.get().key == key


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, [{"field": "lines", "code": "required", "message": "This field is required."}]),
        (
            {"lines": []},
            [{"field": "lines", "code": "empty", "message": "This list may not be empty."}],
        ),
        (
            {"lines": None},
            [{"field": "lines", "code": "null", "message": "This field may not be null."}],
        ),
        (
            {"lines": {"product_id": 11, "quantity": 1}},
            [
                {
                    "field": "lines",
                    "code": "not_a_list",
                    "message": 'Expected a list of items but got type "dict".',
                }
            ],
        ),
        (
            lines((11, 1), (12, 1), (11, 2)),
            [
                {
                    "field": "lines",
                    "code": "duplicate",
                    "message": "One line per product (add up the quantities).",
                }
            ],
        ),
        (
            lines((11, 0)),
            [
                {
                    "field": "lines.0.quantity",
                    "code": "min_value",
                    "message": "Ensure this value is greater than or equal to 1.",
                }
            ],
        ),
        (
            {"lines": [{"product_id": 11, "quantity": "2"}]},
            [
                {
                    "field": "lines.0.quantity",
                    "code": "invalid",
                    "message": "A valid integer is required.",
                }
            ],
        ),
        (
            {"lines": [{"product_id": 11, "quantity": 2.0}]},
            [
                {
                    "field": "lines.0.quantity",
                    "code": "invalid",
                    "message": "A valid integer is required.",
                }
            ],
        ),
        (
            {"lines": [{"product_id": 11, "quantity": True}]},
            [
                {
                    "field": "lines.0.quantity",
                    "code": "invalid",
                    "message": "A valid integer is required.",
                }
            ],
        ),
        (
            {"lines": [{"product_id": "11", "quantity": 1}]},
            [
                {
                    "field": "lines.0.product_id",
                    "code": "invalid",
                    "message": "A valid integer is required.",
                }
            ],
        ),
        (
            {"lines": [{"product_id": 0, "quantity": 1}]},
            [
                {
                    "field": "lines.0.product_id",
                    "code": "min_value",
                    "message": "Ensure this value is greater than or equal to 1.",
                }
            ],
        ),
        (
            {"lines": [{"quantity": 1}]},
            [
                {
                    "field": "lines.0.product_id",
                    "code": "required",
                    "message": "This field is required.",
                }
            ],
        ),
        (
            {"lines": [{"product_id": 11, "quantity": 1}], "coupon": "FREE"},
            [{"field": "coupon", "code": "unknown_field", "message": "Unknown field."}],
        ),
        (
            {"lines": [{"product_id": 11, "quantity": 1, "unit_price": "0.01"}]},
            [
                {
                    "field": "lines.0.unit_price",
                    "code": "unknown_field",
                    "message": "Unknown field.",
                }
            ],
        ),
        (
            [{"product_id": 11, "quantity": 1}],
            [
                {
                    "field": None,
                    "code": "invalid",
                    "message": "Invalid data. Expected a dictionary, but got list.",
                }
            ],
        ),
    ],
    ids=[
        "no-lines",
        "empty-lines",
        "null-lines",
        "lines-not-a-list",
        "duplicate-product",
        "quantity-0",
        "quantity-string",
        "quantity-float",
        "quantity-bool",
        "product-id-string",
        "product-id-0",
        "product-id-missing",
        "unknown-field",
        "unknown-line-field",
        "body-a-list",
    ],
)
def test_bad_input_is_refused(
    user_client: APIClient,
    lamp: Product,
    kettle: Product,
    body: Any,
    errors: list[dict[str, Any]],
):
    response = place(user_client, body)

    assert_problem(
        response,
        400,
        "validation-error",
        detail="The request did not pass validation.",
        errors=errors,
    )
    assert row_counts() == NOTHING


def test_malformed_json_is_refused(user_client: APIClient, lamp: Product, kettle: Product):
    response = user_client.post(
        ORDERS, '{"lines": [', content_type="application/json", HTTP_IDEMPOTENCY_KEY=KEY
    )

    body = assert_problem(response, 400, "parse_error".replace("_", "-"))
    assert body["detail"].startswith("JSON parse error")
    assert row_counts() == NOTHING


def test_another_media_type_is_refused(user_client: APIClient, lamp: Product, kettle: Product):
    response = user_client.post(
        ORDERS,
        "lines=11",
        content_type="application/x-www-form-urlencoded",
        HTTP_IDEMPOTENCY_KEY=KEY,
    )

    assert_problem(response, 415, "unsupported-media-type")
    assert row_counts() == NOTHING


def test_an_oversized_body_is_refused(user_client: APIClient, lamp: Product, kettle: Product):
    padding = " " * (1_048_576 + 1)
    raw = json.dumps(lines((lamp.pk, 1))) + padding

    response = user_client.post(
        ORDERS, raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY=KEY
    )

    assert_problem(
        response, 413, "payload-too-large", detail="Request body exceeds the size limit."
    )
    assert row_counts() == NOTHING


# --- credentials: 401 ----------------------------------------------------------------------


def test_anonymous_is_refused(api_client: APIClient, lamp: Product, kettle: Product):
    response = place(api_client, lines((lamp.pk, 1)))

    assert_problem(
        response,
        401,
        "not-authenticated",
        detail="Authentication credentials were not provided.",
    )
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert row_counts() == NOTHING


def test_a_forged_token_is_refused(lamp: Product, kettle: Product):
    forger = TokenSigner.generate("test-key")  # the right kid, another private key
    client = bearer(forger.access_token(sub=USER_ID))

    response = place(client, lines((lamp.pk, 1)))

    assert_problem(
        response,
        401,
        "token-not-valid",
        detail="Token is invalid: Signature verification failed",
    )
    assert row_counts() == NOTHING


def test_an_expired_token_is_refused(token: Callable[..., str], lamp: Product, kettle: Product):
    now = int(time.time())
    client = bearer(token(sub=USER_ID, iat=now - 600, exp=now - 1))

    response = place(client, lines((lamp.pk, 1)))

    assert_problem(response, 401, "token-not-valid", detail="Token has expired.")
    assert row_counts() == NOTHING


def test_a_token_of_another_type_is_refused(
    token: Callable[..., str], lamp: Product, kettle: Product
):
    client = bearer(token(sub=USER_ID, token_type="refresh"))

    response = place(client, lines((lamp.pk, 1)))

    assert_problem(response, 401, "token-not-valid", detail="Token is not an access token.")
    assert row_counts() == NOTHING


def test_a_garbled_authorization_header_is_refused(lamp: Product, kettle: Product):
    client = APIClient(HTTP_X_FORWARDED_PROTO="https")
    client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")

    response = place(client, lines((lamp.pk, 1)))

    assert_problem(response, 401, "token-not-valid", detail="Token is malformed.")
    assert row_counts() == NOTHING


def test_the_order_belongs_to_the_tokens_subject(
    token: Callable[..., str], lamp: Product, kettle: Product
):
    subject = str(uuid.uuid4())
    client = bearer(token(sub=subject, email="other@example.com"))

    response = place(client, lines((lamp.pk, 1)))

    assert response.status_code == 201, response.content
    order = Order.objects.get()
    assert (order.user_id, order.user_email, response.json()["user_id"]) == (
        subject,
        "other@example.com",
        subject,
    )
