"""pytest fixtures every service's suite shares.

Enable in a service's ``tests/conftest.py``::

    pytest_plugins = ["chassis.pytest_plugin"]

HTTPS clients, a session ``STATIC_ROOT`` (``collected_static`` fills it), caches cleared
around each test; for resource services (catalog, orders, ...), access tokens signed like
users-service's (RS256 with a ``kid``) by a key whose public half a real HTTP server on
127.0.0.1 publishes as JWKS; the chassis fetches it as in production. Requests say
``X-Forwarded-Proto: https`` as they do behind the gateway, so SECURE_SSL_REDIRECT stays on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client, override_settings
from rest_framework.test import APIClient

from chassis.auth import key_store
from chassis.testing import HTTPS, JwksServer, TokenSigner, bearer, chassis_with

__all__ = ["HTTPS", "STAFF_ID", "USER_ID", "bearer"]  # re-exported from chassis.testing

STAFF_ID = "7d0c6f7e-5b1a-4a43-9d64-0a1f6f1b0001"
USER_ID = "7d0c6f7e-5b1a-4a43-9d64-0a1f6f1b0002"


@pytest.fixture(scope="session")
def signer() -> TokenSigner:
    return TokenSigner.generate("test-key")


@pytest.fixture(scope="session", autouse=True)
def jwks_server(signer: TokenSigner) -> Iterator[JwksServer]:
    with JwksServer({"keys": [signer.jwk]}) as server:
        conf = {"JWKS_URL": server.url, "ISSUER": "users", "JWKS_TIMEOUT_SECONDS": 2}
        with override_settings(CHASSIS=chassis_with(JWT=conf)):
            yield server


@pytest.fixture(scope="session", autouse=True)
def static_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=str(root)):
        yield root


@pytest.fixture(scope="session")
def collected_static(static_root: Path) -> Path:
    """collectstatic once, with the production storage (admin and Swagger UI need it)."""
    call_command("collectstatic", "--noinput", verbosity=0)
    return static_root


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """Each test starts with no JWKS keys in memory and an empty cache (throttle counters)."""
    cache.clear()
    key_store.clear()
    yield
    cache.clear()
    key_store.clear()


@pytest.fixture
def client() -> Client:
    return Client(**HTTPS)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient(**HTTPS)


@pytest.fixture
def token(signer: TokenSigner) -> Callable[..., str]:
    """``token(is_staff=True, ...)``: an access token with these claims."""

    def make(**claims: Any) -> str:
        return signer.access_token(**claims)

    return make


@pytest.fixture
def staff_client(token: Callable[..., str]) -> APIClient:
    """Staff in no group: ``is_staff`` alone grants no staff endpoint (chassis.roles). A
    service's conftest overrides it with the role its staff tests need (``role_client``)."""
    return bearer(token(sub=STAFF_ID, email="staff@example.com", is_staff=True))


@pytest.fixture
def role_client(token: Callable[..., str]) -> Callable[..., APIClient]:
    """``role_client("catalog-editors")``: a staff member in those groups (chassis.roles);
    ``role_client(superuser=True)``: a superuser in none."""

    def make(*groups: str, superuser: bool = False) -> APIClient:
        claims = {"is_staff": True, "is_superuser": superuser, "groups": list(groups)}
        return bearer(token(sub=STAFF_ID, email="staff@example.com", **claims))

    return make


@pytest.fixture
def user_client(token: Callable[..., str]) -> APIClient:
    return bearer(token(sub=USER_ID, email="buyer@example.com", is_staff=False))
