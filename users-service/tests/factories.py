"""factory_boy factories for users-service's models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import factory
from django.contrib.auth.models import Group
from factory.django import DjangoModelFactory

from users.models import User

# Passes every validator of AUTH_PASSWORD_VALIDATORS (length, common, numeric, similarity).
PASSWORD = "violet-Kettle-drum-42"
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


class GroupFactory(DjangoModelFactory):
    class Meta:
        model = Group
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"group-{n}")


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Sequence(lambda n: f"User Number{n}")
    password = factory.django.Password(PASSWORD)
    # One minute apart in creation order, so "newest first" is deterministic.
    date_joined = factory.Sequence(lambda n: EPOCH + timedelta(minutes=n))

    @factory.post_generation
    def groups(self, create: bool, extracted: list[Group] | None, **kwargs: Any) -> None:
        if create and extracted:
            self.groups.add(*extracted)


class StaffFactory(UserFactory):
    is_staff = True
