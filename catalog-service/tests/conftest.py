"""Fixtures: the chassis's (tokens from a real JWKS server, HTTPS clients; see
chassis/src/chassis/pytest_plugin.py)."""

pytest_plugins = ["chassis.pytest_plugin"]
