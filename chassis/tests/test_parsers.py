import io
import json

import pytest
from rest_framework import exceptions

from chassis.errors import PayloadTooLarge
from chassis.parsers import JSONParser

ORDERS = "/api/v1/orders/"
VALID = {"email": "ada@example.com", "lines": [{"sku": "A", "quantity": 1}]}


def post_raw(client, body: str | bytes):
    return client.post(ORDERS, body, content_type="application/json")


def assert_parse_error(response, detail: str) -> None:
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:problem-type:parse-error",
        "title": "Invalid input.",
        "status": 400,
        "detail": detail,
        "errors": [],
        "correlation_id": response["X-Request-ID"],
    }


def test_malformed_json(api_client):
    response = post_raw(api_client, '{"email": ')

    assert_parse_error(response, "JSON parse error - Expecting value: line 1 column 11 (char 10)")


def test_invalid_utf8(api_client):
    response = post_raw(api_client, b'{"email": "\xff"}')

    assert response.status_code == 400
    assert response.json()["type"] == "urn:problem-type:parse-error"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(api_client, constant):
    body = '{"email": "a@example.com", "lines": [], "x": ' + constant + "}"
    response = post_raw(api_client, body)

    assert_parse_error(
        response,
        f"JSON parse error - Out of range float values are not JSON compliant: {constant!r}",
    )


@pytest.mark.parametrize(("opening", "closing"), [("[", "]"), ('{"a":', "}")])
def test_hostile_nesting_is_a_400(api_client, opening, closing):
    depth = 100_000
    response = post_raw(api_client, opening * depth + "1" + closing * depth)

    assert_parse_error(response, "JSON parse error - nested too deeply")


def test_list_where_an_object_is_expected(api_client):
    response = post_raw(api_client, json.dumps([VALID]))

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": None,
            "code": "invalid",
            "message": "Invalid data. Expected a dictionary, but got list.",
        }
    ]


def test_body_over_the_limit_is_a_413(api_client, settings):
    body = json.dumps(VALID)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(body) - 1

    response = post_raw(api_client, body)

    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:problem-type:payload-too-large",
        "title": "Payload too large.",
        "status": 413,
        "detail": "Request body exceeds the size limit.",
        "errors": [],
        "correlation_id": response["X-Request-ID"],
    }


def test_body_at_the_limit_is_parsed(api_client, settings):
    body = json.dumps(VALID)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(body)

    response = post_raw(api_client, body)

    assert response.status_code == 201
    assert response.json() == VALID


def test_parser_reads_no_more_than_the_limit_plus_one(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 8
    stream = io.BytesIO(b"[" + b"1," * 1000 + b"1]")

    with pytest.raises(PayloadTooLarge):
        JSONParser().parse(stream, "application/json")

    assert stream.tell() == 9


def test_parser_without_a_limit_uses_the_default(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = None
    big = b'"' + b"x" * 2_621_440 + b'"'

    with pytest.raises(PayloadTooLarge):
        JSONParser().parse(io.BytesIO(big), "application/json")
    assert JSONParser().parse(io.BytesIO(b'{"a": [1]}'), "application/json") == {"a": [1]}


def test_parser_parse_error_type():
    with pytest.raises(exceptions.ParseError):
        JSONParser().parse(io.BytesIO(b"{"), "application/json")
