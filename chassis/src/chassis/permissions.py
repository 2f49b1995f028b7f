"""DRF permissions the services share.

Reads are open on a resource service's public resources; writes are for staff. ``is_staff``
is the token's claim (chassis.auth.TokenUser) or the local user's flag: any user object
with ``is_authenticated`` and ``is_staff`` works.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

__all__ = ["IsStaffOrReadOnly", "is_staff"]


def is_staff(request: Request) -> bool:
    """The request's user is signed in and staff (reading ``request.user`` authenticates)."""
    user = request.user
    return bool(user and user.is_authenticated and user.is_staff)


class IsStaffOrReadOnly(BasePermission):
    """Reads (GET, HEAD, OPTIONS) for anyone, without verifying a token; writes for staff
    (anonymous: 401, signed-in non-staff: 403)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in SAFE_METHODS or is_staff(request)
