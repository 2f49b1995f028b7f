import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from chassis.events.reachability import broker_state
from chassis.pytest_plugin import _fresh_caches  # noqa: F401 - the services' autouse fixture
from chassis.testing import JwksServer, WorkerProcess, chassis_with
from tests.celery_app import app
from tests.factories import public_jwk, rsa_private_key


@pytest.fixture(scope="session", autouse=True)
def _handler_state(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Where tests/handlers.py records applied events (shared with worker processes)."""
    os.environ["CHASSIS_TEST_STATE"] = str(tmp_path_factory.mktemp("handler-state"))


@pytest.fixture(autouse=True)
def _clean_handler_state(_handler_state: None) -> Iterator[None]:
    yield
    for name in ("seen", "broken", "numbers"):
        (Path(os.environ["CHASSIS_TEST_STATE"]) / name).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def keys() -> dict[str, Any]:
    """Private keys: ``k1`` published from the start, ``k2`` rotated in later, ``rogue`` never."""
    return {name: rsa_private_key() for name in ("k1", "k2", "rogue")}


@pytest.fixture
def jwks(settings, keys) -> Iterator[JwksServer]:
    server = JwksServer({"keys": [public_jwk(keys["k1"], "k1")]})
    settings.CHASSIS = chassis_with(
        JWT={"JWKS_URL": server.url, "ISSUER": "users", "JWKS_TIMEOUT_SECONDS": 1}
    )
    yield server
    server.stop()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


# --- a real worker (tests of chassis.events) -------------------------------------------------


@pytest.fixture(scope="module")
def _worker_process(django_db_setup, tmp_path_factory) -> Iterator[WorkerProcess]:
    """A real worker process consuming this project's queues, on the test database."""
    app.set_current()
    call_command("events_setup", verbosity=0)
    db = connection.settings_dict
    worker = WorkerProcess(
        "tests.celery_app",
        queues=["chassis", "chassis.events"],
        env={
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "PYTHONPATH": ".:src",
        },
        cwd=str(Path(__file__).resolve().parents[1]),
        log_path=str(tmp_path_factory.mktemp("worker") / "worker.log"),
        celery=str(Path(sys.executable).with_name("celery")),
    ).start()
    yield worker
    worker.stop()


@pytest.fixture
def worker(_worker_process: WorkerProcess) -> WorkerProcess:
    """A running worker (which empties the events queue itself: purging a queue under a
    consumer's feet is not something a test should do)."""
    app.set_current()
    broker_state.reset()
    return _worker_process
