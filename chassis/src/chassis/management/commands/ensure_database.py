"""Create the service's PostgreSQL database if it does not exist (idempotent).

Connects to the server's ``postgres`` maintenance database with the same credentials.
SQLite databases need nothing: the file is created on first connection.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections


class Command(BaseCommand):
    help = "Create the default database if it is missing (PostgreSQL only)."

    def handle(self, *args: Any, **options: Any) -> None:
        conn = connections["default"]
        name = conn.settings_dict["NAME"]
        if conn.vendor != "postgresql":
            self.stdout.write(f"{conn.vendor}: nothing to create for {name}")
            return
        import psycopg
        from psycopg import sql

        params: dict[str, Any] = {
            "host": conn.settings_dict.get("HOST") or None,
            "port": conn.settings_dict.get("PORT") or None,
            "user": conn.settings_dict.get("USER") or None,
            "password": conn.settings_dict.get("PASSWORD") or None,
            "dbname": "postgres",
            "autocommit": True,
            "connect_timeout": 5,
        }
        try:
            with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as pg:
                exists = pg.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", [name]
                ).fetchone()
                if exists:
                    self.stdout.write(f"database {name} exists")
                    return
                pg.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise CommandError(f"cannot create database {name}: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"database {name} created"))
