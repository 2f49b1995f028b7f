"""The staff APIs under /api/v1/users/ (list, detail, deactivate) and who may call them."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from tests.conftest import issue_tokens
from tests.factories import GroupFactory, StaffFactory, UserFactory
from tests.utils import assert_problem, claims_of, user_json
from users.models import User

ME = "/api/v1/users/me"
PASSWORD_URL = "/api/v1/users/me/password"
USERS = "/api/v1/users/"
UNKNOWN_ID = "6f1c1f4e-0000-4000-8000-000000000000"  # fixed: test ids must not change

pytestmark = pytest.mark.django_db

AuthClient = Callable[[User], APIClient]


# --- anonymous and non-staff -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", ME),
        ("patch", ME),
        ("post", PASSWORD_URL),
        ("get", USERS),
        ("get", f"{USERS}{UNKNOWN_ID}"),
        ("post", f"{USERS}{UNKNOWN_ID}/deactivate"),
    ],
)
def test_anonymous_requests_are_401(api_client: APIClient, method: str, path: str):
    response = getattr(api_client, method)(path, {})

    assert_problem(
        response,
        401,
        "not-authenticated",
        detail="Authentication credentials were not provided.",
        errors=[],
    )
    assert response.json()["title"] == "Authentication required."
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(
    ("method", "path", "roles"),
    [
        ("get", USERS, "support or superuser"),
        ("get", "{id}", "support or superuser"),
        ("post", "{id}/deactivate", "superuser"),
    ],
)
def test_staff_apis_refuse_non_staff_with_403(
    auth_client: AuthClient, user: User, method: str, path: str, roles: str
):
    other = UserFactory()
    url = USERS + path.format(id=other.id) if "{id}" in path else path

    response = getattr(auth_client(user), method)(url)

    assert_problem(
        response,
        403,
        "permission-denied",
        detail=f"Needs the role {roles}.",
        errors=[],
    )
    other.refresh_from_db()
    assert other.is_active is True


# --- list ----------------------------------------------------------------------------------


def test_list_returns_every_account_newest_first(auth_client: AuthClient, staff: User):
    older = UserFactory(email="older@example.com")
    newer = UserFactory(email="newer@example.com")

    response = auth_client(staff).get(USERS)

    assert response.status_code == 200
    staff.refresh_from_db()  # logged in: last_login is set
    body = response.json()
    assert body["next"] is None
    assert body["previous"] is None
    assert body["results"] == [user_json(u) for u in (newer, older, staff)]


def test_list_is_cursor_paginated(auth_client: AuthClient, staff: User):
    users = [UserFactory() for _ in range(4)]
    newest_first = [*reversed(users), staff]
    client = auth_client(staff)

    first = client.get(USERS, {"page_size": 2}).json()
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()

    assert [r["id"] for r in first["results"]] == [str(u.id) for u in newest_first[:2]]
    assert [r["id"] for r in second["results"]] == [str(u.id) for u in newest_first[2:4]]
    assert [r["id"] for r in third["results"]] == [str(staff.id)]
    assert third["next"] is None
    assert "cursor" in parse_qs(urlsplit(first["next"]).query)
    back = client.get(third["previous"]).json()
    assert back["results"] == second["results"]


def test_list_page_size_is_capped_at_200(auth_client: AuthClient, staff: User):
    response = auth_client(staff).get(USERS, {"page_size": 10_000})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_list_with_an_invalid_cursor_is_a_400_problem(auth_client: AuthClient, staff: User):
    response = auth_client(staff).get(USERS, {"cursor": "not-a-cursor"})

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[{"field": "cursor", "code": "invalid", "message": "Invalid cursor."}],
    )


def test_list_with_a_page_size_that_is_not_a_number_is_a_400_problem(
    auth_client: AuthClient, staff: User
):
    response = auth_client(staff).get(USERS, {"page_size": "ten"})

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[
            {"field": "page_size", "code": "invalid", "message": "A positive integer is required."}
        ],
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "ALICE"}, ["alice@example.com"]),
        ({"q": "Hatter"}, ["madhatter@example.com"]),
        ({"q": "example.org"}, ["queen@example.org"]),
        ({"is_active": "false"}, ["queen@example.org"]),
        (
            {"is_active": "true", "is_staff": "false"},
            ["madhatter@example.com", "alice@example.com"],
        ),
        ({"is_staff": "true"}, ["root@example.com"]),
        ({"group": "tea-party"}, ["madhatter@example.com", "alice@example.com"]),
        ({"group": "tea-party", "q": "mad"}, ["madhatter@example.com"]),
        ({"group": "nobody-is-in-it"}, []),
        ({"q": "zzz-nothing"}, []),
    ],
)
def test_list_filters(auth_client: AuthClient, staff: User, params, expected):
    tea = GroupFactory(name="tea-party")
    UserFactory(email="alice@example.com", full_name="Alice", groups=[tea])
    UserFactory(email="madhatter@example.com", full_name="The Hatter", groups=[tea])
    UserFactory(email="queen@example.org", full_name="Queen of Hearts", is_active=False)

    response = auth_client(staff).get(USERS, params)

    assert response.status_code == 200
    assert [r["email"] for r in response.json()["results"]] == expected


@pytest.mark.parametrize("params", [{}, {"group": "g1"}, {"group": "g1", "q": "multi"}])
def test_list_shows_a_member_of_several_groups_once(auth_client: AuthClient, staff, params):
    UserFactory(email="multi@example.com", groups=[GroupFactory(name="g1"), GroupFactory()])
    UserFactory(email="other@example.com", groups=[GroupFactory(name="g1")])

    response = auth_client(staff).get(USERS, params)

    emails = [r["email"] for r in response.json()["results"]]
    assert emails.count("multi@example.com") == 1
    assert len(emails) == len(set(emails))


def test_list_with_a_null_byte_in_the_search_is_400(auth_client: AuthClient, staff: User):
    response = auth_client(staff).get(USERS, {"q": "a\x00b"})

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[
            {
                "field": "q",
                "code": "null_characters_not_allowed",
                "message": "Null characters are not allowed.",
            }
        ],
    )


def test_list_with_an_overlong_search_is_400(auth_client: AuthClient, staff: User):
    response = auth_client(staff).get(USERS, {"q": "x" * 101})

    body = assert_problem(response, 400, "validation-error")
    assert [e["field"] for e in body["errors"]] == ["q"]


@pytest.mark.parametrize("count", [3, 30])
def test_list_query_count_is_constant(
    auth_client: AuthClient, staff: User, django_assert_num_queries, count: int
):
    groups = [GroupFactory(name="a"), GroupFactory(name="b")]
    UserFactory.create_batch(count, groups=groups)
    client = auth_client(staff)

    # 1: the requesting user (authentication), 2: the page, 3: the groups of the page.
    with django_assert_num_queries(3):
        response = client.get(USERS)

    assert response.status_code == 200
    assert len(response.json()["results"]) == count + 1
    assert response.json()["results"][0]["groups"] == ["a", "b"]


# --- detail --------------------------------------------------------------------------------


def test_detail_returns_the_account(auth_client: AuthClient, staff: User, user: User):
    user.groups.add(Group.objects.create(name="buyers"))

    response = auth_client(staff).get(f"{USERS}{user.id}")

    assert response.status_code == 200
    assert response.json() == user_json(user)


def test_detail_of_an_unknown_id_is_404(auth_client: AuthClient, staff: User):
    response = auth_client(staff).get(f"{USERS}{UNKNOWN_ID}")

    assert_problem(response, 404, "not-found", detail="No resource matches the request.")


@pytest.mark.parametrize("tail", ["not-a-uuid", "12345", f"{UNKNOWN_ID}/", "me/"])
def test_detail_of_a_malformed_id_is_a_404_problem(auth_client: AuthClient, staff: User, tail: str):
    response = auth_client(staff).get(f"{USERS}{tail}")

    assert_problem(response, 404, "not-found", detail="No resource matches the request.")


# --- deactivate ----------------------------------------------------------------------------


def test_deactivate_deactivates_and_revokes_refresh_tokens(
    auth_client: AuthClient, staff: User, user: User
):
    pairs = [issue_tokens(user), issue_tokens(user)]
    staff_pair = issue_tokens(staff)
    client = auth_client(staff)

    response = client.post(f"{USERS}{user.id}/deactivate")

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.is_active is False
    assert response.json() == user_json(user)
    revoked = set(BlacklistedToken.objects.values_list("token__jti", flat=True))
    assert revoked == {claims_of(p.refresh)["jti"] for p in pairs}
    assert claims_of(staff_pair.refresh)["jti"] not in revoked


def test_deactivate_twice_is_idempotent(auth_client: AuthClient, staff: User, user: User):
    client = auth_client(staff)
    client.post(f"{USERS}{user.id}/deactivate")

    response = client.post(f"{USERS}{user.id}/deactivate")

    assert response.status_code == 200
    assert response.json()["is_active"] is False


def test_deactivate_oneself_is_409(auth_client: AuthClient, staff: User):
    issue_tokens(staff)

    response = auth_client(staff).post(f"{USERS}{staff.id}/deactivate")

    assert_problem(
        response,
        409,
        "conflict",
        detail="Staff cannot deactivate their own account.",
        errors=[],
    )
    assert response.json()["title"] == "The request conflicts with the current state."
    staff.refresh_from_db()
    assert staff.is_active is True
    assert BlacklistedToken.objects.count() == 0


def test_deactivate_an_unknown_id_is_404(auth_client: AuthClient, staff: User):
    response = auth_client(staff).post(f"{USERS}{UNKNOWN_ID}/deactivate")

    assert_problem(response, 404, "not-found", detail="No resource matches the request.")


def test_deactivate_a_non_uuid_is_a_404_problem(auth_client: AuthClient, staff: User):
    response = auth_client(staff).post(f"{USERS}not-a-uuid/deactivate")

    assert_problem(response, 404, "not-found", detail="No resource matches the request.")


def test_deactivate_needs_post(auth_client: AuthClient, staff: User, user: User):
    response = auth_client(staff).get(f"{USERS}{user.id}/deactivate")

    assert_problem(response, 405, "method-not-allowed")
    user.refresh_from_db()
    assert user.is_active is True


def test_staff_from_another_staff_can_deactivate_a_staff_account(auth_client: AuthClient, staff):
    other = StaffFactory()

    response = auth_client(staff).post(f"{USERS}{other.id}/deactivate")

    assert response.status_code == 200
    assert OutstandingToken.objects.filter(user=other).count() == 0


@pytest.mark.parametrize("value", ["null", "yes", "1"])
def test_list_boolean_filters_accept_only_true_or_false(
    auth_client: AuthClient, staff: User, value: str
):
    response = auth_client(staff).get(USERS, {"is_staff": value})

    body = assert_problem(response, 400, "validation-error")
    assert [e["field"] for e in body["errors"]] == ["is_staff"]
