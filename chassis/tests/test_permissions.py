"""chassis.permissions: reads for anyone, writes for staff."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from chassis.permissions import IsStaffOrReadOnly, is_staff

STAFF = SimpleNamespace(is_authenticated=True, is_staff=True)
BUYER = SimpleNamespace(is_authenticated=True, is_staff=False)


def request_of(method: str, user: object) -> Request:
    request = Request(getattr(APIRequestFactory(), method.lower())("/"))
    request.user = user
    return request


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
@pytest.mark.parametrize("user", [AnonymousUser(), BUYER, STAFF])
def test_reads_are_for_anyone(method, user):
    assert IsStaffOrReadOnly().has_permission(request_of(method, user), view=None) is True


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize(
    ("user", "allowed"), [(AnonymousUser(), False), (BUYER, False), (STAFF, True)]
)
def test_writes_are_for_staff_only(method, user, allowed):
    assert IsStaffOrReadOnly().has_permission(request_of(method, user), view=None) is allowed


def test_is_staff_needs_a_signed_in_staff_user():
    assert [is_staff(request_of("GET", u)) for u in (AnonymousUser(), BUYER, STAFF)] == [
        False,
        False,
        True,
    ]
