"""Stateless JWT authentication for resource services (catalog, orders, ...).

Access tokens are RS256 JWTs signed by users-service with a ``kid`` header. This module
verifies them against users-service's JWKS without touching the database:

* the keys a process trusts come only from ``JWKS_URL`` over HTTP and are kept in that
  process's memory for ``JWKS_CACHE_SECONDS``. Never from the shared cache: whoever can write
  to Redis (anyone on the machine, with the local default) could otherwise add a key and mint
  tokens the service accepts, staff ones included;
* a token naming an unknown ``kid`` triggers one refetch (a key was just rotated in), but at
  most once per ``JWKS_MIN_REFRESH_SECONDS`` per process, so forged kids cannot hammer
  users-service; concurrent requests share one fetch;
* the algorithm is fixed by configuration, never taken from the token.

Settings (all under ``CHASSIS["JWT"]``, see chassis.settings): ``JWKS_URL``, ``ISSUER``,
``ALGORITHMS`` (default ``["RS256"]``), ``LEEWAY_SECONDS``, ``JWKS_CACHE_SECONDS``,
``JWKS_MIN_REFRESH_SECONDS``, ``JWKS_TIMEOUT_SECONDS``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from chassis.settings import chassis_settings

__all__ = [
    "InvalidToken",
    "JWKSAuthentication",
    "KeyStore",
    "TokenUser",
    "decode_access_token",
    "fetch_jwks",
    "key_store",
]

logger = logging.getLogger(__name__)


class InvalidToken(exceptions.AuthenticationFailed):
    default_detail = "Token is invalid or expired."
    default_code = "token-not-valid"


def fetch_jwks(url: str | None, timeout: float) -> dict[str, Any]:
    """GET the JWKS document (only http(s) URLs from configuration, never from a token)."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"JWKS_URL must be http(s): {url!r}")
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - scheme checked
        return json.load(response)


@dataclass
class KeyStore:
    """Public keys by ``kid``, in this process's memory, fetched from the JWKS on expiry or on
    an unknown kid (thread-safe: one fetch at a time, and threads that waited for it reuse
    its result)."""

    fetch: Callable[[str, float], dict[str, Any]] = fetch_jwks
    clock: Callable[[], float] = time.monotonic
    _keys: dict[str, Any] = field(default_factory=dict)
    _loaded_at: float = float("-inf")
    _refreshed_at: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def key_for(self, kid: str) -> Any | None:
        conf = chassis_settings.JWT
        if self._expired(conf):
            self._load(conf, unknown_kid=None)
        elif kid not in self._keys:  # decided under the lock: a fetch may be under way
            self._load(conf, unknown_kid=kid)
        return self._keys.get(kid)

    def clear(self) -> None:
        with self._lock:
            self._keys, self._loaded_at, self._refreshed_at = {}, float("-inf"), float("-inf")

    def _after_fork(self) -> None:
        """In a forked child (a gunicorn worker): a fresh lock, whatever the parent held."""
        self._lock = threading.Lock()

    def _expired(self, conf: Mapping[str, Any]) -> bool:
        return self.clock() - self._loaded_at > conf["JWKS_CACHE_SECONDS"]

    def _may_refetch(self, conf: Mapping[str, Any]) -> bool:
        return self.clock() - self._refreshed_at >= conf["JWKS_MIN_REFRESH_SECONDS"]

    def _load(self, conf: Mapping[str, Any], *, unknown_kid: str | None) -> None:
        """Fetch the keys: on expiry (``unknown_kid`` None) or for an unknown kid."""
        with self._lock:
            # Another thread may have fetched while this one waited for the lock.
            if unknown_kid is None and not self._expired(conf):
                return
            if unknown_kid is not None:
                if unknown_kid in self._keys or not self._may_refetch(conf):
                    return
                # Only unknown-kid refetches are rate-limited: a scheduled reload must not
                # delay picking up a key rotated in just after it.
                self._refreshed_at = self.clock()
            try:
                document = self.fetch(conf["JWKS_URL"], conf["JWKS_TIMEOUT_SECONDS"])
            except Exception:  # network, HTTP or JSON failure: keep the keys we have
                logger.exception("jwks.fetch_failed", extra={"url": conf["JWKS_URL"]})
                # Back off instead of making every request wait on a dead JWKS endpoint:
                # retry after JWKS_MIN_REFRESH_SECONDS (after 1 s while no key is known).
                retry_in = conf["JWKS_MIN_REFRESH_SECONDS"] if self._keys else 1
                self._loaded_at = self.clock() - conf["JWKS_CACHE_SECONDS"] + retry_in
                self._refreshed_at = self.clock()  # unknown kids wait as well
                return
            self._keys = self._parse(document, conf["ALGORITHMS"])
            self._loaded_at = self.clock()

    @staticmethod
    def _parse(document: dict[str, Any], algorithms: list[str]) -> dict[str, Any]:
        keys: dict[str, Any] = {}
        for jwk in document.get("keys", []) if isinstance(document, dict) else []:
            if not isinstance(jwk, dict) or not jwk.get("kid"):
                continue
            try:
                keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm=algorithms[0]).key
            except Exception:  # PyJWKError, InvalidKeyError, ...: one bad entry spoils no other
                logger.warning("jwks.key_skipped", extra={"kid": jwk.get("kid")})
        return keys


key_store = KeyStore()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=key_store._after_fork)


@dataclass(frozen=True)
class TokenUser:
    """The request user of a resource service, built from access-token claims only."""

    id: str
    email: str
    full_name: str
    is_staff: bool
    groups: tuple[str, ...]
    claims: dict[str, Any]
    is_superuser: bool = False

    is_active = True
    is_authenticated = True
    is_anonymous = False

    @property
    def pk(self) -> str:
        return self.id

    def __str__(self) -> str:
        return self.email

    def in_group(self, name: str) -> bool:
        return name in self.groups

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> TokenUser:
        groups = claims.get("groups") or []
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise InvalidToken("Token claim 'groups' is malformed.")
        return cls(
            id=str(claims["sub"]),
            email=str(claims.get("email", "")),
            full_name=str(claims.get("name", "")),
            is_staff=claims.get("is_staff") is True,
            groups=tuple(groups),
            claims=claims,
            is_superuser=claims.get("is_superuser") is True,
        )


def decode_access_token(raw: str, store: KeyStore | None = None) -> dict[str, Any]:
    """Verify ``raw`` (signature, exp, iss, token_type) and return its claims.

    Raises :class:`InvalidToken` with a reason safe to show the client.
    """
    conf = chassis_settings.JWT
    store = store or key_store
    try:
        header = jwt.get_unverified_header(raw)
    except jwt.InvalidTokenError as exc:  # DecodeError, or a bad 'kid' / 'crit' header
        raise InvalidToken("Token is malformed.") from exc
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("Token has no 'kid' header.")
    key = store.key_for(kid)
    if key is None:
        raise InvalidToken("Token is signed with an unknown key.")
    try:
        claims = jwt.decode(
            raw,
            key,
            algorithms=conf["ALGORITHMS"],
            issuer=conf["ISSUER"],
            leeway=conf["LEEWAY_SECONDS"],
            options={"require": ["exp", "iat", "sub", "jti"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("Token has expired.") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"Token is invalid: {exc}") from exc
    if claims.get("token_type") != "access":
        raise InvalidToken("Token is not an access token.")
    return claims


class JWKSAuthentication(authentication.BaseAuthentication):
    """DRF authentication: ``Authorization: Bearer <access token>`` -> :class:`TokenUser`."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[TokenUser, dict[str, Any]] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise InvalidToken("Authorization header must be 'Bearer <token>'.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise InvalidToken("Token is malformed.") from exc
        claims = decode_access_token(raw)
        return TokenUser.from_claims(claims), claims

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'
