"""Hostile input on the account list, registration, the mailed links, erasure and the admin
changelist: below 500, in the error shape (the chassis's suite: chassis.hostile); its
endpoints are declared here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from chassis.hostile import Endpoint, HostileInputSuite
from chassis.pytest_plugin import HTTPS
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import PASSWORD, StaffFactory, UserFactory
from users.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("collected_static")]

ADMIN = "/admin/users/users/user/"


class TestHostileInput(HostileInputSuite):
    endpoints = (
        Endpoint(
            "users",
            "/api/v1/users/",
            client="staff_api",
            params=("q", "is_active", "is_staff", "group", "page_size"),
            cursor="drf",
        ),
        Endpoint(
            "register",
            "/api/v1/auth/register",
            client="api_client",
            method="POST",
            body={"email": "new@example.com", "password": PASSWORD},
        ),
        *(
            Endpoint(name, path, client="api_client", method="POST", body=body)
            for name, path, body in (
                ("password-reset", "/api/v1/auth/password-reset", {"email": "a@example.com"}),
                (
                    "password-reset-confirm",
                    "/api/v1/auth/password-reset/confirm",
                    {"token": "0" * 32 + ".x-y", "new_password": PASSWORD},
                ),
                ("verify-email", "/api/v1/auth/verify-email", {"token": "0" * 32 + ".x-y"}),
                ("verify-resend", "/api/v1/auth/verify-email/resend", {"email": "a@example.com"}),
            )
        ),
        Endpoint(
            "erase",
            "/api/v1/users/me",
            client="staff_api",
            method="DELETE",
            body={"password": "not-the-password"},
        ),
        Endpoint(
            "user-admin",
            ADMIN,
            client="admin_session",
            admin=True,
            params=(
                "id__exact",
                "date_joined__gte",
                "date_joined__year",
                "date_joined__month",
                "date_joined__day",
                "groups__id__exact",
                "last_login__lt",
                "q",
                "p",
                "o",
            ),
        ),
        Endpoint(
            "user-admin-hierarchy",
            ADMIN,
            client="admin_session",
            admin=True,
            params=("date_joined__month", "date_joined__day"),
            query=(("date_joined__year", "9999"),),
        ),
    )

    @pytest.fixture
    def objects(self) -> dict[str, Any]:
        UserFactory.create_batch(3)
        return {}

    @pytest.fixture
    def staff_api(self, auth_client: Callable[[User], APIClient]) -> APIClient:
        return auth_client(StaffFactory(email="staff@example.com"))

    @pytest.fixture
    def admin_session(self) -> Client:
        client = Client(**HTTPS)
        client.force_login(StaffFactory(email="root@example.com", is_superuser=True))
        return client
