"""Settings of the test run: the production settings (config.settings) plus a test environment.

pytest-django loads ``DJANGO_SETTINGS_MODULE`` in its ``pytest_load_initial_conftests`` hook,
which runs before pytest imports any conftest.py (pytest's own conftest loading is
``trylast``), so a conftest cannot provide ``SECRET_KEY``: config.settings would already have
failed. pyproject.toml therefore points pytest at this module, which sets the environment the
way a deployment would and then imports the real settings. Values already in the environment
win (``setdefault``), so CI can point the suite at other servers.

Only what makes tests fast and deterministic differs from production: a cheap password hash,
generous throttle rates (tests that are about throttling lower them) and no upstream proxy.
Keys and static files are per session, set by fixtures in tests/conftest.py.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-" + "x" * 50)
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/users")
os.environ.setdefault("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
# Required in production settings (where the service verifies tokens); the fixtures serve
# both from a real local server.
os.environ.setdefault("JWKS_URL", "http://127.0.0.1:1/.well-known/jwks.json")
os.environ.setdefault("USERS_TOKEN_URL", "http://127.0.0.1:1/api/v1/auth/token")
os.environ.setdefault("TRUSTED_PROXIES", "")  # no proxy in front: tests trust one if they need
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("LOG_FORMAT", "console")

from config.settings import *  # noqa: F403
from config.settings import REST_FRAMEWORK as _REST_FRAMEWORK

# Hashing with PBKDF2 costs ~100 ms per password; tests hash hundreds.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

TEST_THROTTLE_RATE = "10000/min"
REST_FRAMEWORK = {
    **_REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        scope: TEST_THROTTLE_RATE for scope in _REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})
    },
}
