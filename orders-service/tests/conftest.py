"""Fixtures: the chassis's (tokens from a real JWKS server, HTTPS clients) plus orders'."""

from __future__ import annotations

pytest_plugins = ["chassis.pytest_plugin"]
