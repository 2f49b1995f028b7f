"""One rule for query parameters (chassis.query): a parameter a view does not read is a 400
in the one error shape, on every kind of endpoint, before anything is read or written."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from chassis.query import KnownQueryParameters, routed_views
from chassis.testing import unknown_query_parameters_problem as unknown_parameter
from rest_framework.test import APIClient

from tests.conftest import HTTPS
from tests.factories import UserFactory
from tests.utils import row_counts, user_json
from users.models import User

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "url", "name"),
    [
        ("get", "/api/v1/users/?is_staff=true&is_stuff=true", "is_stuff"),  # list: a typo
        ("get", "/api/v1/users/{user}?expand=groups", "expand"),  # detail
        ("post", "/api/v1/users/{user}/deactivate?notify=0", "notify"),  # action
        ("get", "/api/v1/users/me?fields=email", "fields"),  # detail (own)
        ("patch", "/api/v1/users/me?q=x", "q"),  # update: the list's filter is not its own
        ("post", "/api/v1/users/me/password?logout=0", "logout"),  # action
        ("post", "/api/v1/auth/register?next=/", "next"),  # create
        ("post", "/api/v1/auth/token?remember=1", "remember"),  # action
        ("post", "/api/v1/auth/token/refresh?rotate=0", "rotate"),  # action
        ("post", "/api/v1/auth/logout?all=1", "all"),  # action
        ("get", "/.well-known/jwks.json?kid=test-a", "kid"),  # collection (one document)
    ],
)
def test_an_unknown_query_parameter_is_a_400(
    auth_client: Callable[[User], APIClient], staff: User, method: str, url: str, name: str
):
    target, client = UserFactory(), auth_client(staff)
    before = row_counts()

    response = getattr(client, method)(url.format(user=target.pk), {}, format="json")

    assert response.status_code == 400
    assert response.json() == unknown_parameter(response, name)
    assert row_counts() == before
    assert User.objects.get(pk=target.pk).is_active is True


def test_every_unknown_parameter_is_named_sorted(auth_client, staff: User):
    url = "/api/v1/users/?zeta=1&q=a&alpha=2&alpha=3&=false"

    response = auth_client(staff).get(url)

    assert response.json() == unknown_parameter(response, "", "alpha", "zeta")


def test_known_parameters_pass(auth_client, staff: User):
    query = {"q": "root", "is_staff": "true", "page_size": 5, "format": "json"}

    response = auth_client(staff).get("/api/v1/users/", query)

    staff.refresh_from_db()  # last_login: the token was just issued
    assert response.status_code == 200
    assert response.json()["results"] == [user_json(staff)]


def test_credentials_are_checked_first():
    response = APIClient(**HTTPS).get("/api/v1/users/?is_stuff=true")

    assert response.status_code == 401


def test_every_api_view_follows_the_rule():
    views = routed_views("users.apis")

    assert len(views) == 10
    assert [view.__name__ for view in views if not issubclass(view, KnownQueryParameters)] == []
