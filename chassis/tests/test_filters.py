"""chassis.filters.StrictBooleanFilter: ``true`` or ``false``, anything else refused."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from chassis.filters import StrictBooleanFilter, StrictFilterSet


class UserFilter(StrictFilterSet):
    is_staff = StrictBooleanFilter()

    class Meta:
        model = User
        fields = ("is_staff",)


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False)])
def test_true_and_false_filter(value, expected):
    filterset = UserFilter(data={"is_staff": value}, queryset=User.objects.none())

    assert filterset.is_valid()
    assert filterset.form.cleaned_data["is_staff"] is expected


@pytest.mark.parametrize("value", ["yes", "1", "null", "True", ""])
def test_anything_else_is_an_error_not_no_filter(value):
    filterset = UserFilter(data={"is_staff": value}, queryset=User.objects.none())

    assert not filterset.is_valid()
    assert list(filterset.errors) == ["is_staff"]


def test_no_value_is_no_filter():
    filterset = UserFilter(data={}, queryset=User.objects.none())

    assert filterset.is_valid()
    assert filterset.form.cleaned_data["is_staff"] in ("", None)
