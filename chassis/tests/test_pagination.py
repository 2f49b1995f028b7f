import base64
from urllib.parse import urlencode

import pytest
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from chassis.events.models import OutboxEvent
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


@pytest.mark.parametrize("value", ["\u00b9", "\u0661\u0662", "\uff11", "0", "000"])
def test_a_page_size_of_other_digits_is_a_validation_error_not_a_500(value):
    request = Request(APIRequestFactory().get("/api/v1/things/", {"page_size": value}))

    with pytest.raises(ValidationError) as caught:
        CursorPagination().get_page_size(request)

    assert caught.value.detail == {"page_size": ["A positive integer is required."]}


def test_a_page_size_of_more_digits_than_int_reads_is_the_maximum():
    request = Request(APIRequestFactory().get("/api/v1/things/", {"page_size": "9" * 5000}))

    assert CursorPagination().get_page_size(request) == 200


def _cursor(position: str) -> str:
    return base64.b64encode(urlencode({"o": "0", "r": "0", "p": position}).encode()).decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "position",
    ["garbage", "2024-05-01T10:00:00+23:59", "2024-05-01T10:00:00", "\u00b9", "a\x00b", "9" * 30],
)
def test_a_cursor_whose_position_the_column_cannot_hold_is_a_validation_error(position):
    request = Request(APIRequestFactory().get("/api/v1/things/", {"cursor": _cursor(position)}))
    paginator = CursorPagination()
    paginator.ordering = ("-occurred_at", "-id")

    with pytest.raises(ValidationError) as caught:
        paginator.paginate_queryset(OutboxEvent.objects.all(), request)

    assert caught.value.detail == {"cursor": ["Invalid cursor."]}


@pytest.mark.django_db
def test_a_cursor_position_is_read_in_utc():
    request = Request(
        APIRequestFactory().get("/api/v1/things/", {"cursor": _cursor("2024-05-01T10:00:00+02:00")})
    )
    paginator = CursorPagination()
    paginator.ordering = ("-occurred_at", "-id")

    assert paginator.paginate_queryset(OutboxEvent.objects.all(), request) == []
    assert paginator.cursor.position == "2024-05-01T08:00:00+00:00"
