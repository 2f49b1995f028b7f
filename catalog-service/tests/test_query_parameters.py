"""One rule for query parameters (chassis.query): a parameter a view does not read is a 400
in the one error shape, on every kind of endpoint, before anything is read or written."""

from __future__ import annotations

import pytest
from chassis.query import KnownQueryParameters, routed_views
from chassis.testing import unknown_query_parameters_problem as unknown_parameter
from rest_framework.test import APIClient

from tests.factories import CategoryFactory, ProductFactory
from tests.utils import CATEGORIES, PRODUCTS, ids, row_counts

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "url", "name"),
    [
        ("get", PRODUCTS + "?in_stock=true&colour=red", "colour"),  # a keyset list
        ("post", PRODUCTS + "?q=lamp", "q"),  # create: the list's filters are not the create's
        ("get", PRODUCTS + "{product}?expand=category", "expand"),  # detail
        ("patch", PRODUCTS + "{product}?notify=0", "notify"),  # update
        ("get", PRODUCTS + "by-slug/{slug}?lang=de", "lang"),  # detail by another key
        ("post", PRODUCTS + "{product}/deactivate?force=1", "force"),  # action
        ("post", PRODUCTS + "{product}/stock?mode=set", "mode"),  # action
        ("get", PRODUCTS + "{product}/stock-movements?reason=sale", "reason"),  # paginated list
        ("get", CATEGORIES + "?ordering=name", "ordering"),  # a keyset list
        ("post", CATEGORIES + "?parent=home", "parent"),  # create
        ("get", CATEGORIES + "tree?depth=1", "depth"),  # a whole document
        ("get", CATEGORIES + "{category}?cursor=x", "cursor"),  # detail (not paginated)
        ("delete", CATEGORIES + "{category}?cascade=1", "cascade"),  # delete
    ],
)
def test_an_unknown_query_parameter_is_a_400(
    staff_client: APIClient, method: str, url: str, name: str
):
    product = ProductFactory(slug="lamp", stock=3)
    category = CategoryFactory()
    before = row_counts()
    url = url.format(product=product.pk, slug=product.slug, category=category.pk)

    response = getattr(staff_client, method)(url, {}, format="json")

    assert response.status_code == 400
    assert response.json() == unknown_parameter(response, name)
    assert row_counts() == before


def test_every_unknown_parameter_is_named_sorted(api_client: APIClient):
    response = api_client.get(PRODUCTS + "?zeta=1&q=lamp&alpha=2&alpha=3&=false")

    assert response.json() == unknown_parameter(response, "", "alpha", "zeta")


def test_known_parameters_pass(api_client: APIClient):
    product = ProductFactory(stock=3)

    query = {"q": "", "in_stock": "true", "ordering": "-price", "page_size": 5, "format": "json"}
    response = api_client.get(PRODUCTS, query)
    categories = api_client.get(CATEGORIES, {"page_size": 5, "format": "json"})

    assert ids(response) == [product.pk]
    assert categories.status_code == 200


def test_credentials_are_checked_first(api_client: APIClient):
    response = api_client.post(PRODUCTS + "?q=lamp", {}, format="json")

    assert response.status_code == 401


def test_every_api_view_follows_the_rule():
    views = routed_views("catalog.apis")

    assert len(views) == 9
    assert [view.__name__ for view in views if not issubclass(view, KnownQueryParameters)] == []
