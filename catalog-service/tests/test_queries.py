"""The hot reads cost a constant number of queries, whatever the page or catalog size."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import CategoryFactory, ProductFactory
from tests.utils import CATEGORIES, PRODUCTS

pytestmark = pytest.mark.django_db


@pytest.fixture(params=[5, 50], ids=["5-products", "50-products"])
def catalog(request) -> int:
    """``n`` active products over a root category with a sub-category (and one inactive)."""
    root = CategoryFactory(slug="root")
    child = CategoryFactory(slug="child", parent=root)
    for i in range(request.param):
        ProductFactory(category=root if i % 2 else child, stock=i % 3)
    ProductFactory(is_active=False)
    return request.param


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"ordering": "-price", "page_size": "100"},
        {"q": "product", "min_price": "1", "max_price": "500", "in_stock": "true"},
    ],
)
def test_list_is_one_query(
    api_client: APIClient, django_assert_num_queries, catalog: int, params: dict[str, str]
):
    with django_assert_num_queries(1):
        response = api_client.get(PRODUCTS, params)

    assert response.status_code == 200


def test_list_with_a_category_is_two_queries(
    api_client: APIClient, django_assert_num_queries, catalog: int
):
    with django_assert_num_queries(2):  # the slug, then the page (sub-categories included)
        response = api_client.get(PRODUCTS, {"category": "root", "page_size": "100"})

    assert len(response.json()["results"]) == catalog


def test_a_later_page_is_one_query(api_client: APIClient, django_assert_num_queries, catalog):
    first = api_client.get(PRODUCTS, {"page_size": "2", "ordering": "newest"}).json()

    with django_assert_num_queries(1):
        response = api_client.get(first["next"])

    assert len(response.json()["results"]) == 2


def test_detail_is_one_query(
    api_client: APIClient, staff_client: APIClient, django_assert_num_queries, catalog: int
):
    product = ProductFactory(slug="the-one", category=CategoryFactory())
    inactive = ProductFactory(is_active=False)

    for client, url in [
        (api_client, f"{PRODUCTS}{product.pk}"),
        (api_client, f"{PRODUCTS}by-slug/the-one"),
        (staff_client, f"{PRODUCTS}{inactive.pk}"),  # the token costs no query
    ]:
        with django_assert_num_queries(1):
            response = client.get(url)
        assert response.status_code == 200


def test_category_list_and_tree_are_one_query(
    api_client: APIClient, django_assert_num_queries, catalog: int
):
    for url in (CATEGORIES, f"{CATEGORIES}tree"):
        with django_assert_num_queries(1):
            assert api_client.get(url).status_code == 200
