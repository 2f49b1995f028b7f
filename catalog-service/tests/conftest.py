"""Fixtures: the chassis's (tokens from a real JWKS server, HTTPS clients; see
chassis/src/chassis/pytest_plugin.py)."""

from __future__ import annotations

from typing import Any

import pytest
from chassis.roles import CATALOG_EDITORS
from rest_framework.test import APIClient

pytest_plugins = ["chassis.pytest_plugin"]


@pytest.fixture
def staff_client(role_client: Any) -> APIClient:
    """The staff who write the catalog: a catalog editor (catalog.roles)."""
    return role_client(CATALOG_EDITORS)
