import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import environ
import pytest
import redis
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from chassis.conf import common_settings
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


REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def shared_redis_cache(tmp_path: Path) -> Iterator[redis.Redis]:
    """The cache as the chassis configures it in production (real Redis, a key prefix of this
    test's own), and a raw client to that Redis: what anyone who can reach an unauthenticated
    Redis holds."""
    prefix = f"chassis-test-{secrets.token_hex(4)}:"
    env = environ.Env()
    env.ENVIRON = {
        "SECRET_KEY": "chassis-tests-only-not-a-secret",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/chassis",
        "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
        "JWKS_URL": "http://127.0.0.1:1/.well-known/jwks.json",
        "USERS_TOKEN_URL": "http://127.0.0.1:1/api/v1/auth/token",
        "REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": prefix,
    }
    caches = common_settings(env, service="chassis", base_dir=tmp_path)["CACHES"]
    raw = redis.Redis.from_url(REDIS_URL)
    with override_settings(CACHES=caches):
        yield raw
    for name in raw.scan_iter(f"{prefix}*"):  # never FLUSHDB: the Redis is shared
        raw.delete(name)
    raw.close()


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
            # Its metrics in files of its own (chassis.metrics' multiprocess mode), read by
            # tests/test_metrics.py as the web's /metrics reads a worker's.
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp("worker-metrics")),
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
