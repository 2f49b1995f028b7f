"""Events users publishes: user.registered, user.deactivated and user.reactivated, written to
the outbox in the transaction of the change, from every path, matching the schema files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from chassis.events.models import OutboxEvent
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import HTTPS
from tests.factories import PASSWORD, StaffFactory, UserFactory
from users import services
from users.models import User

pytestmark = pytest.mark.django_db


def outbox(event_type: str) -> list[dict[str, Any]]:
    """Payloads of the outbox rows of ``event_type``, oldest first, each validated against
    users' schema file (formats included)."""
    path = Path(settings.CHASSIS["EVENTS"]["SCHEMAS_DIR"]) / f"{event_type}.v1.json"
    validator = jsonschema.Draft202012Validator(
        json.loads(path.read_text()),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    rows = list(OutboxEvent.objects.filter(type=event_type).order_by("occurred_at", "id"))
    for row in rows:
        assert (row.version, row.producer) == (1, "users")
        assert [e.message for e in validator.iter_errors(row.payload)] == []
    return [row.payload for row in rows]


# --- user.registered -----------------------------------------------------------------------


def test_registering_publishes_user_registered():
    user = services.user_register(
        email="New.Person@Example.org", password=PASSWORD, full_name="New Person"
    )

    assert outbox("user.registered") == [
        {"user_id": str(user.pk), "email": "new.person@example.org", "full_name": "New Person"}
    ]


def test_registering_through_the_api_publishes_once(api_client: APIClient):
    response = api_client.post(
        "/api/v1/auth/register", {"email": "bob@example.com", "password": PASSWORD}
    )

    assert response.status_code == 201
    assert outbox("user.registered") == [
        {"user_id": response.json()["id"], "email": "bob@example.com", "full_name": ""}
    ]


def test_a_refused_registration_publishes_nothing(user: User):
    with pytest.raises(services.InvalidInput):
        services.user_register(email=user.email, password=PASSWORD)

    assert OutboxEvent.objects.count() == 0


def test_registering_queues_the_welcome_email_after_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        user = services.user_register(email="carol@example.com", password=PASSWORD)

    # The outbox relay, the welcome and the verification emails, all after commit (none
    # executed here).
    assert len(callbacks) == 3
    assert user.welcome_email_sent_at is None


# --- user.deactivated ----------------------------------------------------------------------


def test_deactivating_publishes_user_deactivated(user: User, staff: User):
    services.user_deactivate(user=user, by=staff)

    assert outbox("user.deactivated") == [{"user_id": str(user.pk)}]


def test_deactivating_an_inactive_account_publishes_nothing(staff: User):
    user = UserFactory(is_active=False)

    services.user_deactivate(user=user, by=staff)

    assert OutboxEvent.objects.count() == 0


def test_the_deactivate_api_publishes_once(auth_client, staff: User, user: User):
    client = auth_client(staff)

    first = client.post(f"/api/v1/users/{user.pk}/deactivate")
    second = client.post(f"/api/v1/users/{user.pk}/deactivate")

    assert (first.status_code, second.status_code) == (200, 200)
    assert outbox("user.deactivated") == [{"user_id": str(user.pk)}]


@pytest.fixture
def admin(collected_static) -> Client:
    client = Client(**HTTPS)
    client.force_login(StaffFactory(email="root@example.com", is_superuser=True))
    return client


def test_the_admin_action_publishes_per_deactivated_account(admin: Client):
    targets = [UserFactory(), UserFactory()]
    already = UserFactory(is_active=False)

    response = admin.post(
        "/admin/users/users/user/",
        {
            "action": "deactivate_users",
            "_selected_action": [str(u.pk) for u in (*targets, already)],
            "confirm": "yes",  # on the action's confirmation page (chassis.backoffice)
        },
    )

    assert response.status_code == 302
    assert sorted(p["user_id"] for p in outbox("user.deactivated")) == sorted(
        str(u.pk) for u in targets
    )


def test_unticking_active_in_the_admin_publishes(admin: Client, user: User):
    form = {"email": user.email, "full_name": user.full_name}

    edited = admin.post(f"/admin/users/users/user/{user.pk}/change/", {**form, "is_active": "on"})
    unticked = admin.post(f"/admin/users/users/user/{user.pk}/change/", form)
    again = admin.post(f"/admin/users/users/user/{user.pk}/change/", form)

    assert (edited.status_code, unticked.status_code, again.status_code) == (302, 302, 302)
    assert outbox("user.deactivated") == [{"user_id": str(user.pk)}]


# --- user.reactivated ----------------------------------------------------------------------


def test_ticking_active_again_in_the_admin_publishes_user_reactivated(admin: Client, user: User):
    """Reactivation exists (the admin's "active" box): orders must hear of it, or a newer
    deactivation could not be told from an older one and the account could never order."""
    form = {"email": user.email, "full_name": user.full_name}

    unticked = admin.post(f"/admin/users/users/user/{user.pk}/change/", form)
    ticked = admin.post(f"/admin/users/users/user/{user.pk}/change/", {**form, "is_active": "on"})
    again = admin.post(f"/admin/users/users/user/{user.pk}/change/", {**form, "is_active": "on"})

    assert (unticked.status_code, ticked.status_code, again.status_code) == (302, 302, 302)
    assert User.objects.get(pk=user.pk).is_active is True
    assert outbox("user.deactivated") == [{"user_id": str(user.pk)}]
    assert outbox("user.reactivated") == [{"user_id": str(user.pk)}]
    deactivated, reactivated = OutboxEvent.objects.order_by("occurred_at")
    assert (deactivated.type, reactivated.type) == ("user.deactivated", "user.reactivated")


def test_adding_an_account_in_the_admin_publishes_no_reactivation(admin: Client):
    response = admin.post(
        "/admin/users/users/user/add/",
        {
            "email": "new@example.com",
            "full_name": "New",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )

    assert response.status_code == 302
    assert outbox("user.reactivated") == []
