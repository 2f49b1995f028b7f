"""Reads: querysets for the APIs and the admin."""

from __future__ import annotations

import uuid

import django_filters
from chassis.filters import StrictBooleanFilter
from django.db.models import Q, QuerySet

from users.models import User


class UserFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="search", max_length=100, help_text="Substring of email or full name."
    )
    is_active = StrictBooleanFilter(help_text="Only active (true) or inactive (false) accounts.")
    is_staff = StrictBooleanFilter(help_text="Only staff (true) or non-staff (false) accounts.")
    group = django_filters.CharFilter(field_name="groups__name", max_length=150)

    class Meta:
        model = User
        fields = ("is_active", "is_staff", "group")

    def search(self, queryset: QuerySet[User], name: str, value: str) -> QuerySet[User]:
        return queryset.filter(Q(email__icontains=value) | Q(full_name__icontains=value))


def user_list() -> QuerySet[User]:
    return User.objects.prefetch_related("groups")


def user_get(*, user_id: uuid.UUID) -> User | None:
    return User.objects.prefetch_related("groups").filter(pk=user_id).first()
