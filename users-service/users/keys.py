"""The signing key ring: RSA private keys by ``kid``, read from files or the environment.

Rotation without downtime: add a key (it is published in the JWKS at once), switch
``JWT_SIGNING_KID`` to it once every verifier has refreshed its JWKS cache, and remove the old
key after the longest token lifetime has passed. Tokens name their key in the ``kid`` header;
any key in the ring verifies the tokens it signed.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

KID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
RSA_KEY_BITS = 2048


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @cached_property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    @cached_property
    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def jwk(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.public_key))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}


@dataclass(frozen=True)
class KeyRing:
    keys: dict[str, SigningKey]
    signing_kid: str

    @property
    def signing_key(self) -> SigningKey:
        return self.keys[self.signing_kid]

    def get(self, kid: str) -> SigningKey | None:
        return self.keys.get(kid)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.keys[kid].jwk() for kid in sorted(self.keys)]}


def load_private_key(pem: bytes, origin: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{origin}: not a PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < RSA_KEY_BITS:
        raise ImproperlyConfigured(f"{origin}: RS256 needs an RSA key of {RSA_KEY_BITS}+ bits")
    return key


def keyring_from_settings() -> KeyRing:
    """Build the ring from ``JWT_KEYS`` (JSON {kid: PEM}) and ``JWT_KEYS_DIR`` (<kid>.pem)."""
    keys: dict[str, SigningKey] = {}
    for kid, pem in (settings.JWT_KEYS or {}).items():
        keys[kid] = SigningKey(kid, load_private_key(pem.encode(), f"JWT_KEYS[{kid}]"))
    directory = Path(settings.JWT_KEYS_DIR) if settings.JWT_KEYS_DIR else None
    if directory and directory.is_dir():
        for path in sorted(directory.glob("*.pem")):
            keys[path.stem] = SigningKey(path.stem, load_private_key(path.read_bytes(), str(path)))
    bad = [kid for kid in keys if not KID_PATTERN.match(kid)]
    if bad:
        raise ImproperlyConfigured(f"invalid key id(s) {bad}: use letters, digits, . _ -")
    if not keys:
        raise ImproperlyConfigured(
            f"no JWT signing keys: put <kid>.pem files in JWT_KEYS_DIR ({directory}) or set "
            "JWT_KEYS; `manage.py jwt_keys --dir DIR --ensure 2` generates them"
        )
    # Unset: the oldest key signs (kids start with their creation date), so a key added for a
    # rotation is published first and signs only once JWT_SIGNING_KID names it.
    signing_kid = settings.JWT_SIGNING_KID or sorted(keys)[0]
    if signing_kid not in keys:
        raise ImproperlyConfigured(f"JWT_SIGNING_KID={signing_kid!r} is not in the key ring")
    return KeyRing(keys=keys, signing_kid=signing_kid)


_lock = threading.Lock()
_keyring: KeyRing | None = None


def keyring() -> KeyRing:
    """The process's key ring, loaded once (and again after a relevant setting changes)."""
    global _keyring
    if _keyring is None:
        with _lock:
            if _keyring is None:
                _keyring = keyring_from_settings()
    return _keyring


def reset_keyring(**kwargs: Any) -> None:
    global _keyring
    if kwargs.get("setting") in (None, "JWT_KEYS", "JWT_KEYS_DIR", "JWT_SIGNING_KID"):
        _keyring = None


setting_changed.connect(reset_keyring)


def generate_private_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
