"""The platform's shared microservice chassis (errors, auth, health, logging, settings glue)."""

__version__ = "0.2.0"
