"""Email settings of a service that sends mail, read from the environment like chassis.conf's.

A service's ``config/settings.py``::

    from chassis.mail import email_settings

    globals().update(email_settings(env))

Kept out of ``common_settings``: only services that mail read these variables (and list
them in their ``.env.example``).
"""

from __future__ import annotations

from typing import Any

import environ

__all__ = ["email_settings"]


def email_settings(env: environ.Env) -> dict[str, Any]:
    """Django's email settings, for a service that sends mail (``globals().update(...)``).

    Django's SMTP backend to ``EMAIL_HOST``:``EMAIL_PORT`` by default (STARTTLS on: a real
    relay); ``make up`` points every service at its local SMTP sink (no TLS), and unit tests
    use Django's locmem backend (pytest-django sets it). Reads ``EMAIL_BACKEND``,
    ``EMAIL_HOST``, ``EMAIL_PORT``, ``EMAIL_HOST_USER``, ``EMAIL_HOST_PASSWORD``,
    ``EMAIL_USE_TLS``, ``EMAIL_TIMEOUT``, ``DEFAULT_FROM_EMAIL``.
    """
    return {
        "EMAIL_BACKEND": env.str(
            "EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend"
        ),
        "EMAIL_HOST": env.str("EMAIL_HOST", default="localhost"),
        "EMAIL_PORT": env.int("EMAIL_PORT", default=587),
        "EMAIL_HOST_USER": env.str("EMAIL_HOST_USER", default=""),
        "EMAIL_HOST_PASSWORD": env.str("EMAIL_HOST_PASSWORD", default=""),
        "EMAIL_USE_TLS": env.bool("EMAIL_USE_TLS", default=True),
        "EMAIL_TIMEOUT": env.int("EMAIL_TIMEOUT", default=10),
        "DEFAULT_FROM_EMAIL": env.str(
            "DEFAULT_FROM_EMAIL", default="Shop <no-reply@shop.example.com>"
        ),
    }
