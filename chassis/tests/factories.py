"""Keys and access tokens shaped like users-service's: see chassis.testing."""

from chassis.testing import DROP, access_claims, access_token, public_jwk, rsa_private_key

__all__ = ["DROP", "access_claims", "access_token", "public_jwk", "rsa_private_key"]
