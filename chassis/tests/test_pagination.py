import pytest
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from chassis.pagination import CursorPagination


@pytest.mark.parametrize(
    "query,size", [("", 50), ("?page_size=10", 10), ("?page_size=500", 200), ("?page_size=x", 50)]
)
def test_page_size(query, size):
    request = Request(APIRequestFactory().get(f"/api/v1/things/{query}"))

    assert CursorPagination().get_page_size(request) == size


def test_newest_first_by_creation():
    assert CursorPagination.ordering == "-created_at"
