"""Admin building blocks shared by the services."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

__all__ = ["ReadOnlyAdminMixin"]


class ReadOnlyAdminMixin:
    """For a ModelAdmin or inline of records that change only through services (ledgers,
    events, orders): staff can look, never add, edit or delete."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
