"""Tokens for the conformance suite: real ones shaped like users-service's access tokens
(PyJWT, RS256, ``kid`` header) and raw forgeries built segment by segment."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "users"


def access_claims(*, ttl: int = 300, now: int | None = None, **overrides: Any) -> dict[str, Any]:
    """The claims users-service puts in an access token (users/tokens.py), ``ttl`` seconds
    to live. ``overrides`` replace or add claims; a value of ``None`` removes the claim."""
    issued = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "token_type": "access",
        "exp": issued + ttl,
        "iat": issued,
        "jti": uuid.uuid4().hex,
        "iss": ISSUER,
        "sub": "42",
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "is_staff": False,
        "groups": ["buyers"],
        "pwd_at": 0,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign(
    claims: dict[str, Any],
    key: rsa.RSAPrivateKey,
    *,
    kid: str | None,
    algorithm: str = "RS256",
    headers: dict[str, Any] | None = None,
) -> str:
    """A token signed by PyJWT, as users-service signs them (``kid`` in the header)."""
    extra = {**({"kid": kid} if kid is not None else {}), **(headers or {})}
    return jwt.encode(claims, key, algorithm=algorithm, headers=extra or None)


def b64url(data: bytes | str | dict[str, Any]) -> str:
    """base64url without padding; a dict is first encoded as compact JSON."""
    if isinstance(data, dict):
        data = json.dumps(data, separators=(",", ":"))
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(
    header: bytes | str | dict[str, Any],
    payload: bytes | str | dict[str, Any],
    signature: bytes = b"",
) -> str:
    """A token assembled from arbitrary segments (each base64url-encoded here)."""
    return f"{b64url(header)}.{b64url(payload)}.{b64url(signature)}"


def rs256(signing_input: str, key: rsa.RSAPrivateKey) -> bytes:
    """An RS256 signature of ``header.payload`` (for tokens whose JSON PyJWT would not
    produce, e.g. pretty-printed)."""
    return key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())


def signed_raw(header_json: str, payload_json: str, key: rsa.RSAPrivateKey) -> str:
    """A correctly RS256-signed token whose header and payload are the given JSON texts."""
    signing_input = f"{b64url(header_json)}.{b64url(payload_json)}"
    return f"{signing_input}.{b64url(rs256(signing_input, key))}"


def hs256_with_public_key(claims: dict[str, Any], key: rsa.RSAPrivateKey, kid: str) -> str:
    """The classic key-confusion forgery: HS256 keyed with the verifier's public key PEM
    (PyJWT refuses to build it, so it is built by hand)."""
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{b64url({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{b64url(claims)}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def segments(token: str) -> list[str]:
    return token.split(".")


def with_payload(token: str, payload: dict[str, Any]) -> str:
    """The token with its payload replaced and its signature kept (a tampered token)."""
    header, _, signature = segments(token)
    return f"{header}.{b64url(payload)}.{signature}"
