import pytest
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from chassis.pagination import CursorPagination


@pytest.mark.parametrize(
    ("query", "size"), [("", 50), ("?page_size=10", 10), ("?page_size=500", 200)]
)
def test_page_size(query, size):
    request = Request(APIRequestFactory().get(f"/api/v1/things/{query}"))

    assert CursorPagination().get_page_size(request) == size


@pytest.mark.parametrize("value", ["x", "0", "-3", "1.5", ""])
def test_a_page_size_that_is_not_a_positive_integer_is_a_validation_error(value):
    request = Request(APIRequestFactory().get("/api/v1/things/", {"page_size": value}))

    with pytest.raises(ValidationError) as caught:
        CursorPagination().get_page_size(request)

    assert caught.value.detail == {"page_size": ["A positive integer is required."]}


def test_a_malformed_cursor_is_a_validation_error_not_a_404():
    request = Request(APIRequestFactory().get("/api/v1/things/", {"cursor": "not-a-cursor"}))

    with pytest.raises(ValidationError) as caught:
        CursorPagination().decode_cursor(request)

    assert caught.value.detail == {"cursor": ["Invalid cursor."]}


def test_newest_first_by_creation():
    assert CursorPagination.ordering == "-created_at"
