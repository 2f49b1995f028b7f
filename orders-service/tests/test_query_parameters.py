"""One rule for query parameters (chassis.query): a parameter a view does not read is a 400
in the one error shape, on every kind of endpoint, before anything is read or written."""

from __future__ import annotations

import pytest
from chassis.query import KnownQueryParameters, routed_views
from chassis.testing import unknown_query_parameters_problem as unknown_parameter
from rest_framework.test import APIClient

from orders.models import Order, Status
from tests.factories import OrderFactory
from tests.utils import ORDERS, order_json, row_counts

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("get", "", "?status=PENDING&stauts=PAID"),  # list: a misspelt filter
        ("post", "", "?dry_run=1"),  # create
        ("get", "{id}", "?expand=lines"),  # detail
        ("post", "{id}/cancel", "?notify=0"),  # action
        ("post", "{id}/ship", "?carrier=x"),  # staff action
    ],
    ids=["list", "create", "detail", "cancel", "ship"],
)
def test_an_unknown_query_parameter_is_a_400(
    staff_client: APIClient, method: str, path: str, query: str
):
    order = OrderFactory(status=Status.CONFIRMED)
    before = row_counts()
    url = ORDERS + path.format(id=order.pk) + query

    response = getattr(staff_client, method)(url, {}, format="json")

    name = query.rsplit("&", 1)[-1].lstrip("?").split("=")[0]
    assert response.status_code == 400
    assert response.json() == unknown_parameter(response, name)
    assert row_counts() == before
    assert Order.objects.get().status == Status.CONFIRMED


def test_every_unknown_parameter_is_named_sorted(staff_client: APIClient):
    """Even a nameless one (found by the fuzz: ``?=false``)."""
    response = staff_client.get(ORDERS + "?zeta=1&status=PENDING&alpha=2&alpha=3&=false")

    assert response.json() == unknown_parameter(response, "", "alpha", "zeta")


def test_known_parameters_pass(staff_client: APIClient):
    order = OrderFactory()

    response = staff_client.get(ORDERS, {"status": "PENDING", "page_size": 5, "format": "json"})
    detail = staff_client.get(f"{ORDERS}{order.pk}", {"format": "json"})

    assert (response.status_code, detail.status_code) == (200, 200)
    assert detail.json() == order_json(order)


def test_credentials_are_checked_first(api_client: APIClient):
    response = api_client.get(ORDERS + "?stauts=PAID")

    assert response.status_code == 401


def test_every_api_view_follows_the_rule():
    views = routed_views("orders.apis")

    assert len(views) == 4
    assert [view.__name__ for view in views if not issubclass(view, KnownQueryParameters)] == []


def test_a_method_the_view_does_not_have_is_a_405_first(staff_client: APIClient):
    order = OrderFactory()

    response = staff_client.put(f"{ORDERS}{order.pk}?stauts=PAID", {}, format="json")

    assert response.status_code == 405
