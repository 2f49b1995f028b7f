"""Staff roles: the groups of users-service, and what each service lets them do.

Groups live in users-service (``catalog-editors``, ``order-managers``, ``support``) and travel
in the access token's ``groups`` claim, with ``is_staff`` and ``is_superuser``. Each service
says in code what each group may do in it, in one place, its ``<app>/roles.py``:

* ``GROUP_PERMISSIONS``: the Django model permissions of each group in its admin
  (``{"catalog-editors": ["catalog.change_product", ...]}``), named in the service's settings
  by its dotted path (``CHASSIS["ROLES"]["GROUP_PERMISSIONS"]``).
  :func:`group_permissions_sync` makes the local
  groups hold exactly those, after every ``migrate`` (so ``prepare`` and the test databases
  get them) and on demand (``manage.py roles_sync``). The admin's shadow users are put in the
  local groups named like their users-service groups (chassis.sso).
* the roles its staff endpoints need: ``permission_classes = (HasRole.of(EDITORS),)``. A
  superuser has every role; any other account needs ``is_staff`` *and* one of the groups:
  ``is_staff`` alone grants nothing (nor does ``is_superuser`` without ``is_staff``). A
  refusal is the one 403 problem document, and the endpoint's OpenAPI 403 names the roles
  (chassis.openapi).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.apps import apps as global_apps
from django.db import transaction
from django.utils.module_loading import import_string
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from chassis.settings import chassis_settings

__all__ = [
    "CATALOG_EDITORS",
    "ORDER_MANAGERS",
    "SUPPORT",
    "HasRole",
    "HasRoleOrReadOnly",
    "configured_group_permissions",
    "group_permissions_sync",
    "has_role",
    "user_groups",
]

CATALOG_EDITORS = "catalog-editors"
ORDER_MANAGERS = "order-managers"
SUPPORT = "support"
SUPERUSER = "superuser"  # not a group: the is_superuser flag, named so in the matrix


def user_groups(user: Any) -> frozenset[str]:
    """The group names of a request's user: the token's claim (chassis.auth.TokenUser) or the
    local user's groups (users-service's accounts, the admin's shadow users)."""
    groups = getattr(user, "groups", ())
    if isinstance(groups, tuple):
        return frozenset(groups)
    cached = getattr(user, "_chassis_group_names", None)
    if cached is None:
        cached = frozenset(groups.values_list("name", flat=True))
        user._chassis_group_names = cached
    return frozenset(cached)


def has_role(user: Any, roles: Iterable[str]) -> bool:
    """Signed in, active, staff, and superuser or in one of ``roles``."""
    if not (user and user.is_authenticated and getattr(user, "is_active", False)):
        return False
    if not getattr(user, "is_staff", False):
        return False
    return bool(getattr(user, "is_superuser", False) or user_groups(user) & set(roles))


class HasRole(BasePermission):
    """DRF permission: the user has one of ``roles`` (:func:`has_role`); anonymous: 401."""

    roles: tuple[str, ...] = ()

    @classmethod
    def of(cls, *roles: str) -> type[HasRole]:
        """The permission for ``roles`` (``HasRole.of(CATALOG_EDITORS)``)."""
        return type(f"{cls.__name__}Of", (cls,), {"roles": roles})

    def describe(self) -> str:
        """Who is allowed, for the 403's message and the OpenAPI schema."""
        return f"Needs the role {' or '.join([*self.roles, SUPERUSER])}."

    @property
    def message(self) -> str:  # type: ignore[override]
        return self.describe()

    def has_permission(self, request: Request, view: Any) -> bool:
        return has_role(request.user, self.roles)


class HasRoleOrReadOnly(HasRole):
    """Reads (GET, HEAD, OPTIONS) for anyone, without verifying a token; writes need a role."""

    def describe(self) -> str:
        return f"Writes need the role {' or '.join([*self.roles, SUPERUSER])}."

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in SAFE_METHODS or super().has_permission(request, view)


def configured_group_permissions() -> Mapping[str, Iterable[str]]:
    """The service's ``GROUP_PERMISSIONS`` (``CHASSIS["ROLES"]["GROUP_PERMISSIONS"]``)."""
    path = chassis_settings.ROLES["GROUP_PERMISSIONS"]
    return import_string(path) if isinstance(path, str) else dict(path or {})


def _permission(name: str) -> Any:
    from django.contrib.auth.models import Permission

    app_label, _, codename = name.partition(".")
    try:
        return Permission.objects.get(content_type__app_label=app_label, codename=codename)
    except Permission.DoesNotExist:
        raise LookupError(f"Unknown permission {name!r} in CHASSIS['ROLES']") from None


@transaction.atomic
def group_permissions_sync(
    *, group_permissions: Mapping[str, Iterable[str]] | None = None, using: str = "default"
) -> dict[str, int]:
    """Make each local group hold exactly its permissions (creating the group and, first,
    every app's permissions); groups not named are left alone. Idempotent. Returns the
    number of permissions per group. Raises LookupError for a permission that does not
    exist (a typo must not silently grant less)."""
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group

    mapping = configured_group_permissions() if group_permissions is None else group_permissions
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    counts = {}
    for name, permissions in mapping.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = [_permission(p) for p in permissions]
        group.permissions.set(wanted)
        counts[name] = len(wanted)
    return counts


def post_migrate_sync(*, using: str = "default", **kwargs: Any) -> None:
    """post_migrate receiver (chassis.apps): the groups follow the code after each migrate."""
    if configured_group_permissions():
        group_permissions_sync(using=using)
