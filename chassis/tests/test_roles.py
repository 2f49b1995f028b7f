"""chassis.roles: who has a role (token users and local users), the DRF permission and its
403, and the sync of the groups' permissions with the service's code."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group
from rest_framework.test import APIRequestFactory

from chassis.auth import TokenUser
from chassis.roles import HasRole, HasRoleOrReadOnly, group_permissions_sync, has_role


def token_user(**claims: object) -> TokenUser:
    return TokenUser.from_claims({"sub": "42", "email": "s@example.com", **claims})


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"is_staff": True, "groups": ["support"]}, True),
        ({"is_staff": True, "groups": ["catalog-editors"]}, False),
        ({"is_staff": True, "groups": []}, False),  # is_staff alone grants nothing
        ({"is_staff": False, "groups": ["support"]}, False),  # a group without staff either
        ({"is_staff": True, "is_superuser": True, "groups": []}, True),
        ({"is_staff": False, "is_superuser": True, "groups": []}, False),
    ],
)
def test_has_role_from_the_tokens_claims(claims, expected):
    assert has_role(token_user(**claims), ["support"]) is expected


def test_anonymous_has_no_role():
    assert has_role(AnonymousUser(), ["support"]) is False


@pytest.mark.django_db
def test_has_role_from_a_local_users_groups():
    user = get_user_model().objects.create_user("staff", is_staff=True)
    user.groups.add(Group.objects.create(name="support"))
    inactive = get_user_model().objects.create_user("gone", is_staff=True, is_active=False)
    inactive.groups.add(Group.objects.get(name="support"))

    assert has_role(user, ["support"]) is True
    assert has_role(user, ["order-managers"]) is False
    assert has_role(inactive, ["support"]) is False


def test_the_permission_says_which_roles_it_needs():
    permission = HasRole.of("order-managers", "support")()
    writes = HasRoleOrReadOnly.of("catalog-editors")()
    request = APIRequestFactory()

    assert permission.message == "Needs the role order-managers or support or superuser."
    assert writes.message == "Writes need the role catalog-editors or superuser."
    get, post = request.get("/"), request.post("/")
    get.user = post.user = token_user(is_staff=True, groups=["support"])
    assert permission.has_permission(get, None) is True
    assert writes.has_permission(get, None) is True  # reads for anyone
    assert writes.has_permission(post, None) is False


@pytest.mark.django_db
def test_the_sync_makes_each_group_hold_exactly_its_permissions():
    group = Group.objects.create(name="support")
    group.permissions.add(*Group.permissions.rel.model.objects.filter(codename="add_group"))
    Group.objects.create(name="untouched")

    counts = group_permissions_sync(
        group_permissions={"support": ["chassis_events.view_parkedevent"], "order-managers": []}
    )
    again = group_permissions_sync(
        group_permissions={"support": ["chassis_events.view_parkedevent"], "order-managers": []}
    )

    assert counts == again == {"support": 1, "order-managers": 0}
    held = {
        g.name: sorted(g.permissions.values_list("codename", flat=True))
        for g in Group.objects.all()
    }
    assert held == {"support": ["view_parkedevent"], "order-managers": [], "untouched": []}


@pytest.mark.django_db
def test_an_unknown_permission_is_refused_and_grants_nothing():
    with pytest.raises(LookupError, match=r"Unknown permission 'chassis_events\.fly'"):
        group_permissions_sync(
            group_permissions={"support": ["chassis_events.view_parkedevent", "chassis_events.fly"]}
        )

    assert not Group.objects.filter(name="support").exists()  # one transaction
