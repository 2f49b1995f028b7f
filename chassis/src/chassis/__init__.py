"""The platform's shared microservice chassis (errors, auth, health, logging, settings glue)."""

__all__ = ["__version__"]

# The release (pyproject.toml says the same; tests/test_version.py holds them and the content
# together, see fingerprint.py).
__version__ = "0.8.0"
