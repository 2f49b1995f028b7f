"""Test helpers for services that verify users-service's tokens (catalog, orders, ...).

A resource service's tests need what production has: RS256 access tokens with a ``kid``
header, and a JWKS endpoint that publishes the matching public keys. This module provides
both, with a real HTTP server on an ephemeral loopback port (no mock of the key fetch):

    signer = TokenSigner.generate("test-key")
    with JwksServer({"keys": [signer.jwk]}) as server:
        settings.CHASSIS = chassis_with(JWT={"JWKS_URL": server.url, "ISSUER": "users"})
        token = signer.access_token(sub="42", is_staff=True)

Not imported by production code; it only needs PyJWT and cryptography, which the chassis
already depends on.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "DROP",
    "HTTPS",
    "PROBLEM_CONTENT_TYPE",
    "IdentityServer",
    "JwksServer",
    "TokenSigner",
    "WorkerProcess",
    "access_claims",
    "access_token",
    "assert_problem",
    "bearer",
    "chassis_with",
    "in_threads",
    "public_jwk",
    "rsa_private_key",
    "unknown_query_parameters_problem",
]

JWKS_PATH = "/.well-known/jwks.json"
DROP = object()  # a claim value meaning "leave this claim out"


# Behind the gateway every request arrives over HTTPS (X-Forwarded-Proto, trusted through
# SECURE_PROXY_SSL_HEADER); tests speak the same way so SECURE_SSL_REDIRECT stays on.
HTTPS: dict[str, Any] = {"HTTP_X_FORWARDED_PROTO": "https"}


def bearer(access: str) -> Any:
    """A DRF ``APIClient`` over HTTPS sending ``Authorization: Bearer <access>``."""
    from rest_framework.test import APIClient

    client = APIClient(**HTTPS)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def chassis_with(**sections: Any) -> dict[str, Any]:
    """The ``CHASSIS`` setting with some keys of its sections replaced (and other values,
    such as ``TRUSTED_PROXIES``, set), for ``override_settings(CHASSIS=...)`` or
    pytest-django's ``settings.CHASSIS = ...``::

        settings.CHASSIS = chassis_with(JWT={"JWKS_CACHE_SECONDS": 0})
    """
    from django.conf import settings

    current: dict[str, Any] = dict(getattr(settings, "CHASSIS", {}))
    for name, value in sections.items():
        current[name] = {**current.get(name, {}), **value} if isinstance(value, dict) else value
    return current


def rsa_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


def access_claims(**overrides: Any) -> dict[str, Any]:
    """Claims shaped like users-service's access tokens; ``DROP`` removes one."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "token_type": "access",
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "iss": "users",
        "sub": "42",
        "email": "ada@example.com",
        "email_verified": True,
        "name": "Ada Lovelace",
        "is_staff": False,
        "groups": ["buyers"],
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not DROP}


def access_token(key: rsa.RSAPrivateKey, kid: str, **overrides: Any) -> str:
    return jwt.encode(access_claims(**overrides), key, algorithm="RS256", headers={"kid": kid})


@dataclass(frozen=True)
class TokenSigner:
    """One signing key and its ``kid``: mints access tokens the chassis accepts."""

    kid: str
    key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, kid: str) -> TokenSigner:
        return cls(kid=kid, key=rsa_private_key())

    @property
    def jwk(self) -> dict[str, Any]:
        return public_jwk(self.key, self.kid)

    def access_token(self, **claims: Any) -> str:
        return access_token(self.key, self.kid, **claims)


class JwksServer:
    """A real HTTP server on an ephemeral port serving ``document``, counting its requests."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                body = json.dumps(server.document).encode()
                self.send_response(200 if self.path == JWKS_PATH else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, payload, *extra = server.post(
                    self.path, self.rfile.read(length), self.headers
                )
                body = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in (extra[0] if extra else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def post(self, path: str, body: bytes, headers: Any) -> tuple[Any, ...]:
        """``(status, body)`` or ``(status, body, headers)`` of a POST."""
        return 404, {"message": "not found"}

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        return self.base_url + JWKS_PATH

    def stop(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join()

    def __enter__(self) -> JwksServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


TOKEN_PATH = "/api/v1/auth/token"  # noqa: S105 - a URL path, not a secret


class IdentityServer(JwksServer):
    """users-service's JWKS, token, refresh and logout endpoints, for single sign-on tests.

    ``accounts`` maps an email to ``(password, claims)``; a login with those credentials gets
    an access token with those claims (``sub``, ``is_staff``, ...), signed by ``signer``, and
    a refresh token. A refresh mints the account's *current* claims (change them, or remove the
    account to deactivate it: then 401) and rotates the token; ``revoked`` lists the refresh
    tokens logged out or rotated. ``logins`` records each login's email and
    ``X-Forwarded-For`` header, ``refreshes`` counts refreshes. With ``retry_after`` set, every
    login is refused as users-service's throttles refuse (429 with that ``Retry-After``); with
    ``down`` set, refresh and logout answer 503.
    """

    def __init__(self, signer: TokenSigner, accounts: dict[str, tuple[str, dict[str, Any]]]):
        self.signer = signer
        self.accounts = accounts
        self.logins: list[tuple[str, str | None]] = []
        self.retry_after: int | None = None
        self.down = False
        self.refreshes = 0
        self.revoked: list[str] = []
        self._refresh: dict[str, str] = {}  # refresh token -> email
        self._issued = 0
        super().__init__({"keys": [signer.jwk]})

    @property
    def token_url(self) -> str:
        return self.base_url + TOKEN_PATH

    def post(self, path: str, body: bytes, headers: Any) -> tuple[Any, ...]:
        data = json.loads(body or b"{}")
        if path == TOKEN_PATH:
            return self._login(data, headers)
        if path in (TOKEN_PATH + "/refresh", TOKEN_PATH.removesuffix("/token") + "/logout"):
            if self.down:
                return 503, {"type": "urn:problem-type:unavailable", "status": 503}
            email = self._refresh.pop(str(data.get("refresh")), None)
            if email is None:
                return 401, {"type": "urn:problem-type:token-not-valid", "status": 401}
            self.revoked.append(str(data.get("refresh")))
            if path.endswith("/logout"):
                return 204, None
            self.refreshes += 1
            if email not in self.accounts:
                return 401, {"type": "urn:problem-type:token-not-valid", "status": 401}
            return 200, self._pair(email)
        return 404, {"message": "not found"}

    def _login(self, data: dict[str, Any], headers: Any) -> tuple[Any, ...]:
        email, password = data.get("email"), data.get("password")
        self.logins.append((str(email), headers.get("X-Forwarded-For")))
        if self.retry_after is not None:
            problem = {"type": "urn:problem-type:throttled", "status": 429}
            return 429, problem, {"Retry-After": str(self.retry_after)}
        account = self.accounts.get(str(email))
        if account is None or account[0] != password:
            return 401, {"type": "urn:problem-type:authentication-failed", "status": 401}
        return 200, self._pair(str(email))

    def _pair(self, email: str) -> dict[str, Any]:
        self._issued += 1
        refresh = f"refresh-{self._issued}-{email}"
        self._refresh[refresh] = email
        access = self.signer.access_token(email=email, **self.accounts[email][1])
        return {"access": access, "refresh": refresh, "token_type": "Bearer"}


class WorkerProcess:
    """A real Celery worker in a subprocess (``celery -A <app> worker``), for tests of
    consumers: started with the test database in ``DATABASE_URL``, stopped with SIGTERM, or
    killed with SIGKILL to test redelivery. Its output is kept in ``log_path``. Its node name
    starts with ``name_prefix`` (``"catalog."``: a service's own broker user may declare only
    its own queues, the node's remote-control queue among them)."""

    def __init__(
        self,
        app: str,
        *,
        queues: list[str],
        env: dict[str, str],
        cwd: str,
        log_path: str,
        celery: str = "celery",
        name_prefix: str = "",
    ) -> None:
        import os

        self.log_path = log_path
        name = f"{name_prefix}test-{os.getpid()}-{uuid.uuid4().hex[:6]}@%h"
        self.command = [
            celery, "-A", app, "worker", "-P", "solo", "-c", "1", "-l", "INFO",
            "-Q", ",".join(queues), "-n", name,
            "--without-mingle", "--without-gossip", "--without-heartbeat",
        ]  # fmt: skip
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        self.cwd = cwd
        self.process: Any = None

    def start(self, timeout: float = 30.0) -> WorkerProcess:
        import subprocess

        log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes it until it stops
        self._offset = log.tell()
        self.process = subprocess.Popen(  # noqa: S603 - a fixed command line
            self.command, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited {self.process.returncode}: {self.output()}")
            if " ready." in self.output():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"worker not ready in {timeout} s: {self.output()}")

    def output(self) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(self._offset)
            return log.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the message in hand is neither acked nor rejected (the broker redelivers)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM): the task in hand finishes and is acknowledged first.
        Prompt, since chassis.celery.PromptEventLoop wakes the event loop's poll."""
        import signal

        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except Exception:
                self.kill()


PROBLEM_CONTENT_TYPE = "application/problem+json"
_PROBLEM_KEYS = {"type", "title", "status", "detail", "errors", "correlation_id"}


def assert_problem(
    response: Any,
    status: int,
    code: str,
    *,
    title: str | None = None,
    detail: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Assert ``response`` is the one error shape with ``status`` and problem type ``code``;
    ``title``, ``detail`` and ``errors``, when given, must be equal. Returns the body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    body = json.loads(response.content)
    assert set(body) == _PROBLEM_KEYS
    assert body["type"] == f"urn:problem-type:{code}"
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body["errors"], list)
    for item in body["errors"]:
        assert set(item) == {"field", "code", "message"}
    if title is not None:
        assert body["title"] == title
    if detail is not None:
        assert body["detail"] == detail
    if errors is not None:
        assert body["errors"] == errors
    if "X-Request-ID" in response:
        assert body["correlation_id"] == response["X-Request-ID"]
    return body


def in_threads(*calls: Any) -> list[Any]:
    """Run ``calls`` at once (behind a barrier), each in its own thread and database
    connection; returns each call's result or the exception it raised."""
    from django.db import connections

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
    assert not any(thread.is_alive() for thread in threads)
    return results


def unknown_query_parameters_problem(response: Any, *names: str) -> dict[str, Any]:
    """The exact body of :mod:`chassis.query`'s 400 for ``names`` (in their sorted order)."""
    return {
        "type": "urn:problem-type:validation-error",
        "title": "Invalid input.",
        "status": 400,
        "detail": "The request did not pass validation.",
        "errors": [
            {"field": None, "code": "unknown", "message": f"Unknown query parameter {name!r}."}
            for name in names
        ],
        "correlation_id": response["X-Request-ID"],
    }
