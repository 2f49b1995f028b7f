"""The framework's floor for infra/bench/catalog_scale.py: catalog-service's settings and URLs
plus ``/floor/products/`` and ``/floor/products/<id>``, minimal hand-written Django views
(no DRF) running the same queries as the real endpoints and returning the same JSON."""
