"""Settings of the test run: the production settings (config.settings) plus a test environment.

pytest-django loads ``DJANGO_SETTINGS_MODULE`` before any conftest.py is imported, so the
environment is set here (``setdefault``: CI may point the suite at other servers) and then
the real settings are imported. The JWKS URL is replaced per session by a real HTTP server
the fixtures start (tests/conftest.py).
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-" + "x" * 50)
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orders")
os.environ.setdefault("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
# Required in production settings; the fixtures serve both from a real local server.
os.environ.setdefault("JWKS_URL", "http://127.0.0.1:1/.well-known/jwks.json")
os.environ.setdefault("USERS_TOKEN_URL", "http://127.0.0.1:1/api/v1/auth/token")
os.environ.setdefault("NUM_PROXIES", "0")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("LOG_FORMAT", "console")

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
