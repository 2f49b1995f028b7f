"""Announce the catalog: one ``product.changed`` event per product.

    python manage.py publish_products          # active products
    python manage.py publish_products --all    # inactive ones too

For a consumer that starts after the products were created (orders' read model of products,
a new service), or one that lost its copy: it receives the current state of every product,
and keeps the newest by ``updated_at`` as usual, so running it again or alongside normal
traffic is harmless. Products are read in id order in batches (``--batch``); each batch's
outbox rows are written in one transaction with one bulk INSERT (catalog.events.
product_changed_outbox_bulk) and sent by the outbox sweep (Celery beat), so the worker's
beat must be running for the events to leave.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from catalog.events import product_changed_outbox_bulk
from catalog.models import Product


class Command(BaseCommand):
    help = "Publish product.changed for every active product (--all: every product)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--all", action="store_true", help="Inactive products too (consumers learn they left)."
        )
        parser.add_argument("--batch", type=int, default=1000, help="Products per transaction.")

    def handle(self, *args: Any, **options: Any) -> None:
        fields = ("sku", "name", "price", "currency", "is_active", "updated_at")
        products = Product.objects.only(*fields).order_by("pk")
        if not options["all"]:
            products = products.filter(is_active=True)
        batch, last, total = max(1, options["batch"]), 0, 0
        while True:
            with transaction.atomic():
                page = list(products.filter(pk__gt=last)[:batch])
                if not page:
                    break
                product_changed_outbox_bulk(page)
            last, total = page[-1].pk, total + len(page)
        self.stdout.write(f"published product.changed for {total} products")
