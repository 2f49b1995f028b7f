"""The permission matrix of users-service (users.roles; the README's "Roles" table): each
role against each staff endpoint and admin page, allowed (its exact success) or refused."""

from __future__ import annotations

import pytest
from chassis.pytest_plugin import HTTPS
from chassis.roles import CATALOG_EDITORS, ORDER_MANAGERS, SUPPORT
from django.contrib.auth.models import Group
from django.test import Client

from tests.conftest import issue_tokens
from tests.factories import StaffFactory, UserFactory
from tests.utils import assert_problem, claims_of
from users.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("collected_static")]

ROLES = (CATALOG_EDITORS, ORDER_MANAGERS, SUPPORT, "staff", "superuser")
READERS = {SUPPORT, "superuser"}
API = "/api/v1/users/"
ADMIN = "/admin/users/"

# (method, path, success status, roles allowed) on another account.
API_MATRIX = [
    ("get", "", 200, READERS),
    ("get", "{user}", 200, READERS),
    ("post", "{user}/deactivate", 200, {"superuser"}),
]
# (admin path, roles allowed); a role with no permission here gets the login page.
ADMIN_MATRIX = [
    ("", READERS),
    ("users/user/", READERS),
    ("users/user/{user}/change/", READERS),
    ("auth/group/", {"superuser"}),
    ("users/user/add/", {"superuser"}),
]


def _staff(role: str) -> User:
    staff = StaffFactory(email="staff@example.com", is_superuser=role == "superuser")
    if role not in ("staff", "superuser"):
        staff.groups.add(Group.objects.get(name=role))  # made by migrate (chassis.roles)
    return staff


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "success", "allowed"), API_MATRIX)
def test_api_matrix(auth_client, role, method, path, success, allowed):
    other = UserFactory()
    client = auth_client(_staff(role))

    response = getattr(client, method)(API + path.format(user=other.pk))

    if role in allowed:
        assert response.status_code == success, response.content
    else:
        assert_problem(response, 403, "permission-denied")
        other.refresh_from_db()
        assert other.is_active is True


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("path", "allowed"), ADMIN_MATRIX)
def test_admin_matrix(role, path, allowed):
    other = UserFactory()
    client = Client(**HTTPS)
    client.force_login(_staff(role))

    response = client.get(ADMIN + path.format(user=other.pk))

    if role in allowed:
        assert response.status_code == 200
    elif role in READERS:
        assert response.status_code == 403
    else:  # no permission here: the admin's door refuses (chassis.admin.AdminSite)
        assert response.status_code == 302
        assert response["Location"].startswith(f"{ADMIN}login/")


def test_support_reads_an_account_and_changes_nothing():
    other = UserFactory()
    client = Client(**HTTPS)
    client.force_login(_staff(SUPPORT))
    url = f"{ADMIN}users/user/{other.pk}/change/"

    form = client.get(url).content.decode()
    listing = client.get(f"{ADMIN}users/user/").content.decode()
    refused = client.post(url, {"email": other.email, "is_active": ""})

    assert 'name="_save"' not in form
    assert 'value="deactivate_users"' not in listing
    assert refused.status_code == 403
    other.refresh_from_db()
    assert other.is_active is True


def test_the_groups_travel_in_the_token():
    staff = _staff(SUPPORT)

    claims = claims_of(issue_tokens(staff).access)

    assert (claims["is_staff"], claims["is_superuser"], claims["groups"]) == (
        True,
        False,
        [SUPPORT],
    )
