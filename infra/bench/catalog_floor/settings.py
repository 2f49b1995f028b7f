"""catalog-service's own settings (config.settings), with the floor's URLs added.

Served by the same gunicorn process as the real endpoints, so middleware, database settings
(connection reuse included) and workers are identical for both.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "catalog_floor.urls"
