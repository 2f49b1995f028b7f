import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from chassis.pytest_plugin import _fresh_caches  # noqa: F401 - the services' autouse fixture
from chassis.testing import JwksServer, chassis_with
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
