"""Prepare a service to run, in one Django start: its database, migrations, static files and
any further management commands, each skipped when it has nothing to do.

    manage.py prepare_service --step "jwt_keys --dir var/keys --ensure 2"

runs, in order: ``ensure_database``, ``migrate`` (only when a migration is unapplied),
``collectstatic`` (only when the static sources changed since the last run: a fingerprint of
every file the finders see, kept beside the manifest), ``events_setup`` when chassis.events is
installed, then each ``--step`` (a command line, split like a shell would). Starting Django
once instead of once per command is what makes a second ``make up`` quick: each start costs
about a second of CPU, several on a busy machine.
"""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles.finders import get_finders
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

FINGERPRINT = ".static-fingerprint"


def _static_fingerprint() -> str:
    """A digest of every static source file's path, size and modification time."""
    digest = hashlib.sha256()
    seen: set[str] = set()
    for finder in get_finders():
        for path, storage in finder.list(["CVS", ".*", "*~"]):
            if path in seen:  # the first finder's file wins, as collectstatic does
                continue
            seen.add(path)
            stat = Path(storage.path(path)).stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


class Command(BaseCommand):
    help = "Database, migrations, static files, event queues and further steps, in one start."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--step",
            action="append",
            default=[],
            help="a further management command line, run after the standard steps",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        quiet = {"verbosity": 0, "stdout": self.stdout, "stderr": self.stderr}
        call_command("ensure_database", **quiet)
        self._migrate(quiet, verbosity)
        self._collectstatic(quiet, verbosity)
        if apps.is_installed("chassis.events"):
            call_command("events_setup", **quiet)
        for step in options["step"]:
            name, *arguments = shlex.split(step)
            call_command(
                name, *arguments, verbosity=verbosity, stdout=self.stdout, stderr=self.stderr
            )

    def _say(self, verbosity: int, message: str) -> None:
        if verbosity:
            self.stdout.write(message)

    def _migrate(self, quiet: dict[str, Any], verbosity: int) -> None:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if not plan:
            self._say(verbosity, "migrations: all applied")
            return
        call_command("migrate", interactive=False, **quiet)
        self._say(verbosity, f"migrations: {len(plan)} applied")

    def _collectstatic(self, quiet: dict[str, Any], verbosity: int) -> None:
        root = Path(str(settings.STATIC_ROOT))
        marker = root / FINGERPRINT
        fingerprint = _static_fingerprint()
        manifest = root / "staticfiles.json"
        if manifest.exists() and marker.exists() and marker.read_text() == fingerprint:
            self._say(verbosity, "static files: unchanged")
            return
        call_command("collectstatic", interactive=False, **quiet)
        marker.write_text(fingerprint)
        self._say(verbosity, "static files: collected")
