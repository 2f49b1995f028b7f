import io
import uuid

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.db.utils import ConnectionHandler

from chassis.management.commands import ensure_database


def ensure_database_output() -> str:
    out = io.StringIO()
    call_command("ensure_database", stdout=out)
    return out.getvalue()


def server_params() -> dict:
    conf = connections["default"].settings_dict
    params = {"host": conf["HOST"], "port": conf["PORT"], "user": conf["USER"]}
    return {key: value for key, value in params.items() if value} | {"dbname": "postgres"}


def database_exists(name: str) -> bool:
    with psycopg.connect(**server_params()) as pg:
        return (
            pg.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            is not None
        )


@pytest.fixture
def fresh_database_name(monkeypatch):
    name = f"chassis_ensure_{uuid.uuid4().hex[:12]}"
    params = server_params()
    monkeypatch.setitem(connections["default"].settings_dict, "NAME", name)
    yield name
    with psycopg.connect(**params, autocommit=True) as pg:
        pg.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_creates_a_missing_postgresql_database_once(fresh_database_name):
    assert database_exists(fresh_database_name) is False

    assert ensure_database_output() == f"database {fresh_database_name} created\n"
    assert database_exists(fresh_database_name) is True
    assert ensure_database_output() == f"database {fresh_database_name} exists\n"


def test_unreachable_server_is_a_command_error(fresh_database_name, monkeypatch):
    monkeypatch.setitem(connections["default"].settings_dict, "PORT", 1)

    with pytest.raises(CommandError, match=f"cannot create database {fresh_database_name}: "):
        call_command("ensure_database")


def test_sqlite_needs_nothing(monkeypatch, tmp_path):
    path = tmp_path / "orders.sqlite3"
    sqlite = ConnectionHandler({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": path}})
    monkeypatch.setattr(ensure_database, "connections", sqlite)

    assert ensure_database_output() == f"sqlite: nothing to create for {path}\n"
    assert not path.exists()
