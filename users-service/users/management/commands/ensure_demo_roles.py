"""Create (once) one demo staff account per role of a local run; passwords kept in files.

``--password-dir DIR``: each account's password is ``DIR/<email>`` (made on the first run,
mode 0600). Idempotent: a second run leaves the accounts as they are, back in their group
and with the password on file. Not for production: real staff are put in groups in the admin.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from users.models import User
from users.roles import DEMO_ACCOUNTS


def _password(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(12))
    return path.read_text().strip()


class Command(BaseCommand):
    help = "Create the demo account of each staff role if missing; passwords in --password-dir."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password-dir", type=Path, required=True)

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        for email, (group, name) in DEMO_ACCOUNTS.items():
            password = _password(options["password_dir"] / email)
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(email, password, full_name=name, is_staff=True)
                self.stdout.write(f"created {group} account {email}")
            elif not user.check_password(password):
                user.set_password(password)
                user.save(update_fields=["password"])
            user.groups.add(Group.objects.get(name=group))
