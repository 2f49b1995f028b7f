"""Create (once) the demo staff account of a local run; its password is kept in a file.

Idempotent: a second run leaves the account and the password as they are. Not for production:
real staff accounts are created with ``createsuperuser`` or in the admin.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from users.models import User


class Command(BaseCommand):
    help = "Create the demo staff account if missing; the password lives in --password-file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default="admin@example.com")
        parser.add_argument("--password-file", type=Path, required=True)

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["password_file"]
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(12))
        password = path.read_text().strip()
        user = User.objects.filter(email=User.objects.normalize_email(options["email"])).first()
        if user is None:
            User.objects.create_superuser(options["email"], password, full_name="Demo Staff")
            self.stdout.write(f"created staff account {options['email']}")
        elif not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
            self.stdout.write(f"reset the password of {options['email']} to the one on file")
