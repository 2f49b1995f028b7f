"""Assertions and token-crafting helpers shared by the tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from typing import Any

import jwt
from django.db import connection, connections
from django.db.models import Model
from jwt.algorithms import RSAAlgorithm
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from users.keys import keyring
from users.models import User

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_KEYS = {"type", "title", "status", "detail", "errors", "correlation_id"}


def assert_problem(
    response: Any,
    status: int,
    code: str,
    *,
    detail: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Assert ``response`` is the one error shape with ``status`` and problem type ``code``.

    ``errors``, when given, must equal the body's errors exactly. Returns the body.
    """
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    body = json.loads(response.content)
    assert set(body) == PROBLEM_KEYS
    assert body["type"] == f"urn:problem-type:{code}"
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["errors"], list)
    for item in body["errors"]:
        assert set(item) == {"field", "code", "message"}
    if detail is not None:
        assert body["detail"] == detail
    if errors is not None:
        assert body["errors"] == errors
    if "X-Request-ID" in response:
        assert body["correlation_id"] == response["X-Request-ID"]
    return body


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


def in_threads(*calls) -> list[Any]:
    """Run ``calls`` at once, each in its own thread and database connection."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = calls[index]()
        except Exception as exc:  # reported by the assertions of the test
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


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
