"""Make the local groups hold exactly the permissions the service gives them in code
(``CHASSIS["ROLES"]["GROUP_PERMISSIONS"]``, chassis.roles). ``migrate`` does it too."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from chassis.roles import group_permissions_sync


class Command(BaseCommand):
    help = "Sync the staff groups' permissions with the service's roles (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        for group, count in group_permissions_sync().items():
            self.stdout.write(f"{group}: {count} permission(s)")
