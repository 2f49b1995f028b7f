"""Generate RSA signing keys for local runs and tests, and show the published JWKS.

    manage.py jwt_keys --dir var/keys/users --ensure 2   # create keys until there are 2
    manage.py jwt_keys --jwks                            # print the JWKS of the configured ring

Production keys come from a secret store (files mounted into JWT_KEYS_DIR, or JWT_KEYS).
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from users.keys import generate_private_key_pem, keyring


class Command(BaseCommand):
    help = "Generate JWT signing keys (<kid>.pem, mode 0600) or print the JWKS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", type=Path, help="Key directory (created if missing).")
        parser.add_argument(
            "--ensure",
            type=int,
            default=0,
            help="Generate keys until the directory holds this many.",
        )
        parser.add_argument("--jwks", action="store_true", help="Print the JWKS and exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["jwks"]:
            self.stdout.write(json.dumps(keyring().jwks(), indent=2))
            return
        directory: Path | None = options["dir"]
        if directory is None or options["ensure"] < 1:
            raise CommandError("use --dir DIR --ensure N (N >= 1), or --jwks")
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        existing = sorted(directory.glob("*.pem"))
        for _ in range(len(existing), options["ensure"]):
            kid = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
            path = directory / f"{kid}.pem"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(generate_private_key_pem())
            self.stdout.write(f"generated signing key {kid} in {directory}")
        if len(existing) >= options["ensure"]:
            self.stdout.write(f"{len(existing)} signing key(s) present in {directory}")
