"""Keys and access tokens shaped like users-service's (RS256, ``kid`` header)."""

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

DROP = object()  # a claim value meaning "leave this claim out"


def rsa_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


def access_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "token_type": "access",
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "iss": "users",
        "sub": "42",
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "is_staff": False,
        "groups": ["buyers"],
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not DROP}


def access_token(key: rsa.RSAPrivateKey, kid: str, **overrides: Any) -> str:
    return jwt.encode(access_claims(**overrides), key, algorithm="RS256", headers={"kid": kid})
