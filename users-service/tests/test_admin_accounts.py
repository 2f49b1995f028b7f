"""The users admin's erase action and address change (users.erasure, users.verification)."""

from __future__ import annotations

import pytest
from chassis.events.models import OutboxEvent
from django.test import Client

from tests.conftest import HTTPS
from tests.factories import StaffFactory, UserFactory
from tests.test_admin import change_form
from users.models import User

USERS = "/admin/users/users/user/"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("collected_static")]


@pytest.fixture
def superuser(db: None) -> User:
    return StaffFactory(email="root@example.com", is_superuser=True)


@pytest.fixture
def admin(superuser: User) -> Client:
    client = Client(**HTTPS)
    client.force_login(superuser)
    return client


def test_the_erase_action_erases_others_not_oneself(admin: Client, superuser: User):
    targets = [UserFactory(), UserFactory()]

    response = admin.post(
        USERS,
        {"action": "erase_users", "_selected_action": [str(u.pk) for u in [*targets, superuser]]},
        follow=True,
    )

    assert [str(m) for m in response.context["messages"]] == ["2 account(s) erased."]
    events = OutboxEvent.objects.filter(type="user.erased")
    assert sorted(e.payload["user_id"] for e in events) == sorted(str(u.pk) for u in targets)
    for target in targets:
        target.refresh_from_db()
        assert target.email == f"erased-{target.pk.hex}@erased.invalid"
    superuser.refresh_from_db()
    assert superuser.erased_at is None


def test_a_new_address_set_by_staff_is_unverified(
    admin: Client, django_capture_on_commit_callbacks
):
    user = UserFactory(email="old@example.com", email_verified=True)

    with django_capture_on_commit_callbacks() as callbacks:
        response = admin.post(
            f"{USERS}{user.id}/change/", change_form(user, email="new@example.com")
        )

    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.email, user.email_verified) == ("new@example.com", False)
    assert len(callbacks) == 1


def test_other_edits_keep_the_address_verified(admin: Client):
    user = UserFactory(email="old@example.com", email_verified=True)

    admin.post(f"{USERS}{user.id}/change/", change_form(user, full_name="Renamed"))

    user.refresh_from_db()
    assert user.email_verified is True
