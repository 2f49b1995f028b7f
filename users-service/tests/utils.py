"""Assertions and token-crafting helpers shared by the tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from chassis.testing import PROBLEM_CONTENT_TYPE, assert_problem, in_threads
from django.db import connection
from django.db.models import Model
from jwt.algorithms import RSAAlgorithm
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from users.keys import keyring
from users.models import User


def error_fields(body: dict[str, Any]) -> list[str | None]:
    return [item["field"] for item in body["errors"]]


def row_counts() -> dict[str, int]:
    """How many rows the write endpoints can touch: asserted unchanged after bad input."""
    models: list[type[Model]] = [User, OutstandingToken, BlacklistedToken]
    return {model.__name__: model.objects.count() for model in models}


def iso(value: Any) -> str | None:
    """A datetime as DRF renders it."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def user_json(user: User) -> dict[str, Any]:
    """The expected UserOutputSerializer body of ``user``."""
    return {
        "id": str(user.id),
        "email": user.email,
        "full_name": user.full_name,
        "email_verified": user.email_verified,
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "date_joined": iso(user.date_joined),
        "last_login": iso(user.last_login),
    }


# --- tokens ------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, Any]:
    """The payload of ``token`` without verifying it."""
    return jwt.decode(token, options={"verify_signature": False})


def sign(claims: dict[str, Any], *, kid: str | None = None, key: Any = None) -> str:
    """RS256-sign ``claims`` with a ring key (the signing one by default) or ``key``."""
    ring = keyring()
    kid = kid or ring.signing_kid
    if key is None:
        key = ring.keys[kid].private_key
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS assembled by hand (for what PyJWT refuses to produce)."""
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}.{b64url(signature)}"


def hs256_with(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


def rs256_with(key: Any, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """RS256 over a header PyJWT would refuse to write (e.g. a non-string ``kid``)."""
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    signature = RSAAlgorithm(RSAAlgorithm.SHA256).sign(f"{head}.{body}".encode(), key)
    return f"{head}.{body}.{b64url(signature)}"


# --- concurrency -------------------------------------------------------------------------


def wait_for_lock_waiter(timeout: float = 10) -> None:
    """Block until another connection waits on a row lock held by this one."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # Inside a transaction PostgreSQL keeps serving one statistics snapshot.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("no connection ever waited for the lock")


__all__ = ["PROBLEM_CONTENT_TYPE", "assert_problem", "in_threads"]
