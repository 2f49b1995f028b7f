"""gunicorn settings: the chassis's, overridable through GUNICORN_* environment variables."""

from chassis.gunicorn_conf import gunicorn_settings

globals().update(gunicorn_settings("orders"))
