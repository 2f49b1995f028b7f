"""Fixtures shared by the whole suite.

The environment (SECRET_KEY, DATABASE_URL, broker, hashers, throttle rates) is set in
tests/settings.py, which pyproject.toml names as DJANGO_SETTINGS_MODULE: see its docstring for
why a conftest.py cannot do it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chassis.testing import HTTPS, bearer  # noqa: F401 - the tests import them from here
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import override_settings
from rest_framework.test import APIClient

from tests.factories import PASSWORD, StaffFactory, UserFactory
from users import services
from users.keys import generate_private_key_pem
from users.models import User

# The chassis's fixtures: HTTPS test clients (as behind the gateway), a session STATIC_ROOT
# and `collected_static`, caches cleared around each test (throttle counters).
pytest_plugins = ["chassis.pytest_plugin"]

KIDS = ("test-a", "test-b")  # sorted: test-a signs unless JWT_SIGNING_KID says otherwise


@pytest.fixture(scope="session", autouse=True)
def jwt_keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Two RSA keys for the whole session (generating one takes ~50 ms)."""
    directory = tmp_path_factory.mktemp("jwt-keys")
    for kid in KIDS:
        (directory / f"{kid}.pem").write_bytes(generate_private_key_pem())
    # override_settings sends setting_changed, which resets the cached key ring.
    with override_settings(JWT_KEYS_DIR=str(directory), JWT_KEYS={}, JWT_SIGNING_KID=""):
        yield directory


@pytest.fixture(scope="session")
def foreign_key() -> rsa.RSAPrivateKey:
    """An RSA key that is not in the ring: what a forger would sign with."""
    return serialization.load_pem_private_key(generate_private_key_pem(), password=None)  # type: ignore[return-value]


@pytest.fixture
def user(db: None) -> User:
    return UserFactory(email="alice@example.com", full_name="Alice Liddell")


@pytest.fixture
def staff(db: None) -> User:
    """A superuser: every staff endpoint (users.roles)."""
    return StaffFactory(email="root@example.com", full_name="Root Staff", is_superuser=True)


def issue_tokens(user: User, password: str = PASSWORD) -> services.TokenPair:
    """Log ``user`` in through the service (as POST /api/v1/auth/token does)."""
    return services.token_pair_obtain(request=None, email=user.email, password=password)


@pytest.fixture
def auth_client() -> Callable[[User], APIClient]:
    """``auth_client(user)``: an API client sending a fresh access token of ``user``."""

    def make(user: User) -> APIClient:
        return bearer(issue_tokens(user).access)

    return make
